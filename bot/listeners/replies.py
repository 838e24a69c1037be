"""Answers that several listeners give: ephemeral replies, refusals, and core errors shown to the user."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.blocks.common import error_message, reasons_blocks
from bot.context import BotContext
from core.errors import CertopsError, RuleViolation
from core.model import Reason
from core.rules.access import Permission

T = TypeVar("T")
log = logging.getLogger(__name__)


async def reply(respond: AsyncRespond, text: str, blocks: list[Any] | None = None) -> None:
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def refuse(respond: AsyncRespond, reason: Reason) -> None:
    text, blocks = error_message(reason.message)
    await reply(respond, text, blocks)


async def explain(respond: AsyncRespond, error: CertopsError) -> None:
    if isinstance(error, RuleViolation):
        text = f"{error.headline}: " + "; ".join(str(r) for r in error.reasons)
        await reply(respond, text, reasons_blocks(error.reasons, headline=error.headline))
        return
    text, blocks = error_message(str(error))
    await reply(respond, text, blocks)


async def load_if_allowed(
    ctx: BotContext,
    respond: AsyncRespond,
    permission: Permission,
    user_id: str,
    attempt: str,
    load: Callable[..., T],
    *args: Any,
) -> T | None:
    """Authorize (auditing a refusal), then run a store read off the loop; the user is told why on failure."""
    denied = await ctx.allowed(permission, user_id, attempt)
    if denied is not None:
        await refuse(respond, denied)
        return None
    try:
        return await ctx.offload(load, *args)
    except CertopsError as error:
        await explain(respond, error)
        return None


async def open_view(ctx: BotContext, respond: AsyncRespond, trigger_id: str, view: View) -> None:
    """Open a dialog; if Slack refuses (a trigger id used or older than 3 s), tell the user to try again."""
    try:
        await ctx.client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        log.warning("views.open failed: %s", error.response.get("error"))
        await reply(
            respond,
            "The dialog could not be opened (Slack answered "
            f"`{error.response.get('error')}`); run the command or click the button again.",
        )
