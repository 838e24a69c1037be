"""A running certops bot (real aiohttp server) talking to the local Slack Web API stand-in.

Tests play the user's side through `SlackSender` (requests signed as Slack signs them) and read what the bot did
from the stand-in's call log, the store and the audit log.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import EVENTS_PATH, build_app, web_application
from bot.settings import SlackSettings
from bot.stand_in.sender import BotReply, SlackSender
from bot.stand_in.server import SlackStandIn
from bot.wiring import build_ports, sandbox_ca
from core.adapters.audit_log import JsonlAuditLog
from core.adapters.tinydb_store import init_store
from core.config import Settings
from core.model import Instance
from core.services.context import Ports
from core.services.instances import activate, import_instances

SECRET = "stand-in-signing-secret"
CHANNEL = "C0CERTOPS"
ALICE = "U0ALICE"  # may combine and apply
BOB = "U0BOB"  # may view only
CAROL = "U0CAROL"  # may apply through the user group S0APPLY
SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "sample_inventory.json"


@dataclass
class Chat:
    slack: SlackStandIn
    sender: SlackSender
    ports: Ports
    data_dir: Path

    async def command(self, text: str, *, user: str = ALICE, channel: str = CHANNEL) -> tuple[BotReply, str]:
        url = self.slack.response_url()
        reply = await self.sender.command(
            text, user=user, channel=channel, trigger_id=self.slack.issue_trigger_id(), response_url=url
        )
        return reply, url

    async def click(self, action_id: str, value: str, *, user: str = ALICE) -> tuple[BotReply, str]:
        url = self.slack.response_url()
        reply = await self.sender.click(
            action_id, value, user=user, channel=CHANNEL, trigger_id=self.slack.issue_trigger_id(), response_url=url
        )
        return reply, url

    async def answer(self, url: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        """The bot's `count`-th answer through a response_url."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            answers = self.slack.responses(url)
            if len(answers) >= count:
                return answers[count - 1]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no answer #{count} on {url}; calls: {[c.method for c in self.slack.calls]}")
            await asyncio.sleep(0.02)

    async def opened_view(self, count: int = 1) -> dict[str, Any]:
        """The view the bot opened with its `count`-th views.open, as the stand-in now holds it."""
        calls = await self.slack.wait_for("views.open", count=count)
        response = calls[count - 1].response
        assert response.get("ok"), response
        return self.slack.views(response["view"]["id"])

    def instances(self) -> dict[str, Instance]:
        with self.ports.unit_of_work(read_only=True) as uow:
            return {i.id: i for i in uow.instances.list()}

    def audit_actions(self) -> list[tuple[str, str]]:
        return [(e.actor, e.action) for e in self.ports.audit.entries()]


def checkbox_values(view: Mapping[str, Any], picks: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """`state.values` as Slack builds it when the user ticks `picks[block_id]` option values in `view`."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input" or block["element"]["type"] != "checkboxes":
            continue
        element = block["element"]
        chosen = set(picks.get(block["block_id"], []))
        values[block["block_id"]] = {
            element["action_id"]: {
                "type": "checkboxes",
                "selected_options": [o for o in element["options"] if o["value"] in chosen],
            }
        }
    return values


def text_values(view: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, Any]:
    """`state.values` for a form: typed text by block id; selects and radios keep their initial option."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind = element["type"]
        if kind in ("plain_text_input", "email_text_input"):
            state = {"type": kind, "value": typed.get(block_id)}
        elif kind in ("radio_buttons", "static_select"):
            chosen = typed.get(block_id)
            option = next((o for o in element["options"] if o["value"] == chosen), element.get("initial_option"))
            state = {"type": kind, "selected_option": option}
        else:
            continue
        values[block_id] = {element["action_id"]: state}
    return values


def stock(data_dir: Path) -> None:
    init_store(data_dir)
    JsonlAuditLog(data_dir).init()
    ports = build_ports(Settings(data_dir=data_dir))
    sandbox_ca(Settings(data_dir=data_dir), ports.clock).init()
    import_instances(ports, json.loads(SAMPLE.read_text()), "setup")
    activate(ports, "cas-ov-1003", "setup")


@asynccontextmanager
async def running_bot(data_dir: Path, *, latency: float = 0.0) -> AsyncIterator[Chat]:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(name, None)
    settings = Settings(data_dir=data_dir, channel=CHANNEL, combiners=[ALICE], applicants=[ALICE, "S0APPLY"])
    ports = build_ports(settings)
    async with SlackStandIn(token="xoxb-stand-in", latency=latency) as slack:
        slack.add_usergroup("S0APPLY", [CAROL])
        slack_settings = SlackSettings(bot_token="xoxb-stand-in", signing_secret=SECRET, api_url=slack.api_url)
        app, ctx = build_app(settings, slack_settings, ports)
        runner = web.AppRunner(web_application(app))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with SlackSender(f"http://127.0.0.1:{port}{EVENTS_PATH}", SECRET) as sender:
                yield Chat(slack=slack, sender=sender, ports=ports, data_dir=data_dir)
        finally:
            await runner.cleanup()
            ctx.offload.shutdown()
            ctx.reports.shutdown()
