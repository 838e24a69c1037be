"""V6: the issued certificate installed on every web server that serves one of its domains.

A person marks a domain installed; a TLS handshake with each host checks it. Checks are recorded on the
application's deployment rows, one per bound domain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from core.errors import CertopsError, InvalidInput, NotFound
from core.model import Application, DeployCheck, Deployment, DomainName, IssuedCertificate
from core.ports import TlsProber
from core.rules.deploy import check_served, trust_anchor_pem
from core.rules.domains import parse_domain
from core.services.context import Ports, require_actor
from core.services.instances import get_instance

MAX_PARALLEL_PROBES = 8


def verify_deployment(
    ports: Ports, prober: TlsProber, instance_id: str, targets: Mapping[str, tuple[str, int]]
) -> list[DeployCheck]:
    """Handshake with each target host and record what it serves; one check per target, in the given order.

    Raises NotFound (no such instance or no application), CertopsError (nothing issued yet) and InvalidInput
    (no targets, or a domain the certificate does not carry)."""
    application, certificate = _issued(ports, instance_id)
    resolved = _resolve_targets(application, targets)
    trust = _trust_anchor(application, certificate)

    def check(domain: str, address: tuple[str, int]) -> DeployCheck:
        host, port = address
        served, chain_valid, error = prober.probe(host, port, domain, trust)
        at = ports.clock.now()
        return check_served(
            domain, host, port, certificate, served, chain_valid, error, at, instance_id=application.instance_id
        )

    # Probes run before the unit of work: a slow host must not hold the store's write lock.
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_PROBES, len(resolved))) as pool:
        checks = list(pool.map(check, resolved.keys(), resolved.values()))
    _record_checks(ports, application.id, checks)
    return checks


def mark_installed(ports: Ports, application_id: str, domain: str, actor: str) -> Application:
    """A person says the certificate is installed for a domain. The first mark stands; later ones change nothing."""
    actor = require_actor(actor)
    with ports.unit_of_work() as uow:
        application = uow.applications.get(application_id)
        if application is None:
            raise NotFound(f"no application {application_id}")
        if application.certificate is None:
            raise CertopsError(_not_issued(application))
        name = bound_domain(application, domain)
        rows = deployment_rows(application)
        at = next(i for i, row in enumerate(rows) if row.domain == name.ascii)
        if rows[at].installed_by is not None:
            return application
        now = ports.clock.now()
        rows[at] = rows[at].model_copy(update={"installed_by": actor, "installed_at": now})
        ports.audit.append(
            at=now,
            actor=actor,
            action="deploy.installed",
            subject=application.instance_id,
            details={"application": application.id, "domain": name.ascii, "serial": application.certificate.serial},
        )
        application = application.model_copy(update={"deployments": rows})
        uow.applications.put(application)
        uow.commit()
    return application


def deployment_rows(application: Application) -> list[Deployment]:
    """One row per bound domain, in bound order: the recorded row where there is one, else an empty one."""
    recorded = {row.domain.lower(): row for row in application.deployments}
    return [recorded.get(name.ascii.lower()) or Deployment(domain=name.ascii) for name in application.domains]


def bound_domain(application: Application, domain: str) -> DomainName:
    """The bound domain a typed name means (either spelling of an internationalised name). Raises InvalidInput."""
    parsed = parse_domain(domain)
    key = parsed.ascii if isinstance(parsed, DomainName) else domain.strip().lower()
    for name in application.domains:
        if name.ascii.lower() == key.lower():
            return name
    bound = ", ".join(str(name) for name in application.domains)
    raise InvalidInput(f"{domain.strip()} is not a domain of application {application.id}; its domains are: {bound}")


def _issued(ports: Ports, instance_id: str) -> tuple[Application, IssuedCertificate]:
    with ports.unit_of_work(read_only=True) as uow:
        get_instance(uow, instance_id)
        application = uow.applications.latest_for_instance(instance_id)
    if application is None:
        raise NotFound(f"instance {instance_id} has no application yet: apply with `certops apply {instance_id}`")
    if application.certificate is None:
        raise CertopsError(_not_issued(application))
    return application, application.certificate


def _not_issued(application: Application) -> str:
    return (
        f"instance {application.instance_id} has no issued certificate to install yet (application "
        f"{application.id} is at stage {application.stage.value}); "
        f"`certops status {application.instance_id}` says what is still open"
    )


def _resolve_targets(application: Application, targets: Mapping[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    if not targets:
        raise InvalidInput("name at least one host to check, as DOMAIN=HOST:PORT")
    resolved: dict[str, tuple[str, int]] = {}
    for domain, address in targets.items():
        name = bound_domain(application, domain)
        if name.ascii in resolved:
            raise InvalidInput(f"{name} is given twice (once as {domain}); give each domain one host")
        resolved[name.ascii] = address
    return resolved


def _trust_anchor(application: Application, certificate: IssuedCertificate) -> str:
    try:
        return trust_anchor_pem(certificate.chain_pem)
    except ValueError as exc:
        raise CertopsError(
            f"the issued certificate of {application.id} has no readable chain ({exc}); run `certops sync`"
        ) from exc


def _record_checks(ports: Ports, application_id: str, checks: Sequence[DeployCheck]) -> None:
    latest = {check.domain: check for check in checks}
    with ports.unit_of_work() as uow:
        application = uow.applications.get(application_id)
        if application is None:
            raise NotFound(f"application {application_id} disappeared from the store while its hosts were checked")
        rows = [
            row.model_copy(update={"last_check": latest[row.domain]}) if row.domain in latest else row
            for row in deployment_rows(application)
        ]
        uow.applications.put(application.model_copy(update={"deployments": rows}))
        uow.commit()
