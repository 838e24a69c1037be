"""Business days elapsed up to a report's as_of, counted once per calendar day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from core.calendar import BusinessCalendar


class BusinessDaysTo:
    """Business days from a local day (exclusive) up to as_of's local day (inclusive): the same count as
    `BusinessCalendar.business_days_between`, computed once per calendar day for thousands of rows."""

    def __init__(self, calendar: BusinessCalendar, as_of: datetime) -> None:
        self._calendar = calendar
        self._end = calendar.local(as_of).date()
        self._lowest = self._end
        self._running = 0
        self._counts: dict[date, int] = {self._end: 0}

    def since_day(self, day: date) -> int:
        if day >= self._end:
            return 0
        while self._lowest > day:  # extend the running count backwards, one day at a time, once
            self._running += self._calendar.is_business_day(self._lowest)
            self._lowest -= timedelta(days=1)
            self._counts[self._lowest] = self._running
        return self._counts[day]

    def since(self, at: datetime) -> int:
        return self.since_day(self._calendar.local(at).date())
