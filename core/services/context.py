"""The ports a service needs, bundled once by the entry point that wires the adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.calendar import BusinessCalendar
from core.errors import InvalidInput
from core.ports import AuditLog, CertificateProvider, Clock, KeyVault, UnitOfWork


@dataclass(frozen=True)
class Ports:
    unit_of_work: Callable[..., UnitOfWork]  # unit_of_work(read_only=True) for reads
    provider: CertificateProvider
    audit: AuditLog
    clock: Clock
    keys: KeyVault
    calendar: BusinessCalendar


def require_actor(actor: str) -> str:
    """Irreversible and auditable actions name the real person (a Slack user id, or the CLI's --actor)."""
    cleaned = actor.strip()
    if not cleaned:
        raise InvalidInput("an actor is required: say who does this (a Slack user id or a name, with --actor)")
    return cleaned
