"""Instance lists with the console's actions as buttons, paging, and status views."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.instances import ACTION_LIST_PAGE, ACTION_STATUS, instance_list_message
from bot.blocks.status import status_message
from bot.context import BotContext
from bot.listeners.replies import explain, reply
from core.errors import CertopsError
from core.model import CertType, Instance, InstanceStatus
from core.services.instances import list_instances
from core.services.review import status

PAGE_SIZE = 15
_STATUSES = {s.value: s for s in InstanceStatus}
_TYPES = {t.value: t for t in CertType}


def parse_filters(query: str) -> tuple[InstanceStatus | None, str | None, CertType | None]:
    """`pending_application DigiCert OV` in any order: a status, a certificate type, the rest is the brand."""
    status_filter, cert_type, brand_words = None, None, []
    for word in query.split():
        if word.lower() in _STATUSES:
            status_filter = _STATUSES[word.lower()]
        elif word.upper() in _TYPES:
            cert_type = _TYPES[word.upper()]
        else:
            brand_words.append(word)
    return status_filter, " ".join(brand_words) or None, cert_type


def _filtered(ctx: BotContext, query: str) -> list[Instance]:
    status_filter, brand, cert_type = parse_filters(query)
    return list_instances(ctx.ports, status=status_filter, brand=brand, cert_type=cert_type)


async def show_list(ctx: BotContext, respond: AsyncRespond, query: str, *, offset: int, replace: bool = False) -> None:
    try:
        found = await ctx.offload(_filtered, ctx, query)
    except CertopsError as error:
        await explain(respond, error)
        return
    page = found[offset : offset + PAGE_SIZE]
    text, blocks = instance_list_message(page, total=len(found), offset=offset, page_size=PAGE_SIZE, query=query)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=replace)


async def show_status(ctx: BotContext, respond: AsyncRespond, instance_id: str) -> None:
    try:
        view = await ctx.offload(status, ctx.ports, instance_id)
    except CertopsError as error:
        await explain(respond, error)
        return
    text, blocks = status_message(view)
    await reply(respond, text, blocks)


def _action_value(body: dict[str, Any]) -> str:
    return str(body["actions"][0].get("value") or "")


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def on_status(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await show_status(ctx, respond, _action_value(body))

    async def on_page(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        try:
            page = json.loads(_action_value(body))
            query, offset = str(page.get("q", "")), max(0, int(page.get("o", 0)))
        except (ValueError, TypeError, AttributeError):
            await reply(respond, "That page link is no longer valid; run `/cert list` again.")
            return
        await show_list(ctx, respond, query, offset=offset, replace=True)

    app.action(ACTION_STATUS)(on_status)
    app.action(ACTION_LIST_PAGE)(on_page)
