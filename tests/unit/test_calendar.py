"""Business days and working hours (rule V1, core/calendar.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from core.calendar import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return BusinessCalendar("Asia/Shanghai", "CN")


@pytest.fixture(scope="module")
def de() -> BusinessCalendar:
    return BusinessCalendar("Europe/Berlin", "DE")


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2026, 3, 6), True),  # Friday
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 7), False),  # Golden Week day off
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), False),  # a make-up working Saturday, deliberately not a business day
        (date(2026, 5, 14), True),  # Ascension Day is no holiday in China
    ],
)
def test_cn_business_days(cn: BusinessCalendar, day: date, business: bool) -> None:
    assert cn.is_business_day(day) is business


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2026, 5, 14), False),  # Ascension Day
        (date(2026, 12, 25), False),  # Christmas Day
        (date(2026, 10, 1), True),  # Chinese National Day is a working day in Germany
        (date(2026, 10, 3), False),  # German Unity Day, a Saturday anyway
    ],
)
def test_de_business_days(de: BusinessCalendar, day: date, business: bool) -> None:
    assert de.is_business_day(day) is business


def test_local_converts_to_the_configured_zone_and_refuses_naive_datetimes(cn: BusinessCalendar) -> None:
    assert cn.local(utc(2026, 3, 5, 17, 30)) == shanghai(2026, 3, 6, 1, 30)
    assert cn.local(utc(2026, 3, 5, 17, 30)).tzinfo == SHANGHAI
    with pytest.raises(ValueError, match="naive"):
        cn.local(datetime(2026, 3, 5, 17, 30))


def test_a_late_evening_utc_submission_counts_from_the_next_shanghai_day(cn: BusinessCalendar) -> None:
    # Thursday 17:00 UTC is already Friday 01:00 in Shanghai.
    submitted = utc(2026, 3, 5, 17, 0)
    assert cn.add_business_days(submitted, 1) == shanghai(2026, 3, 9, 1, 0).astimezone(UTC)
    assert cn.business_days_between(submitted, utc(2026, 3, 6, 15, 0)) == 0  # Friday 23:00 in Shanghai
    assert cn.business_days_between(submitted, utc(2026, 3, 8, 17, 0)) == 1  # Monday 01:00 in Shanghai


def test_business_days_between_counts_days_after_the_start_up_to_the_end(cn: BusinessCalendar) -> None:
    monday = shanghai(2026, 3, 2, 10, 0)
    assert cn.business_days_between(monday, monday + timedelta(hours=5)) == 0
    assert cn.business_days_between(monday, shanghai(2026, 3, 3, 9, 0)) == 1
    assert cn.business_days_between(monday, shanghai(2026, 3, 9, 9, 0)) == 5
    assert cn.business_days_between(monday, monday - timedelta(days=3)) == 0
    assert cn.business_days_between(monday, monday) == 0


def test_business_days_between_skips_golden_week(cn: BusinessCalendar) -> None:
    # Wednesday 30 September to Friday 9 October 2026: only 8 and 9 October are business days.
    assert cn.business_days_between(shanghai(2026, 9, 30, 12, 0), shanghai(2026, 10, 9, 12, 0)) == 2


def test_add_business_days_keeps_the_local_wall_clock_time_and_returns_utc(cn: BusinessCalendar) -> None:
    friday = shanghai(2026, 3, 6, 15, 45)
    result = cn.add_business_days(friday, 3)
    assert result == shanghai(2026, 3, 11, 15, 45)
    assert result.utcoffset() == timedelta(0)
    assert cn.add_business_days(friday, 0) == friday
    with pytest.raises(ValueError, match="negative"):
        cn.add_business_days(friday, -1)


def test_add_business_days_over_a_holiday(cn: BusinessCalendar, de: BusinessCalendar) -> None:
    assert cn.add_business_days(shanghai(2026, 9, 30, 10, 0), 1) == shanghai(2026, 10, 8, 10, 0)
    wednesday = datetime(2026, 5, 13, 10, 0, tzinfo=BERLIN)
    assert de.add_business_days(wednesday, 1) == datetime(2026, 5, 15, 10, 0, tzinfo=BERLIN)


def test_add_business_days_across_a_dst_change_keeps_the_wall_clock(de: BusinessCalendar) -> None:
    friday = datetime(2026, 3, 27, 9, 30, tzinfo=BERLIN)  # CET; clocks go forward on Sunday 29 March
    result = de.add_business_days(friday, 1)
    assert result.astimezone(BERLIN).time() == time(9, 30)
    assert result == utc(2026, 3, 30, 7, 30)


@pytest.mark.parametrize(
    ("at", "working"),
    [
        (shanghai(2026, 3, 4, 9, 0), True),
        (shanghai(2026, 3, 4, 17, 59), True),
        (shanghai(2026, 3, 4, 18, 0), False),
        (shanghai(2026, 3, 4, 8, 59), False),
        (shanghai(2026, 3, 7, 11, 0), False),  # Saturday
        (shanghai(2026, 10, 1, 11, 0), False),  # National Day
        (utc(2026, 3, 4, 2, 0), True),  # 10:00 in Shanghai
    ],
)
def test_is_working_time(cn: BusinessCalendar, at: datetime, working: bool) -> None:
    assert cn.is_working_time(at) is working


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (shanghai(2026, 3, 4, 10, 0), shanghai(2026, 3, 4, 10, 0)),  # working time: unchanged
        (shanghai(2026, 3, 4, 7, 0), shanghai(2026, 3, 4, 9, 0)),  # early morning: same day
        (shanghai(2026, 3, 4, 22, 0), shanghai(2026, 3, 5, 9, 0)),  # at night: next morning
        (shanghai(2026, 3, 6, 19, 0), shanghai(2026, 3, 9, 9, 0)),  # Friday evening: Monday
        (shanghai(2026, 10, 1, 10, 0), shanghai(2026, 10, 8, 9, 0)),  # on a holiday: after Golden Week
        (utc(2026, 3, 4, 20, 0), shanghai(2026, 3, 5, 9, 0)),  # 04:00 Thursday in Shanghai
    ],
)
def test_next_working_moment(cn: BusinessCalendar, at: datetime, expected: datetime) -> None:
    result = cn.next_working_moment(at)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


def test_working_hours_are_configurable() -> None:
    calendar = BusinessCalendar("Europe/Berlin", "de", workday_start=time(8), workday_end=time(12))
    assert calendar.is_working_time(datetime(2026, 3, 4, 8, 0, tzinfo=BERLIN))
    assert not calendar.is_working_time(datetime(2026, 3, 4, 12, 0, tzinfo=BERLIN))
    assert calendar.next_working_moment(datetime(2026, 3, 4, 13, 0, tzinfo=BERLIN)) == datetime(
        2026, 3, 5, 8, 0, tzinfo=BERLIN
    )


def test_other_aware_timezones_are_accepted(cn: BusinessCalendar) -> None:
    new_york_evening = datetime(2026, 3, 3, 21, 0, tzinfo=timezone(timedelta(hours=-5)))  # 10:00 Wed in Shanghai
    assert cn.is_working_time(new_york_evening)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus", "country": "CN"}, "time zone"),
        ({"timezone": "Asia/Shanghai", "country": "XX"}, "country"),
        (
            {"timezone": "Asia/Shanghai", "country": "CN", "workday_start": time(18), "workday_end": time(9)},
            "before",
        ),
    ],
)
def test_a_misconfigured_calendar_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]
