"""Business days and working hours for review deadlines and reminders (rule V1).

Pure computation: callers pass the instants in; nothing here reads the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

# A year has at most a few weeks of consecutive non-business days; this bounds every forward search.
_MAX_SEARCH_DAYS = 366


class BusinessCalendar:
    """Weekends and public holidays of one country, in one time zone, with a working day from
    `workday_start` to `workday_end` (local wall-clock time).

    Business days are Monday to Friday minus the country's public holidays (`holidays.country_holidays`).
    Make-up working days (China moves working days onto weekends around its long holidays) are *not* treated
    as business days: the calendar only ever has fewer business days than reality, so deadlines computed from
    it err on the late side and reminders never fire early.
    """

    def __init__(
        self,
        timezone: str,
        country: str,
        *,
        workday_start: time = time(9),
        workday_end: time = time(18),
    ) -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        try:
            holidays.country_holidays(country.upper())
        except NotImplementedError as exc:
            raise ValueError(f"no public-holiday calendar for country {country!r}") from exc
        if workday_start.tzinfo is not None or workday_end.tzinfo is not None:
            raise ValueError("workday_start and workday_end are local wall-clock times and take no tzinfo")
        if not workday_start < workday_end:
            raise ValueError(f"workday_start {workday_start} must be before workday_end {workday_end}")
        self._country = country.upper()
        self._workday_start = workday_start
        self._workday_end = workday_end
        self._holidays_by_year: dict[int, frozenset[date]] = {}

    @property
    def timezone(self) -> ZoneInfo:
        return self._zone

    def _holidays(self, year: int) -> frozenset[date]:
        days = self._holidays_by_year.get(year)
        if days is None:
            days = frozenset(holidays.country_holidays(self._country, years=year).keys())
            self._holidays_by_year[year] = days
        return days

    def is_business_day(self, day: date) -> bool:
        """Not a Saturday or Sunday and not a public holiday."""
        return day.weekday() < 5 and day not in self._holidays(day.year)

    def local(self, at: datetime) -> datetime:
        """`at` in the configured zone. Raises ValueError for a naive datetime (its instant is unknown)."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"a timezone-aware datetime is needed, got naive {at.isoformat()}")
        return at.astimezone(self._zone)

    def business_days_between(self, start: datetime, end: datetime) -> int:
        """Business days d with local(start).date() < d <= local(end).date(); 0 when end <= start."""
        first = self.local(start).date()
        last = self.local(end).date()
        if end <= start:
            return 0
        count = 0
        day = first + timedelta(days=1)
        while day <= last:
            count += self.is_business_day(day)
            day += timedelta(days=1)
        return count

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same local wall-clock time on the `days`-th business day after local(start)'s date, in UTC.

        `days` = 0 gives `start` itself. Raises ValueError for negative `days`.
        """
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        local_start = self.local(start)
        day = local_start.date()
        for _ in range(days):
            day = self._next_business_day(day)
        wall_clock = local_start.time()
        return datetime.combine(day, wall_clock, tzinfo=self._zone).astimezone(UTC)

    def is_working_time(self, at: datetime) -> bool:
        """A business day, and workday_start <= local time < workday_end."""
        local = self.local(at)
        return self.is_business_day(local.date()) and self._workday_start <= local.time() < self._workday_end

    def next_working_moment(self, at: datetime) -> datetime:
        """`at` (in UTC) if it is working time, else the start of the next working period, in UTC."""
        if self.is_working_time(at):
            return at.astimezone(UTC)
        local = self.local(at)
        day = local.date()
        if not (self.is_business_day(day) and local.time() < self._workday_start):
            day = self._next_business_day(day)
        return datetime.combine(day, self._workday_start, tzinfo=self._zone).astimezone(UTC)

    def _next_business_day(self, day: date) -> date:
        for offset in range(1, _MAX_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise ValueError(f"no business day within {_MAX_SEARCH_DAYS} days after {day}")  # pragma: no cover
