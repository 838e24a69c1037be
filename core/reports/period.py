"""The period a report covers, from its --since, --until and --as-of parameters.

`as_of` is an instant (UTC); `since` and `until` are local days in the calendar's time zone, both included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.calendar import BusinessCalendar
from core.errors import InvalidInput


def parse_day(text: str | None, what: str) -> date | None:
    """A local day such as 2026-12-07; empty means none. Raises InvalidInput naming `what` (e.g. "--since")."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{what} {text!r} is not a day such as 2026-12-07") from exc


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last microsecond of local `day`, in UTC."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return (next_midnight - timedelta(microseconds=1)).astimezone(UTC)


def parse_instant(text: str | None, zone: tzinfo, what: str = "--as-of") -> datetime | None:
    """An ISO-8601 time (without an offset: local to `zone`) or a day (its end, local to `zone`), in UTC."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        return end_of_day(date.fromisoformat(text), zone)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} {text!r} is not a day or a time such as 2026-12-07T18:00:00+08:00") from exc
    return (at if at.tzinfo is not None else at.replace(tzinfo=zone)).astimezone(UTC)


def resolve_as_of(as_of: str | None, until: str | None, zone: tzinfo, now: datetime) -> datetime:
    """The instant a report is taken at: `as_of` when given, else the end of `until` (never later than now),
    else now."""
    explicit = parse_instant(as_of, zone)
    if explicit is not None:
        return explicit
    last_day = parse_day(until, "--until")
    if last_day is not None:
        return min(end_of_day(last_day, zone), now.astimezone(UTC))
    return now.astimezone(UTC)


@dataclass(frozen=True)
class Period:
    as_of: datetime  # UTC
    since: date | None  # first local day included; None: from the beginning
    until: date  # last local day included

    def contains(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and day <= self.until


def report_period(calendar: BusinessCalendar, as_of: datetime, *, since: date | None, until: date | None) -> Period:
    """The period ends at `until`, or as_of's local day if that is earlier (a report does not see the future)."""
    last = calendar.local(as_of).date()
    until = last if until is None else min(until, last)
    if since is not None and since > until:
        raise InvalidInput(f"the period is empty: --since {since} is after --until {until} (or after --as-of)")
    return Period(as_of=as_of.astimezone(UTC), since=since, until=until)
