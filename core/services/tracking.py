"""Following applications through CA review: one tick polls the provider, turns findings into notices, and
delivers what is due. Safe to repeat, to restart between ticks, and to run in two workers at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.errors import NotFound, NotifierError, ProviderError
from core.model import Acknowledgement, Application, DeployCheck, Instance, Notice, Stage
from core.ports import Notifier, TlsProber, UnitOfWork
from core.rules.review import Finding, ReviewPolicy, evaluate
from core.services.context import Ports, require_actor
from core.services.deploy import verify_deployment
from core.services.review import SyncResult, sync

CLAIM_FOR = timedelta(minutes=2)  # a worker that dies mid-send loses its claim after this
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
FOLLOWED_AFTER_ISSUE = timedelta(days=400)  # A10 reminders need issued applications followed for a while


@dataclass
class TickResult:
    synced: SyncResult | None = None
    provider_error: str | None = None
    queued: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


EVENT_KEYS_KEPT = timedelta(days=1)  # Slack redelivers an event within minutes; a day is ample


def tick(ports: Ports, notifier: Notifier, policy: ReviewPolicy, *, poll: bool = True) -> TickResult:
    result = TickResult()
    forget_old_event_keys(ports)
    if poll:
        try:
            result.synced = sync(ports)
        except (ProviderError, NotFound) as error:
            result.provider_error = str(error)  # findings and deliveries still go ahead on what is known
    result.queued = queue_findings(ports, policy)
    deliver(ports, notifier, result)
    return result


def forget_old_event_keys(ports: Ports) -> int:
    with ports.unit_of_work() as uow:
        dropped = uow.forget("event:", ports.clock.now() - EVENT_KEYS_KEPT)
        if dropped:
            uow.commit()
    return dropped


def _followed(application: Application, now: datetime) -> bool:
    if application.in_progress or application.stage is Stage.REJECTED:
        return True
    return application.certificate is not None and now < application.certificate.not_after + FOLLOWED_AFTER_ISSUE


def _notice(finding: Finding, application: Application, now: datetime) -> Notice:
    return Notice(
        key=finding.key,
        application_id=application.id,
        code=finding.code,
        message=finding.message,
        due_at=finding.due_at,
        created_at=now,
        level=finding.level,
        audience=finding.audience,
    )


def queue_findings(ports: Ports, policy: ReviewPolicy) -> list[str]:
    """Evaluate the rule chain for every followed application; each new finding becomes one notice."""
    now = ports.clock.now()
    queued: list[str] = []
    with ports.unit_of_work() as uow:
        for application in uow.applications.list():
            instance = uow.instances.get(application.instance_id)
            if instance is None or not _followed(application, now):
                continue
            findings = evaluate(application, instance, now, ports.calendar, policy)
            queued += [f.key for f in findings if uow.notices.add(_notice(f, application, now))]
            _raise_escalation_level(uow, application, findings)
        if queued:
            uow.commit()
    return queued


def _raise_escalation_level(uow: UnitOfWork, application: Application, findings: list[Finding]) -> None:
    level = max((f.level or 0 for f in findings if f.code == "V5"), default=0)
    if level > application.escalation_level:
        uow.applications.put(application.model_copy(update={"escalation_level": level}))


def still_applies(notice: Notice, application: Application) -> bool:
    """A nudge or an escalation that is no longer true when it is due is withdrawn instead of sent."""
    if notice.code == "V3":
        return application.in_progress
    if notice.code == "V5":
        return application.in_progress and application.acknowledged is None
    return True


def deliver(ports: Ports, notifier: Notifier, result: TickResult) -> None:
    for notice in _claim_due(ports, result):
        with ports.unit_of_work(read_only=True) as uow:
            application = uow.applications.get(notice.application_id)
            instance = None if application is None else uow.instances.get(application.instance_id)
        if application is None or instance is None:
            continue
        _send(ports, notifier, notice, application, instance, result)


def _claim_due(ports: Ports, result: TickResult) -> list[Notice]:
    """Take the due notices for this worker; another worker skips them until the claim runs out."""
    now = ports.clock.now()
    claimed: list[Notice] = []
    with ports.unit_of_work() as uow:
        for notice in uow.notices.unsent():
            if notice.due_at > now or (notice.claimed_until is not None and notice.claimed_until > now):
                continue
            application = uow.applications.get(notice.application_id)
            if application is None or not still_applies(notice, application):
                uow.notices.put(notice.model_copy(update={"withdrawn_at": now}))
                result.withdrawn.append(notice.key)
                continue
            taken = notice.model_copy(update={"claimed_until": now + CLAIM_FOR})
            uow.notices.put(taken)
            claimed.append(taken)
        if claimed or result.withdrawn:
            uow.commit()
    return claimed


def _send(
    ports: Ports, notifier: Notifier, notice: Notice, application: Application, instance: Instance, result: TickResult
) -> None:
    try:
        thread = notifier.send(notice, application, instance)
    except NotifierError as error:
        _record_failure(ports, notice, str(error))
        result.failed.append((notice.key, str(error)))
        return
    now = ports.clock.now()
    with ports.unit_of_work() as uow:
        uow.notices.put(
            notice.model_copy(update={"sent_at": now, "claimed_until": None, "attempts": notice.attempts + 1})
        )
        current = uow.applications.get(application.id)
        if thread is not None and current is not None and current.thread is None:
            uow.applications.put(current.model_copy(update={"thread": thread}))
        uow.commit()
    result.sent.append(notice.key)


def _record_failure(ports: Ports, notice: Notice, error: str) -> None:
    now = ports.clock.now()
    attempts = notice.attempts + 1
    delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)
    with ports.unit_of_work() as uow:
        uow.notices.put(
            notice.model_copy(
                update={"attempts": attempts, "last_error": error, "claimed_until": None, "due_at": now + delay}
            )
        )
        uow.commit()


def deploy_state(check: DeployCheck) -> str:
    """What a check says, without volatile detail: a change of state is worth a post, a repeat is not."""
    if check.ok:
        return "ok"
    if check.served_serial is None:
        return "unreachable"
    if not check.serves_issued:
        return "wrong-certificate"
    return "wrong-names" if not check.names_match else "broken-chain"


def check_deployments(ports: Ports, prober: TlsProber, hosts: Mapping[str, tuple[str, int]]) -> list[str]:
    """V6 on a schedule: handshake with the configured host of every bound domain of each issued certificate,
    and queue a notice when a domain's state changes (its first check, then only changes)."""
    now = ports.clock.now()
    with ports.unit_of_work(read_only=True) as uow:
        issued = [a for a in uow.applications.list() if a.certificate is not None and now < a.certificate.not_after]
    queued: list[str] = []
    for application in issued:
        targets = {d.ascii: hosts[d.ascii] for d in application.domains if d.ascii in hosts}
        if targets and _is_latest(ports, application):
            checks = verify_deployment(ports, prober, application.instance_id, targets)
            queued += _queue_changes(ports, application, checks)
    return queued


def _is_latest(ports: Ports, application: Application) -> bool:
    with ports.unit_of_work(read_only=True) as uow:
        latest = uow.applications.latest_for_instance(application.instance_id)
    return latest is not None and latest.id == application.id


def _queue_changes(ports: Ports, application: Application, checks: list[DeployCheck]) -> list[str]:
    now = ports.clock.now()
    queued: list[str] = []
    with ports.unit_of_work() as uow:
        notices = uow.notices.for_application(application.id)
        for check in checks:
            prefix = f"{application.id}:deploy:{check.domain}:"
            states = [n.key[len(prefix) :].rsplit(":", 1)[0] for n in notices if n.key.startswith(prefix)]
            state = deploy_state(check)
            if states and states[-1] == state:
                continue
            message = (
                f"{check.domain} at {check.host}:{check.port} serves the issued certificate with a valid chain."
                if check.ok
                else f"{check.domain} at {check.host}:{check.port}: {check.error}"
            )
            key = f"{prefix}{state}:{len(states) + 1}"
            if uow.notices.add(Notice(key=key, application_id=application.id, code="DEPLOY", message=message,
                                      due_at=now, created_at=now)):  # fmt: skip
                queued.append(key)
        if queued:
            uow.commit()
    return queued


def acknowledge(ports: Ports, application_id: str, actor: str) -> Application:
    """Stop further escalation levels (V5); the first acknowledgement is the one recorded."""
    actor = require_actor(actor)
    with ports.unit_of_work() as uow:
        application = uow.applications.get(application_id)
        if application is None:
            raise NotFound(f"no application {application_id}")
        if application.acknowledged is not None:
            return application
        now = ports.clock.now()
        ports.audit.append(at=now, actor=actor, action="escalation.acknowledge", subject=application_id,
                           details={"level": application.escalation_level})  # fmt: skip
        application = application.model_copy(update={"acknowledged": Acknowledgement(by=actor, at=now)})
        uow.applications.put(application)
        uow.commit()
        return application
