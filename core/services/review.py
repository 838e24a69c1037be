"""Following applications through CA review: pulling provider state, status views, exports."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import CertopsError, NotFound
from core.model import Application, Instance, InstanceStatus, ProviderApplication, Stage, StageChange
from core.ports import UnitOfWork
from core.services.combine import reconcile_handovers
from core.services.context import Ports
from core.services.instances import get_instance

REVIEW_WINDOW_BUSINESS_DAYS = (3, 7)  # V1, OV/EV


@dataclass(frozen=True)
class StatusView:
    instance: Instance
    application: Application | None
    business_days_elapsed: int | None


@dataclass
class SyncResult:
    instances_updated: list[str] = field(default_factory=list)
    applications_updated: list[str] = field(default_factory=list)
    combinations_found: list[str] = field(default_factory=list)  # handed-over combinations now done
    stage_changes: list[tuple[str, Stage, Stage]] = field(default_factory=list)  # (application, from, to)


def status(ports: Ports, instance_id: str) -> StatusView:
    with ports.unit_of_work(read_only=True) as uow:
        instance = get_instance(uow, instance_id)
        application = uow.applications.latest_for_instance(instance_id)
    elapsed = None
    if application is not None:
        end = application.stage_history[-1].at if not application.in_progress else ports.clock.now()
        elapsed = ports.calendar.business_days_between(application.submitted_at, end)
    return StatusView(instance=instance, application=application, business_days_elapsed=elapsed)


def sync(ports: Ports) -> SyncResult:
    """Pull the provider's instances and application states into the store; record every stage change."""
    result = SyncResult()
    with ports.unit_of_work() as uow:
        for remote in ports.provider.list_instances():
            stored = uow.instances.get(remote.id)
            merged = remote if stored is None else keep_combination(stored, remote)
            if stored != merged:
                uow.instances.put(merged)
                result.instances_updated.append(remote.id)
        result.combinations_found = reconcile_handovers(ports, uow)
        for application in uow.applications.list(in_progress=True):
            remote_app = ports.provider.application(application.instance_id)
            if remote_app is not None:
                _apply_remote(ports, uow, application, remote_app, result)
        if result.instances_updated or result.applications_updated or result.combinations_found:
            uow.commit()
    return result


def keep_combination(stored: Instance, remote: Instance) -> Instance:
    """A provider that does not report combinations (CAS) must not erase the ones certops recorded."""
    update: dict[str, object] = {}
    if stored.merged_into and not remote.merged_into:
        update |= {"status": InstanceStatus.COMBINED, "merged_into": stored.merged_into, "refundable": False}
    if stored.merged_from and not remote.merged_from:
        update |= {"merged_from": stored.merged_from, "refundable": False}
    return remote.model_copy(update=update) if update else remote


def _apply_remote(
    ports: Ports, uow: UnitOfWork, application: Application, remote: ProviderApplication, result: SyncResult
) -> None:
    now = ports.clock.now()
    history = list(application.stage_history)
    if remote.stage is not application.stage:
        history.append(StageChange(stage=remote.stage, at=now))
        result.stage_changes.append((application.id, application.stage, remote.stage))
        ports.audit.append(
            at=now,
            actor=f"provider:{ports.provider.name}",
            action="application.stage",
            subject=application.instance_id,
            details={
                "application": application.id,
                "from": application.stage.value,
                "to": remote.stage.value,
                "reason": remote.rejection_reason,
            },
        )
    changes = {
        "stage": remote.stage,
        "stage_history": history,
        "domain_checks": remote.domain_checks,
        "org_checks": remote.org_checks,
        "rejection_reason": remote.rejection_reason,
        "certificate": remote.certificate,
    }
    if any(getattr(application, name) != value for name, value in changes.items()):
        uow.applications.put(application.model_copy(update={**changes, "synced_at": now}))
        result.applications_updated.append(application.id)


@dataclass(frozen=True)
class ExportFile:
    name: str
    content: bytes
    mode: int


def export_bundle(ports: Ports, instance_id: str) -> list[ExportFile]:
    """The issued certificate as PEM files; the private key only where certops generated it."""
    with ports.unit_of_work(read_only=True) as uow:
        get_instance(uow, instance_id)
        application = uow.applications.latest_for_instance(instance_id)
    if application is None:
        raise NotFound(f"instance {instance_id} has no application yet: apply with `certops apply {instance_id}`")
    certificate = application.certificate
    if certificate is None:
        raise CertopsError(
            f"instance {instance_id} has no issued certificate yet (stage: {application.stage.value}); "
            f"`certops status {instance_id}` says what is still open"
        )
    files = [
        ExportFile("cert.pem", certificate.cert_pem.encode(), 0o644),
        ExportFile("chain.pem", certificate.chain_pem.encode(), 0o644),
        ExportFile("fullchain.pem", (certificate.cert_pem + certificate.chain_pem).encode(), 0o644),
    ]
    if application.key_generated:
        key = ports.keys.private_key_pem(application.id)
        if key is None:
            raise CertopsError(f"the private key of {application.id} is missing from the key store")
        files.append(ExportFile("privkey.pem", key, 0o600))
    return files
