"""The backlog's rows for applications in review or rejected: their review window (V1) and the next action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.model import Application, CertType, CheckStatus, Instance, Stage, ValidationMethod
from core.reports.business_days import BusinessDaysTo
from core.services.review import REVIEW_WINDOW_BUSINESS_DAYS

DV_REVIEW_WINDOW = (1, 2)  # V1: DV review takes 1–2 business days, OV/EV 3–7
NAMED_CHECKS = 3  # how many open domain checks a next action names before "and N more"

WindowState = Literal["before window", "in window", "overdue", "rejected"]


def review_window(cert_type: CertType) -> tuple[int, int]:
    """V1: business days the CA usually takes, (fewest, most)."""
    return DV_REVIEW_WINDOW if cert_type is CertType.DV else REVIEW_WINDOW_BUSINESS_DAYS


@dataclass(frozen=True)
class ReviewRow:
    """An instance's latest application: in review, or rejected and not yet resubmitted."""

    application: Application
    instance: Instance
    business_days: int  # in review: since submission; rejected: since the rejection
    window: tuple[int, int]
    next_action: str

    @property
    def owner(self) -> str:
        return self.application.actor

    @property
    def state(self) -> WindowState:
        if self.application.stage is Stage.REJECTED:
            return "rejected"
        fewest, most = self.window
        if self.business_days > most:
            return "overdue"
        return "in window" if self.business_days >= fewest else "before window"

    @property
    def stalled(self) -> bool:
        return self.state in ("overdue", "rejected")

    @property
    def escalated(self) -> bool:
        return self.application.escalation_level > 0


def next_action(application: Application) -> str:
    """What would move the application on: the open checks, or the CA's reason for a rejection. Names the contact
    but never their phone number or email (reports are posted to a channel)."""
    if application.stage is Stage.REJECTED:
        reason = application.rejection_reason or "no reason given"
        return f"fix what the CA names ({reason}) and apply again on {application.instance_id}"
    todo = []
    pending = [c.domain for c in application.domain_checks if c.status is CheckStatus.PENDING]
    if pending:
        what = "DNS record" if application.validation_method is ValidationMethod.DNS else "verification file"
        named = ", ".join(pending[:NAMED_CHECKS]) + (
            f" and {len(pending) - NAMED_CHECKS} more" if len(pending) > NAMED_CHECKS else ""
        )
        todo.append(f"publish the {what}s for {named}")
    contact = application.contact.name
    if application.org_checks.email is CheckStatus.PENDING:
        todo.append(f"{contact} answers the CA's verification email")
    if application.org_checks.phone is CheckStatus.PENDING:
        todo.append(f"{contact} takes (or returns) the CA's verification call")
    return "; ".join(todo) or "nothing open on our side: the CA is reviewing (ask the CA if overdue)"


def review_row(application: Application, instance: Instance, days: BusinessDaysTo) -> ReviewRow:
    if application.stage is Stage.REJECTED and application.stage_history:
        elapsed = days.since(application.stage_history[-1].at)
    else:
        elapsed = days.since(application.submitted_at)
    return ReviewRow(
        application=application,
        instance=instance,
        business_days=elapsed,
        window=review_window(instance.cert_type),
        next_action=next_action(application),
    )
