"""Review follow-up posts: stage changes, nudges, rejections, escalations, the deployment checklist, reminders."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.blocks.common import (
    SECTION_LIMIT,
    actions,
    actor_text,
    button,
    context,
    esc,
    mrkdwn,
    section,
)
from core.model import Application, Notice

ACTION_ACKNOWLEDGE = "escalation_ack"
ACTION_MARK_INSTALLED = "deploy_mark"
CHECKLIST_ROWS = 40  # a message holds 50 blocks; the rest of a long list is in `certops status`

_TITLES = {
    "STAGE": "Status update",
    "V3": "Did you miss the CA's call or email?",
    "V4": "Application rejected",
    "V5": "Escalation",
    "V6": "Deployment checklist",
    "DEPLOY": "Deployment check",
    "A10": "Reissue reminder",
}


def mention(target: str) -> str:
    """A channel, user group or user id as Slack shows it."""
    if target.startswith("S"):
        return f"<!subteam^{target}>"
    if target.startswith("C") or target.startswith("G"):
        return f"<#{target}>"
    return actor_text(target)


def notice_message(notice: Notice, application: Application) -> tuple[str, list[Block]]:
    title = _TITLES.get(notice.code, "Update")
    who = mention(notice.audience) if notice.audience and notice.code in ("V4", "V5") else actor_text(application.actor)
    body = f"*{title}* · `{esc(application.id, 120)}`\n{who} {esc(notice.message, SECTION_LIMIT - 400)}"
    blocks: list[Block] = [section(body)]
    if notice.code == "V5":
        blocks.append(actions(button("Acknowledge", ACTION_ACKNOWLEDGE, application.id, style="primary")))
    if notice.code == "V6":
        blocks += checklist_rows(application)
    blocks.append(context(f"{notice.code} · certops"))
    return esc(f"{title}: {notice.message}", 3000), blocks


def checklist_rows(application: Application) -> list[Block]:
    installed = {d.domain: d for d in application.deployments if d.installed_by}
    rows: list[Block] = []
    for domain in application.domains[:CHECKLIST_ROWS]:
        done = installed.get(domain.ascii)
        if done is not None:
            rows.append(
                section(f":white_check_mark: `{esc(str(domain))}` installed by {actor_text(done.installed_by or '')}")
            )
            continue
        rows.append(
            SectionBlock(
                text=mrkdwn(f":white_large_square: `{esc(str(domain))}`"),
                accessory=button("Mark installed", ACTION_MARK_INSTALLED, f"{application.id}|{domain.ascii}"),
            )
        )
    if len(application.domains) > CHECKLIST_ROWS:
        more = len(application.domains) - CHECKLIST_ROWS
        rows.append(context(f"…and {more} more; `certops status {esc(application.instance_id)}` lists them all"))
    return rows


def escalation_copy(notice: Notice, application: Application, thread_link: str) -> tuple[str, list[Block]]:
    """The post in an escalation target's own channel, pointing at the application's thread."""
    text, blocks = notice_message(notice, application)
    return text, [*blocks[:-1], context(f"Follow-up happens in {thread_link}."), blocks[-1]]


def acknowledged_text(application: Application) -> str:
    assert application.acknowledged is not None
    return (
        f"Escalation of `{esc(application.id, 120)}` acknowledged by {actor_text(application.acknowledged.by)}: "
        "no further levels will fire."
    )
