"""What happened in a report's period: applications submitted, issued, rejected; combinations made."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from core.calendar import BusinessCalendar
from core.model import Application, Combination, Stage
from core.reports.period import Period


@dataclass(frozen=True)
class Activity:
    """What happened in the period: applications submitted, issued, rejected; combinations made."""

    submitted: int = 0
    issued: int = 0
    rejected: int = 0
    combined: int = 0


def count_activity(
    applications: Iterable[Application], combinations: Iterable[Combination], calendar: BusinessCalendar, period: Period
) -> Activity:
    def inside(at: datetime) -> bool:
        return at <= period.as_of and period.contains(calendar.local(at).date())

    submitted = issued = rejected = 0
    for application in applications:
        submitted += inside(application.submitted_at)
        for change in application.stage_history:
            if inside(change.at):
                issued += change.stage is Stage.ISSUED
                rejected += change.stage is Stage.REJECTED
    combined = sum(inside(c.at) for c in combinations)
    return Activity(submitted=submitted, issued=issued, rejected=rejected, combined=combined)
