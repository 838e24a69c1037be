"""Counts per day, or per week for long periods: what the report charts plot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

WEEKLY_AFTER_DAYS = 92  # a period longer than this is charted per week, not per day


@dataclass(frozen=True)
class Series:
    """Counts per day, or per week (keyed by its Monday) for long periods."""

    unit: Literal["day", "week"]
    points: list[tuple[date, int]]


def count_series(days: Iterable[date], first: date, last: date) -> Series:
    """How many of `days` fall on each day (or week) from `first` to `last`, zeros included."""
    if last < first:
        first = last
    unit: Literal["day", "week"] = "week" if (last - first).days > WEEKLY_AFTER_DAYS else "day"

    def key(day: date) -> date:
        return day - timedelta(days=day.weekday()) if unit == "week" else day

    counts = Counter(key(day) for day in days if first <= day <= last)
    step = timedelta(days=7 if unit == "week" else 1)
    points: list[tuple[date, int]] = []
    current = key(first)
    while current <= last:
        points.append((current, counts.get(current, 0)))
        current += step
    return Series(unit=unit, points=points)
