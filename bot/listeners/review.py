"""Buttons on review posts: Acknowledge an escalation (stops further levels), Mark installed (V6)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.common import actor_text, esc
from bot.blocks.review import ACTION_ACKNOWLEDGE, ACTION_MARK_INSTALLED, acknowledged_text, notice_message
from bot.context import BotContext
from bot.listeners.replies import explain, reply
from core.errors import CertopsError
from core.model import Notice
from core.services.deploy import mark_installed
from core.services.tracking import acknowledge


def _notice(ctx: BotContext, key: str) -> Notice | None:
    with ctx.ports.unit_of_work(read_only=True) as uow:
        return uow.notices.get(key)


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def on_acknowledge(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        try:
            application = await ctx.offload(acknowledge, ctx.ports, body["actions"][0]["value"], body["user"]["id"])
        except CertopsError as error:
            await explain(respond, error)
            return
        await respond(text=acknowledged_text(application), response_type="in_channel", replace_original=False)

    async def on_mark_installed(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        application_id, _, domain = str(body["actions"][0]["value"]).partition("|")
        user = body["user"]["id"]
        try:
            application = await ctx.offload(mark_installed, ctx.ports, application_id, domain, user)
            checklist = await ctx.offload(_notice, ctx, f"{application_id}:V6")
        except CertopsError as error:
            await explain(respond, error)
            return
        if checklist is None:
            await reply(respond, f"`{esc(domain)}` marked installed by {actor_text(user)}.")
            return
        text, blocks = notice_message(checklist, application)  # the checklist, with this row ticked
        await respond(text=text, blocks=blocks, replace_original=True)

    app.action(ACTION_ACKNOWLEDGE)(on_acknowledge)
    app.action(ACTION_MARK_INSTALLED)(on_mark_installed)
