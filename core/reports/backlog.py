"""The backlog: instances waiting for an application, in review, rejected, what could be combined today, and what
happened in the period."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from core.calendar import BusinessCalendar
from core.model import Application, CertType, Combination, Instance, InstanceStatus, Stage
from core.reports.activity import Activity, count_activity
from core.reports.business_days import BusinessDaysTo
from core.reports.filters import Filters
from core.reports.opportunities import Opportunity, combination_opportunities
from core.reports.period import Period, report_period
from core.reports.review_rows import ReviewRow, review_row
from core.services.context import Ports

REVIEW_STAGES = (Stage.DOMAIN_VERIFICATION, Stage.ORGANISATION_VERIFICATION, Stage.CA_REVIEW)
AGE_BUCKETS = ((0, 2), (3, 7), (8, 20), (21, 60))  # business days; anything above the last is "> 60"


@dataclass(frozen=True)
class Waiting:
    """An instance in pending application. It has no purchase date in general, so its wait counts from its
    service start when the provider reported one, and is unknown otherwise."""

    instance: Instance
    business_days: int | None


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    count: int
    before_window: int
    in_window: int
    overdue: int
    median_days: float | None
    max_days: int | None


@dataclass(frozen=True)
class Backlog:
    period: Period
    filters: Filters
    instances: int
    by_status: dict[str, int]
    by_brand: dict[str, int]
    by_type: dict[str, int]
    waiting: list[Waiting]  # longest wait first, unknown last
    in_review: list[ReviewRow]  # longest in review first
    rejected: list[ReviewRow]
    opportunities: list[Opportunity]  # most applications saved first
    activity: Activity

    @property
    def stalled(self) -> list[ReviewRow]:
        return [r for r in self.in_review if r.stalled] + self.rejected

    @property
    def escalated(self) -> list[ReviewRow]:
        return [r for r in [*self.in_review, *self.rejected] if r.escalated]

    def stages(self) -> list[StageRow]:
        rows = []
        for stage in REVIEW_STAGES:
            members = [r for r in self.in_review if r.application.stage is stage]
            states = Counter(r.state for r in members)
            days = [r.business_days for r in members]
            rows.append(
                StageRow(
                    stage=stage,
                    count=len(members),
                    before_window=states["before window"],
                    in_window=states["in window"],
                    overdue=states["overdue"],
                    median_days=statistics.median(days) if days else None,
                    max_days=max(days, default=None),
                )
            )
        return rows

    def waiting_ages(self) -> list[tuple[str, int]]:
        """How many pending instances waited how long (business days), in buckets; unknown last."""
        labels = [f"{low}–{high}" for low, high in AGE_BUCKETS] + [f"> {AGE_BUCKETS[-1][1]}", "unknown"]
        counts = Counter(_age_bucket(w.business_days) for w in self.waiting)
        return [(label, counts.get(index, 0)) for index, label in enumerate(labels)]


def _age_bucket(days: int | None) -> int:
    if days is None:
        return len(AGE_BUCKETS) + 1
    return next((n for n, (_, high) in enumerate(AGE_BUCKETS) if days <= high), len(AGE_BUCKETS))


def _counts_by_brand(instances: Sequence[Instance]) -> dict[str, int]:
    spelling: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for instance in instances:
        key = instance.brand.casefold()
        spelling.setdefault(key, instance.brand)
        counts[key] += 1
    return {spelling[key]: n for key, n in counts.most_common()}


def build_backlog(
    instances: Sequence[Instance],
    applications: Sequence[Application],
    combinations: Sequence[Combination],
    *,
    calendar: BusinessCalendar,
    period: Period,
    filters: Filters,
) -> Backlog:
    chosen = [i for i in instances if filters.matches(i.brand, i.cert_type)]
    by_id = {i.id: i for i in chosen}
    days = BusinessDaysTo(calendar, period.as_of)
    latest: dict[str, Application] = {}
    for application in sorted(applications, key=lambda a: (a.submitted_at, a.id)):
        if application.instance_id in by_id:
            latest[application.instance_id] = application
    in_review, rejected = [], []
    for instance_id, application in latest.items():
        instance = by_id[instance_id]
        if application.in_progress:
            in_review.append(review_row(application, instance, days))
        elif application.stage is Stage.REJECTED and instance.status is InstanceStatus.VALIDATION_FAILED:
            rejected.append(review_row(application, instance, days))
    waiting = [
        Waiting(instance=i, business_days=None if i.service_start is None else days.since_day(i.service_start))
        for i in chosen
        if i.status is InstanceStatus.PENDING_APPLICATION
    ]
    statuses = Counter(i.status for i in chosen)
    types = Counter(i.cert_type for i in chosen)
    return Backlog(
        period=period,
        filters=filters,
        instances=len(chosen),
        by_status={s.value: statuses.get(s, 0) for s in InstanceStatus},
        by_brand=_counts_by_brand(chosen),
        by_type={t.value: types.get(t, 0) for t in CertType},
        waiting=sorted(waiting, key=lambda w: (w.business_days is None, -(w.business_days or 0), w.instance.id)),
        in_review=sorted(in_review, key=lambda r: (-r.business_days, r.application.id)),
        rejected=sorted(rejected, key=lambda r: (-r.business_days, r.application.id)),
        opportunities=combination_opportunities(chosen),
        activity=count_activity(
            [a for a in applications if a.instance_id in by_id],
            [c for c in combinations if filters.matches(c.brand, c.cert_type)],
            calendar,
            period,
        ),
    )


def load_backlog(
    ports: Ports, *, since: date | None = None, until: date | None = None, filters: Filters | None = None
) -> Backlog:
    """The backlog as of the clock's now; `since` / `until` bound only the period's activity counts."""
    filters = filters or Filters()
    period = report_period(ports.calendar, ports.clock.now(), since=since, until=until)
    with ports.unit_of_work(read_only=True) as uow:
        instances = uow.instances.list()
        applications = uow.applications.list()
        combinations = uow.combinations.list()
    return build_backlog(instances, applications, combinations, calendar=ports.calendar, period=period, filters=filters)
