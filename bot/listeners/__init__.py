"""Slack listeners, one concern per module; `register_all` wires them into the app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.context import BotContext
from bot.listeners import apply, combine, commands, events, instances, review


def register_all(app: AsyncApp, ctx: BotContext) -> None:
    events.register(app, ctx)
    commands.register(app, ctx)
    instances.register(app, ctx)
    combine.register(app, ctx)
    apply.register(app, ctx)
    review.register(app, ctx)
