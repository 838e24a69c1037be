"""Answers that several listeners give: ephemeral replies, refusals, and core errors shown to the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.common import error_message, reasons_blocks
from bot.context import BotContext
from core.errors import CertopsError, RuleViolation
from core.model import Reason
from core.rules.access import Permission

T = TypeVar("T")


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
