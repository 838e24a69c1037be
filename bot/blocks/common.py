"""Pieces every Block Kit builder shares: escaping, truncation, instance wording, buttons, sections."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.wording import quota_text
from core.model import Application, CheckStatus, DomainCheck, DomainName, Instance, InstanceStatus, Reason
from core.rules.combine import COMBINABLE_STATUSES, COMBINABLE_TYPES

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
OPTION_LIMIT = 75
MESSAGE_BLOCK_LIMIT = 50
NAME_LIMIT = 80  # how much of an instance name a line shows
ELLIPSIS = "…"

_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")


def escape(text: str) -> str:
    """mrkdwn-safe text: `<!channel>` or `<@U1>` typed by a user stays literal and pings nobody."""
    for char, entity in _ENTITIES:
        text = text.replace(char, entity)
    return text


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def esc(text: str, limit: int = NAME_LIMIT) -> str:
    """A user-controlled string, cut to `limit` characters, then escaped for mrkdwn."""
    return escape(truncate(text, limit))


def clip_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> str:
    """Cut already-escaped mrkdwn to `limit` characters without leaving half an `&amp;` behind."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - 1])
    return cut + ELLIPSIS


def plain(text: str, limit: int = SECTION_LIMIT) -> PlainTextObject:
    return PlainTextObject(text=truncate(text, limit) or " ", emoji=True)


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip_mrkdwn(text) or " ")


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=plain(text, HEADER_LIMIT))


def section(text: str, *, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text), block_id=block_id)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(text)])


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    return ButtonElement(text=plain(text, BUTTON_LIMIT), action_id=action_id, value=value, style=style, confirm=confirm)


def actions(*buttons: ButtonElement) -> ActionsBlock:
    return ActionsBlock(elements=list(buttons))


# ----------------------------------------------------------------------------------------------------
# Wording about instances (the CLI's, see bot/render.py)


def status_text(status: InstanceStatus) -> str:
    return status.value.replace("_", " ")


def validity_text(years: int) -> str:
    return f"{years}-year validity"


def instance_title(instance: Instance) -> str:
    """`id` · *name*, escaped."""
    return f"`{esc(instance.id, 128)}` · *{esc(instance.name)}*"


def instance_details(instance: Instance) -> str:
    details = (
        f"{esc(instance.brand, 64)} {instance.cert_type.value} · {status_text(instance.status)} · "
        f"quota {quota_text(instance.quota)} · {validity_text(instance.validity_years)}"
    )
    if instance.merged_into:
        details += f" · combined into `{esc(instance.merged_into, 128)}`"
    return details


def instance_text(instance: Instance) -> str:
    return f"{instance_title(instance)}\n{instance_details(instance)}"


def can_combine(instance: Instance) -> bool:
    """The console shows "Combine Certificates" for OV/EV instances pending application or failed validation."""
    return instance.cert_type in COMBINABLE_TYPES and instance.status in COMBINABLE_STATUSES


def actor_text(actor: str) -> str:
    """A Slack user id becomes a mention; anything else (a CLI user, a provider) stays plain text."""
    return f"<@{actor}>" if _SLACK_USER.fullmatch(actor) else esc(actor)


# ----------------------------------------------------------------------------------------------------
# Long lists: packed into sections of at most 3000 characters, with a bounded number of blocks


def pack(items: Iterable[str], *, sep: str = "\n", limit: int = SECTION_LIMIT) -> list[list[str]]:
    """Group escaped items so that each group joined by `sep` is at most `limit` characters (an overlong
    item is clipped and stands alone)."""
    groups: list[list[str]] = []
    size = 0
    for raw in items:
        item = clip_mrkdwn(raw, limit)
        if groups and size + len(sep) + len(item) <= limit:
            groups[-1].append(item)
            size += len(sep) + len(item)
        else:
            groups.append([item])
            size = len(item)
    return groups


def list_sections(
    items: Sequence[str],
    *,
    max_blocks: int,
    more: Callable[[int], str],
    sep: str = "\n",
) -> list[Block]:
    """At most `max_blocks` sections of packed items, then a context line `more(n)` for the n left out."""
    groups = pack(items, sep=sep)[:max_blocks]
    blocks: list[Block] = [section(sep.join(group)) for group in groups]
    left = len(items) - sum(len(group) for group in groups)
    if left > 0:
        blocks.append(context(more(left)))
    return blocks


# ----------------------------------------------------------------------------------------------------
# Applications: domains and the checks the CA makes

MAX_DOMAIN_BLOCKS = 6
MAX_RECORD_BLOCKS = 20


def domain_lines(domains: Sequence[DomainName]) -> list[str]:
    """Each name as "unicode (punycode)" when they differ, as `DomainName.__str__` reads."""
    return [esc(str(d), 600) for d in domains]


def domain_blocks(domains: Sequence[DomainName]) -> list[Block]:
    return [
        section(f"*Domains to Bind* ({len(domains)})"),
        *list_sections(
            domain_lines(domains), sep=", ", max_blocks=MAX_DOMAIN_BLOCKS, more=lambda n: f"…and {n} more domains."
        ),
    ]


def check_mark(status: CheckStatus) -> str:
    return ":white_check_mark:" if status is CheckStatus.PASSED else ":hourglass_flowing_sand:"


def check_line(check: DomainCheck) -> str:
    domain = esc(check.domain, 260)
    where, value = esc(check.location, 400), esc(check.value, 400)
    if check.record_type != "FILE":
        kind = esc(check.record_type, 10)
        return f"{check_mark(check.status)} {domain}: DNS {kind} record `{where}` = `{value}`"
    return f"{check_mark(check.status)} {domain}: serve `{where}` containing `{value}`"


def check_blocks(checks: Sequence[DomainCheck], *, title: str, instance_id: str) -> list[Block]:
    if not checks:
        return []

    def more(left: int) -> str:
        return f"…and {left} more records; `certops status {esc(instance_id, 128)}` lists them all."

    return [section(title), *list_sections([check_line(c) for c in checks], max_blocks=MAX_RECORD_BLOCKS, more=more)]


def org_check_text(application: Application) -> str:
    org, contact = application.org_checks, application.contact
    return (
        f"{check_mark(org.email)} Email: the CA writes to {esc(contact.email, 254)}; follow its instructions\n"
        f"{check_mark(org.phone)} Phone: the CA calls {esc(contact.name)} at {esc(contact.phone, 40)}"
    )


# ----------------------------------------------------------------------------------------------------
# Whole messages


def help_message(allowed_commands: Sequence[tuple[str, str]]) -> tuple[str, list[Block]]:
    if not allowed_commands:
        text = "You have no certops commands available; ask an administrator for access."
        return text, [section(text)]
    lines = [f"`{esc(command, 200)}` — {esc(description, 500)}" for command, description in allowed_commands]
    blocks: list[Block] = [header("certops commands")]
    blocks += list_sections(lines, max_blocks=MESSAGE_BLOCK_LIMIT - 2, more=lambda n: f"…and {n} more commands.")
    return f"certops: {len(allowed_commands)} command(s) available.", blocks


def error_message(text: str) -> tuple[str, list[Block]]:
    shown = esc(text, SECTION_LIMIT) or "Something went wrong."
    return clip_mrkdwn(shown), [section(f":warning: {shown}")]


def reasons_blocks(reasons: Sequence[Reason], *, headline: str | None = None) -> list[Block]:
    """Every reason as "*rule* message", packed; at most 45 blocks so it fits any message."""
    blocks: list[Block] = []
    if headline:
        blocks.append(section(f":no_entry: *{esc(headline, 500)}*"))
    lines = [f"*{esc(r.rule, 20)}* {esc(r.message, 1000)}" for r in reasons]
    blocks += list_sections(lines, max_blocks=40, more=lambda n: f"…and {n} more reason(s).")
    return blocks
