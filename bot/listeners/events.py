"""Events API: every delivery is deduplicated by event_id across restarts; mentions get a short answer."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.say.async_say import AsyncSay
from slack_bolt.response import BoltResponse

from bot.blocks.status import status_message
from bot.context import BotContext
from core.errors import CertopsError
from core.services.review import status

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@[A-Z0-9]+>")


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def deduplicate(body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await ctx.first_delivery(f"event:{event_id}"):
            log.info("dropping redelivered event %s", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        words = MENTION.sub("", str(event.get("text", ""))).split()
        thread = event.get("thread_ts") or event.get("ts")
        if len(words) == 2 and words[0].lower() == "status":
            try:
                text, blocks = status_message(await ctx.offload(status, ctx.ports, words[1]))
            except CertopsError as error:
                text, blocks = str(error), None
            await say(text=text, blocks=blocks, thread_ts=thread)
            return
        await say(text="Use `/cert help` for what you can do, or mention me with `status ID`.", thread_ts=thread)

    app.middleware(deduplicate)
    app.event("app_mention")(on_mention)
