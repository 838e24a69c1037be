"""Fixtures shared by every test suite: a clock that tests move by hand, and valid instances on demand."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from core.adapters.clock import FixedClock
from core.model import Instance
from tests.factories import make_instance

START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

InstanceFactory = Callable[..., Instance]


@pytest.fixture
def clock() -> FixedClock:
    """Stands at 2026-12-07T02:00Z until the test calls `advance(...)` or `set(...)`."""
    return FixedClock(START)


@pytest.fixture
def instance_factory() -> InstanceFactory:
    """`instance_factory(**overrides)`: a one-year DigiCert OV instance in pending application with one exact
    name, ids inst-001, inst-002, ... in call order; any Instance field can be overridden."""
    counter = itertools.count(1)

    def make(**overrides: object) -> Instance:
        number = next(counter)
        return make_instance(**{"id": f"inst-{number:03d}", "name": f"DigiCert OV {number}", **overrides})

    return make
