"""An instance's status: its application's stage, the review window, open checks, and the certificate (V1, V2)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, ButtonElement

from bot.blocks.common import (
    actions,
    actor_text,
    button,
    check_blocks,
    context,
    domain_blocks,
    esc,
    header,
    instance_text,
    org_check_text,
    section,
)
from bot.blocks.instances import ACTION_APPLY_OPEN, ACTION_STATUS
from bot.wording import STAGE_TEXT
from core.model import Application, CheckStatus, IssuedCertificate, Stage
from core.rules.domains import can_apply
from core.services.review import REVIEW_WINDOW_BUSINESS_DAYS, StatusView

SUPPORT_GROUP = "If you receive no call or email, search for and join the DingTalk group numbered 32435999."


def _elapsed_text(view: StatusView, application: Application) -> str:
    low, high = REVIEW_WINDOW_BUSINESS_DAYS
    days = view.business_days_elapsed
    if days is None:
        return f"The CA usually takes {low}–{high} business days."
    late = " — longer than usual" if application.in_progress and days > high else ""
    return f"Business days elapsed: *{days}* (the CA usually takes {low}–{high}){late}"


def _missed_contact(view: StatusView, application: Application) -> list[Block]:
    """The console's advice once more than one business day passed without a certificate."""
    days = view.business_days_elapsed
    if not application.in_progress or days is None or days <= 1:
        return []
    return [
        context(
            "Not issued after more than 1 business day: check whether you missed a phone call from the CA or an "
            f"email with instructions for verifying your domain names. {SUPPORT_GROUP}"
        )
    ]


def _certificate_blocks(instance_id: str, certificate: IssuedCertificate) -> list[Block]:
    return [
        section(
            f"*Certificate* serial `{esc(certificate.serial, 128)}`, valid {certificate.not_before:%Y-%m-%d} "
            f"to {certificate.not_after:%Y-%m-%d} · {certificate.key_algorithm.value}\n"
            f"Next: `certops export {esc(instance_id, 128)} --out DIR`, then install it on each host."
        )
    ]


def _open_check_blocks(application: Application) -> list[Block]:
    checks = application.domain_checks
    open_checks = [c for c in checks if c.status is not CheckStatus.PASSED]
    passed = len(checks) - len(open_checks)
    title = f"*Open checks* ({passed} of {len(checks)} domain checks passed):"
    blocks = check_blocks(open_checks, title=title, instance_id=application.instance_id)
    if checks and not open_checks:
        blocks.append(section(f"All {len(checks)} domain checks passed."))
    return [*blocks, section(org_check_text(application))]


def _application_blocks(view: StatusView, application: Application) -> list[Block]:
    blocks: list[Block] = [
        section(
            f"Application `{esc(application.id, 128)}`, submitted {application.submitted_at:%Y-%m-%d %H:%M} UTC "
            f"by {actor_text(application.actor)}\n"
            f"*Stage:* {STAGE_TEXT[application.stage]}\n{_elapsed_text(view, application)}"
        ),
        *domain_blocks(application.domains),
    ]
    if application.stage is Stage.REJECTED:
        reason = esc(application.rejection_reason or "none given", 2000)
        blocks.append(section(f"*Rejection reason:* {reason}\nTo discuss it, join the DingTalk group 32435999."))
    if application.certificate is not None:
        blocks += _certificate_blocks(view.instance.id, application.certificate)
    elif application.stage is not Stage.REJECTED:
        blocks += _open_check_blocks(application)
    return [*blocks, *_missed_contact(view, application)]


def _buttons(view: StatusView) -> list[ButtonElement]:
    instance, application = view.instance, view.application
    buttons: list[ButtonElement] = []
    if can_apply(instance) and (application is None or not application.in_progress):
        buttons.append(button("Apply for Certificate", ACTION_APPLY_OPEN, instance.id, style="primary"))
    buttons.append(button("Refresh", ACTION_STATUS, instance.id))
    return buttons


def status_message(view: StatusView) -> tuple[str, list[Block]]:
    instance, application = view.instance, view.application
    blocks: list[Block] = [header(f"Status of {instance.id}"), section(instance_text(instance))]
    if application is None:
        blocks.append(section("No application yet."))
        text = f"{esc(instance.id, 128)}: no application yet"
    else:
        blocks += _application_blocks(view, application)
        text = f"{esc(instance.id, 128)}: {STAGE_TEXT[application.stage]}"
    blocks.append(actions(*_buttons(view)))
    return text, blocks
