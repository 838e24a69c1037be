"""Review follow-up (V2–V6, A10) as a chain of pure rules: (application, instance, now, calendar, policy) → findings.

Every finding carries a stable key (the dedupe key of the notice it becomes), a reason code, the instant it may go
out, and a message that says what to do and who should do it. Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.calendar import BusinessCalendar
from core.model import Application, CheckStatus, Instance, Stage

REMINDER_DAYS = (30, 14, 7, 1)  # A10: reissue reminders before the certificate expires


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    after_business_days: int
    target: str  # a channel id (C…), user-group id (S…) or user id (U…/W…)


@dataclass(frozen=True)
class ReviewPolicy:
    escalations: tuple[EscalationLevel, ...] = ()
    support_route: str | None = None
    reminder_days: tuple[int, ...] = REMINDER_DAYS


@dataclass(frozen=True)
class Finding:
    key: str
    code: str
    message: str
    due_at: datetime
    level: int | None = None
    audience: str | None = None


Rule = Callable[[Application, Instance, datetime, BusinessCalendar, ReviewPolicy], list[Finding]]


def parse_escalations(specs: Sequence[str], default_target: str | None) -> tuple[EscalationLevel, ...]:
    """`3:C0TEAM`, `7:S0ONCALL`, `10:U0LEAD` → levels 1, 2, 3 (sorted by delay); `channel` means the default."""
    levels: list[tuple[int, str]] = []
    for spec in specs:
        days_text, _, target = spec.partition(":")
        if not days_text.strip().isdigit() or not target.strip():
            raise ValueError(f"escalation {spec!r} is not BUSINESS_DAYS:TARGET (e.g. 3:C0TEAM or 7:S0ONCALL)")
        resolved = default_target if target.strip() == "channel" else target.strip()
        if resolved:
            levels.append((int(days_text), resolved))
    return tuple(EscalationLevel(n, days, target) for n, (days, target) in enumerate(sorted(levels), start=1))


def open_checks(application: Application) -> list[str]:
    """What the CA still waits for, as instructions for the applicant."""
    todo = []
    pending = [c for c in application.domain_checks if c.status is CheckStatus.PENDING]
    if pending:
        where = ", ".join(f"{c.record_type} {c.location}" for c in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        todo.append(f"place the domain-verification records ({where}{more})")
    if application.org_checks.email is CheckStatus.PENDING:
        todo.append(
            f"find the CA's email to {application.contact.email} (check spam too) with the domain-ownership "
            "instructions, and do what it asks"
        )
    if application.org_checks.phone is CheckStatus.PENDING:
        todo.append(
            f"check for a missed phone call from the CA to {application.contact.name} at {application.contact.phone} "
            "and call back"
        )
    return todo or ["nothing is open on your side: the CA is reviewing"]


def stage_changes(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
                  policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """Each stage the application reached after submission is posted once (the submission post covers the first)."""
    findings = []
    for change in application.stage_history[1:]:
        if change.stage is Stage.REJECTED:
            continue  # V4 says more than a stage change
        findings.append(
            Finding(
                key=f"{application.id}:stage:{change.stage.value}",
                code="STAGE",
                message=_stage_message(application, change.stage),
                due_at=change.at,
            )
        )
    return findings


def _stage_message(application: Application, stage: Stage) -> str:
    if stage is Stage.DOMAIN_VERIFICATION:
        return "Domain verification is pending. Applicant: " + "; ".join(open_checks(application)) + "."
    if stage is Stage.ORGANISATION_VERIFICATION:
        return (
            f"Every domain is verified. Organisation verification: the CA emails {application.contact.email} and "
            f"phones {application.contact.name} at {application.contact.phone}. Applicant: make sure they answer."
        )
    if stage is Stage.CA_REVIEW:
        return "All checks passed; the CA is reviewing the application."
    return (
        f"Issued. Applicant: export it with `certops export {application.instance_id} --out DIR` and "
        "install it on every web server that hosts a bound domain; mark each one installed below."
    )


def missed_verification(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
                        policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """V3: not issued more than one business day after submission → nudge the applicant, naming what is open."""
    if not application.in_progress:
        return []
    threshold = cal.add_business_days(application.submitted_at, 1)
    if now < threshold:
        return []
    support = f" If no call or email came, ask in the {policy.support_route}." if policy.support_route else ""
    message = (
        "Still not issued one business day after submission. Applicant, please "
        + "; ".join(open_checks(application))
        + f".{support}"
    )
    return [Finding(f"{application.id}:V3", "V3", message, cal.next_working_moment(threshold))]


def rejected(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
             policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """V4: the reason, how to fix and resubmit, and an escalation to the first level's target."""
    if application.stage is not Stage.REJECTED:
        return []
    at = application.stage_history[-1].at
    support = f" Need help from the provider? Join the {policy.support_route}." if policy.support_route else ""
    message = (
        f"Rejected by the CA: {application.rejection_reason or 'no reason given'}. Applicant: fix what the "
        f"CA names and apply again with `/cert apply {application.instance_id}` (the instance is back in "
        f"validation failed and keeps its quota).{support}"
    )
    audience = policy.escalations[0].target if policy.escalations else None
    return [Finding(f"{application.id}:V4", "V4", message, cal.next_working_moment(at), audience=audience)]


def escalations(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
                policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """V5: each level fires once when its business-day delay has passed, unless someone acknowledged."""
    if not application.in_progress or application.acknowledged is not None:
        return []
    findings = []
    elapsed = cal.business_days_between(application.submitted_at, now)
    for level in policy.escalations:
        threshold = cal.add_business_days(application.submitted_at, level.after_business_days)
        if now < threshold:
            break
        message = (
            f"Level {level.level}: {application.id} is still not issued after {elapsed} business days "
            f"(the CA usually takes 3–7). Open: " + "; ".join(open_checks(application)) + ". "
            "Acknowledge to stop further escalation."
        )
        findings.append(
            Finding(
                key=f"{application.id}:V5:{level.level}",
                code="V5",
                message=message,
                due_at=cal.next_working_moment(threshold),
                level=level.level,
                audience=level.target,
            )
        )
    return findings


def deployment_checklist(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
                         policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """V6: once issued, one checklist row per bound domain, each to be installed on its web server."""
    if application.stage is not Stage.ISSUED or application.certificate is None:
        return []
    message = (
        f"Install the certificate on the server of each of the {len(application.domains)} "
        "bound domain(s) and mark it installed; `certops verify-deploy` checks a host over TLS."
    )
    return [Finding(f"{application.id}:V6", "V6", message, application.stage_history[-1].at)]


def reissue_reminders(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
                      policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    """A10: a certificate that ends before the instance's service period must be reissued; remind before it expires.

    Only the latest reminder due is produced, so a worker that starts late does not send three at once.
    """
    certificate = application.certificate
    if certificate is None or instance.service_end is None or certificate.not_after.date() >= instance.service_end:
        return []
    if now >= certificate.not_after:
        return []
    passed = [d for d in sorted(policy.reminder_days) if now >= certificate.not_after - timedelta(days=d)]
    if not passed:
        return []
    days = passed[0]
    message = (
        f"The certificate on {application.instance_id} expires on {certificate.not_after:%Y-%m-%d} (in {days} day(s) "
        f"or less), before the instance's service period ends on {instance.service_end:%Y-%m-%d}: reissue it "
        "and install the new one (A10)."
    )
    due = cal.next_working_moment(certificate.not_after - timedelta(days=days))
    return [Finding(f"{application.id}:A10:{days}", "A10", message, due)]


CHAIN: tuple[Rule, ...] = (
    stage_changes,
    missed_verification,
    rejected,
    escalations,
    deployment_checklist,
    reissue_reminders,
)


def evaluate(application: Application, instance: Instance, now: datetime, cal: BusinessCalendar,
             policy: ReviewPolicy) -> list[Finding]:  # fmt: skip
    return [finding for rule in CHAIN for finding in rule(application, instance, now, cal, policy)]
