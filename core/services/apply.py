"""Applying for a certificate on an instance (A1–A10): validate everything, then submit once."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import NotFound, RuleViolation
from core.model import (
    Application,
    ApplicationRequest,
    ChatThread,
    DomainName,
    Instance,
    InstanceStatus,
    ProviderApplication,
    Stage,
    StageChange,
)
from core.ports import UnitOfWork
from core.rules.domains import application_reasons
from core.services.context import Ports, require_actor
from core.services.instances import get_instance


def apply(ports: Ports, request: ApplicationRequest, actor: str, *, request_key: str | None = None) -> Application:
    """Submit an application once. With a request key (a chat dialog's submission), repeating the same
    submission returns the application it created instead of refusing it under A8."""
    actor = require_actor(actor)
    with ports.unit_of_work() as uow:
        instance = get_instance(uow, request.instance_id)
        latest = uow.applications.latest_for_instance(instance.id)
        if request_key is not None and latest is not None and latest.request_key == request_key:
            return latest
        names = _checked_names(uow, instance, request)
        application_id = _next_application_id(uow, instance.id)
        csr_pem, generated = _csr_for(ports, request, application_id, names)
        submitted = _submit_once(ports, request, names, csr_pem)
        now = ports.clock.now()
        application = Application(
            id=application_id,
            instance_id=instance.id,
            domains=names,
            company=request.company,
            contact=request.contact,
            validation_method=request.validation_method,
            key_algorithm=request.key_algorithm,
            csr_pem=csr_pem,
            key_generated=generated,
            validity_years=request.validity_years,
            actor=actor,
            submitted_at=now,
            stage=submitted.stage,
            stage_history=[StageChange(stage=submitted.stage, at=now)],
            domain_checks=submitted.domain_checks,
            org_checks=submitted.org_checks,
            synced_at=now,
            request_key=request_key,
        )
        ports.audit.append(
            at=now,
            actor=actor,
            action="apply",
            subject=instance.id,
            details={
                "application": application_id,
                "domains": [n.ascii for n in names],
                "validation_method": request.validation_method.value,
                "key_algorithm": request.key_algorithm.value,
                "csr": "generated" if generated else "uploaded",
            },
        )
        uow.applications.put(application)
        uow.instances.put(instance.model_copy(update={"status": InstanceStatus.REVIEWING}))
        uow.commit()
    return application


def record_thread(ports: Ports, application_id: str, thread: ChatThread) -> Application:
    """Remember where the application's chat conversation lives (the first post wins)."""
    with ports.unit_of_work() as uow:
        application = uow.applications.get(application_id)
        if application is None:
            raise NotFound(f"no application {application_id}")
        if application.thread is None:
            application = application.model_copy(update={"thread": thread})
            uow.applications.put(application)
            uow.commit()
        return application


def _checked_names(uow: UnitOfWork, instance: Instance, request: ApplicationRequest) -> list[DomainName]:
    latest = uow.applications.latest_for_instance(instance.id)
    open_application = latest if latest is not None and latest.in_progress else None
    names, reasons = application_reasons(instance, request, open_application)
    if reasons:
        raise RuleViolation(reasons, headline=f"application for {instance.id} not submitted")
    return names


def _next_application_id(uow: UnitOfWork, instance_id: str) -> str:
    latest = uow.applications.latest_for_instance(instance_id)
    attempt = 1 if latest is None else int(latest.id.rsplit("-a", 1)[1]) + 1
    return f"{instance_id}-a{attempt}"


def _csr_for(
    ports: Ports, request: ApplicationRequest, application_id: str, names: Sequence[DomainName]
) -> tuple[str, bool]:
    if request.csr_pem:
        return request.csr_pem, False
    return ports.keys.create_key_and_csr(application_id, request.key_algorithm, names), True


def _submit_once(
    ports: Ports, request: ApplicationRequest, names: Sequence[DomainName], csr_pem: str
) -> ProviderApplication:
    """Submit, unless an earlier attempt reached the CA and crashed before it was recorded: then adopt it."""
    reached = ports.provider.application(request.instance_id)
    if reached is not None and _same_attempt(reached, names):
        return reached
    return ports.provider.submit(request, names, csr_pem)


def _same_attempt(reached: ProviderApplication, names: Sequence[DomainName]) -> bool:
    in_progress = reached.stage not in (Stage.ISSUED, Stage.REJECTED)
    return in_progress and {c.domain for c in reached.domain_checks} == {n.ascii for n in names}
