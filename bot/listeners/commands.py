"""`/cert`: help, list, combine, apply, status. The ack goes out first; the answer follows by response_url."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.blocks.common import help_message
from bot.context import BotContext
from bot.listeners import apply, combine, instances
from bot.listeners.replies import reply
from core.rules.access import Permission

COMMAND = "/cert"


@dataclass(frozen=True)
class Invocation:
    ctx: BotContext
    user_id: str
    channel_id: str
    trigger_id: str
    args: list[str]
    respond: AsyncRespond


Handler = Callable[[Invocation], Awaitable[None]]


@dataclass(frozen=True)
class Subcommand:
    usage: str
    description: str
    permission: Permission
    handler: Handler


async def _help(call: Invocation) -> None:
    allowed = [
        (f"{COMMAND} {sub.usage}", sub.description)
        for sub in SUBCOMMANDS.values()
        if await call.ctx.gatekeeper.allows(sub.permission, call.user_id)
    ]
    text, blocks = help_message(allowed)
    await reply(call.respond, text, blocks)


async def _list(call: Invocation) -> None:
    await instances.show_list(call.ctx, call.respond, " ".join(call.args), offset=0)


async def _status(call: Invocation) -> None:
    if len(call.args) != 1:
        await reply(call.respond, f"Usage: `{COMMAND} status ID` (ids are in `{COMMAND} list`).")
        return
    await instances.show_status(call.ctx, call.respond, call.args[0])


REPORTS = ("backlog", "merge-audit")


async def _report(call: Invocation) -> None:
    from bot.reports_chat import run_and_post
    from notebooks.run import ReportName

    if len(call.args) != 1 or call.args[0] not in REPORTS:
        await reply(call.respond, f"Usage: `{COMMAND} report backlog` or `{COMMAND} report merge-audit`.")
        return
    name = cast(ReportName, call.args[0])
    await reply(call.respond, f"Running the {name} report; it is posted in this channel when ready (a few seconds).")
    ctx = call.ctx
    await ctx.reports(run_and_post, ctx.settings, ctx.sync_client, name, call.channel_id, ctx.ports.clock.now())


def _needs_id(action: Callable[[BotContext, str, str, str, str, AsyncRespond], Awaitable[None]], name: str) -> Handler:
    async def handler(call: Invocation) -> None:
        if len(call.args) != 1:
            await reply(call.respond, f"Usage: `{COMMAND} {name} ID` (ids are in `{COMMAND} list`).")
            return
        await action(call.ctx, call.args[0], call.user_id, call.channel_id, call.trigger_id, call.respond)

    return handler


SUBCOMMANDS: dict[str, Subcommand] = {
    "help": Subcommand("help", "what you can do here", Permission.VIEW, _help),
    "list": Subcommand(
        "list [status] [brand] [type]", "instances, filtered (e.g. `list pending_application DigiCert OV`)",
        Permission.VIEW, _list,
    ),
    "combine": Subcommand(
        "combine ID", "combine instances of one brand and type (irreversible)", Permission.COMBINE,
        _needs_id(combine.open_dialog, "combine"),
    ),
    "apply": Subcommand(
        "apply ID", "apply for a certificate on an instance", Permission.APPLY, _needs_id(apply.open_dialog, "apply")
    ),
    "status": Subcommand("status ID", "an instance's application, stage and open checks", Permission.VIEW, _status),
    "report": Subcommand(
        "report backlog|merge-audit", "run a report and post its summary, charts and HTML here", Permission.VIEW,
        _report,
    ),
}  # fmt: skip


async def cert_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, ctx: BotContext) -> None:
    await ack()
    words = str(body.get("text") or "").split()
    name = words[0].lower() if words else "help"
    call = Invocation(
        ctx=ctx,
        user_id=str(body.get("user_id", "")),
        channel_id=str(body.get("channel_id", "")),
        trigger_id=str(body.get("trigger_id", "")),
        args=words[1:],
        respond=respond,
    )
    sub = SUBCOMMANDS.get(name)
    if sub is None:
        valid = ", ".join(f"`{n}`" for n in SUBCOMMANDS)
        await reply(respond, f"`{COMMAND} {name}` is not a command. Valid: {valid}. Try `{COMMAND} help`.")
        return
    await sub.handler(call)


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await cert_command(ack, body, respond, ctx)

    app.command(COMMAND)(listener)
