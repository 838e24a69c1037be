"""Builds the core's ports from settings: the one place that chooses adapters."""

from __future__ import annotations

from datetime import time

from core.adapters.audit_log import JsonlAuditLog
from core.adapters.clock import SystemClock
from core.adapters.key_vault import FileKeyVault
from core.adapters.sandbox_ca import SandboxCA
from core.adapters.tinydb_store import TinyDBUnitOfWork
from core.calendar import BusinessCalendar
from core.config import Settings
from core.ports import Clock, UnitOfWork
from core.rules.review import ReviewPolicy, parse_escalations
from core.services.context import Ports


def sandbox_ca(settings: Settings, clock: Clock) -> SandboxCA:
    return SandboxCA(settings.data_dir / "sandbox-ca", clock)


def calendar(settings: Settings) -> BusinessCalendar:
    start, _, end = settings.working_hours.partition("-")
    return BusinessCalendar(
        settings.timezone,
        settings.holidays,
        workday_start=time.fromisoformat(start),
        workday_end=time.fromisoformat(end),
    )


def review_policy(settings: Settings) -> ReviewPolicy:
    return ReviewPolicy(
        escalations=parse_escalations(settings.escalation, settings.channel), support_route=settings.support_route
    )


def build_ports(settings: Settings, clock: Clock | None = None) -> Ports:
    clock = clock or SystemClock()

    def unit_of_work(read_only: bool = False) -> UnitOfWork:
        return TinyDBUnitOfWork(settings.data_dir, read_only=read_only)

    return Ports(
        unit_of_work=unit_of_work,
        provider=sandbox_ca(settings, clock),
        audit=JsonlAuditLog(settings.data_dir),
        clock=clock,
        keys=FileKeyVault(settings.data_dir / "keys"),
        calendar=calendar(settings),
    )
