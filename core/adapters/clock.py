"""Clocks: the real one for entry points, a settable one for tests and `--now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a clock needs a timezone-aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime) -> None:
        self._at = _utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, **timedelta_kwargs: float) -> datetime:
        """Move by `timedelta(**timedelta_kwargs)` (negative values go back); returns the new now."""
        self._at += timedelta(**timedelta_kwargs)
        return self._at

    def set(self, at: datetime) -> datetime:
        self._at = _utc(at)
        return self._at
