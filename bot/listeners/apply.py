"""The Apply for Certificate dialog: every rule violation comes back inline; a valid form is submitted once."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.apply import (
    APPLY_CALLBACK,
    DOMAINS_BLOCK,
    application_submitted_message,
    apply_errors,
    apply_modal,
    parse_apply_state,
    to_request,
)
from bot.blocks.instances import ACTION_APPLY_OPEN
from bot.context import BotContext
from bot.listeners.replies import load_if_allowed, open_view
from core.errors import CertopsError, RuleViolation
from core.model import Application, Instance
from core.rules.access import Permission
from core.services.apply import apply, record_thread
from core.services.instances import get_instance
from core.services.review import status

ERROR_LIMIT = 2000


def _instance(ctx: BotContext, instance_id: str) -> Instance:
    with ctx.ports.unit_of_work(read_only=True) as uow:
        return get_instance(uow, instance_id)


async def open_dialog(
    ctx: BotContext, instance_id: str, user_id: str, channel_id: str, trigger_id: str, respond: AsyncRespond
) -> None:
    attempt = f"open apply dialog for {instance_id}"
    instance = await load_if_allowed(ctx, respond, Permission.APPLY, user_id, attempt, _instance, ctx, instance_id)
    if instance is None:
        return
    metadata = json.dumps({"i": instance_id, "c": channel_id})
    await open_view(ctx, respond, trigger_id, apply_modal(instance, private_metadata=metadata))


def _errors(error: CertopsError | ValidationError) -> dict[str, str]:
    if isinstance(error, RuleViolation):
        return apply_errors(error.reasons)
    return {DOMAINS_BLOCK: str(error)[:ERROR_LIMIT]}


async def submit(ctx: BotContext, ack: AsyncAck, body: dict[str, Any]) -> None:
    view = body["view"]
    meta = json.loads(view["private_metadata"])
    user_id = body["user"]["id"]
    denied = await ctx.allowed(Permission.APPLY, user_id, f"apply for {meta['i']}")
    if denied is not None:
        await ack(response_action="errors", errors={DOMAINS_BLOCK: denied.message[:ERROR_LIMIT]})
        return
    try:
        request = to_request(parse_apply_state(view["state"]["values"]), meta["i"])
        application = await ctx.offload(apply, ctx.ports, request, user_id, request_key=f"view:{view['id']}")
    except (CertopsError, ValidationError) as error:
        await ack(response_action="errors", errors=_errors(error))
        return
    await ack()
    await announce(ctx, application, fallback_channel=meta.get("c") or user_id, user_id=user_id)


async def announce(ctx: BotContext, application: Application, *, fallback_channel: str, user_id: str) -> None:
    """The application's thread: one parent message in the configured channel; what follows goes under it."""
    if application.thread is not None:
        return
    view = await ctx.offload(status, ctx.ports, application.instance_id)
    text, blocks = application_submitted_message(view.instance, application)
    channel = ctx.settings.channel or fallback_channel
    key = f"posted:apply:{application.id}"
    thread = await ctx.post_once(key, channel=channel, text=text, blocks=blocks, fallback=user_id)
    if thread is not None:
        await ctx.offload(record_thread, ctx.ports, application.id, thread)


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def on_open(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id", "")
        await open_dialog(ctx, body["actions"][0]["value"], body["user"]["id"], channel, body["trigger_id"], respond)

    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        await submit(ctx, ack, body)

    app.action(ACTION_APPLY_OPEN)(on_open)
    app.view(APPLY_CALLBACK)(on_submit)
