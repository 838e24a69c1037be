"""The instance list: one section per instance with the console's actions as buttons, and paging."""

from __future__ import annotations

import json
from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ButtonElement

from bot.blocks.common import actions, button, can_combine, context, esc, header, instance_text, section
from core.model import Instance
from core.rules.domains import can_apply

ACTION_COMBINE_OPEN = "combine_open"
ACTION_APPLY_OPEN = "apply_open"
ACTION_STATUS = "status_show"
ACTION_LIST_PAGE = "list_page"

MAX_PAGE_SIZE = 15  # two blocks per instance plus four around them stays under a message's 50 blocks
PAGE_VALUE_LIMIT = 2000


def instance_buttons(instance: Instance) -> list[ButtonElement]:
    buttons: list[ButtonElement] = []
    if can_combine(instance):
        buttons.append(button("Combine Certificates", ACTION_COMBINE_OPEN, instance.id))
    if can_apply(instance):
        buttons.append(button("Apply for Certificate", ACTION_APPLY_OPEN, instance.id, style="primary"))
    buttons.append(button("Status", ACTION_STATUS, instance.id))
    return buttons


def page_value(query: str, offset: int) -> str:
    """`{"q": query, "o": offset}`, the query shortened until the whole value fits a button (2000 chars)."""
    while True:
        value = json.dumps({"q": query, "o": offset}, ensure_ascii=False, separators=(",", ":"))
        excess = len(value) - PAGE_VALUE_LIMIT
        if excess <= 0:
            return value
        query = query[: max(len(query) - excess, 0)]


def instance_list_message(
    instances: Sequence[Instance],
    *,
    total: int,
    offset: int = 0,
    page_size: int = MAX_PAGE_SIZE,
    query: str = "",
) -> tuple[str, list[Block]]:
    """One page of instances; `instances` is the page itself (at most `page_size` are shown), `total` counts
    every match."""
    page_size = min(max(page_size, 1), MAX_PAGE_SIZE)
    offset = max(offset, 0)
    shown = list(instances[:page_size])
    searched = f" matching “{esc(query, 100)}”" if query.strip() else ""
    blocks: list[Block] = [header("Certificate instances")]
    if not shown:
        text = f"No instances{searched}."
        return text, [*blocks, section(text)]
    for instance in shown:
        blocks.append(section(instance_text(instance)))
        blocks.append(actions(*instance_buttons(instance)))
    first, last = offset + 1, offset + len(shown)
    total = max(total, last)
    blocks.append(context(f"Showing {first}–{last} of {total}{searched}. Quota is exact + wildcard domain names."))
    next_offset = offset + page_size
    if total > next_offset:
        count = min(page_size, total - next_offset)
        blocks.append(actions(button(f"Next {count}", ACTION_LIST_PAGE, page_value(query, next_offset))))
    return f"Certificate instances {first}–{last} of {total}{searched}", blocks
