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
from core.errors import InvalidInput
from core.ports import CertificateProvider, Clock, UnitOfWork
from core.rules.review import ReviewPolicy, parse_escalations
from core.services.context import Ports


def sandbox_ca(settings: Settings, clock: Clock) -> SandboxCA:
    return SandboxCA(settings.data_dir / "sandbox-ca", clock)


def sandbox_staff(settings: Settings, clock: Clock) -> SandboxCA:
    """The CA staff's side exists only for the embedded sandbox: a real CA verifies and rejects by itself."""
    if settings.provider != "sandbox":
        raise InvalidInput(
            f"`certops sandbox` acts for the embedded sandbox CA, but CERTOPS_PROVIDER is {settings.provider}: "
            "the real CA verifies and rejects by itself; `certops sync` picks up what it did"
        )
    return sandbox_ca(settings, clock)


def certificate_provider(settings: Settings, clock: Clock) -> CertificateProvider:
    if settings.provider == "alibaba":
        from core.adapters.alibaba_cas import AlibabaCasProvider, CasClientConfig, CasCompanyLocation

        secret = settings.cas_access_key_secret
        location = CasCompanyLocation(
            country_code=settings.cas_company_country,
            province=settings.cas_company_province,
            city=settings.cas_company_city,
            post_code=settings.cas_company_post_code,
            company_type=settings.cas_company_type,
            lang=settings.cas_company_lang,
        )
        config = CasClientConfig(
            access_key_id=settings.cas_access_key_id or "",
            access_key_secret=secret.get_secret_value() if secret else "",
            endpoint=settings.cas_endpoint,
            region_id=settings.cas_region,
            company=location,
        )
        return AlibabaCasProvider(config, clock)
    return sandbox_ca(settings, clock)


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
        provider=certificate_provider(settings, clock),
        audit=JsonlAuditLog(settings.data_dir),
        clock=clock,
        keys=FileKeyVault(settings.data_dir / "keys"),
        calendar=calendar(settings),
    )
