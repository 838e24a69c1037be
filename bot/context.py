"""What every listener needs: the core's ports, the settings, authorization, and safe ways to do I/O."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import Gatekeeper
from bot.offload import Offloader
from core.config import Settings
from core.model import ChatThread, Reason
from core.rules.access import Permission, denial
from core.services.context import Ports

UNREACHABLE_CHANNEL = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


@dataclass
class BotContext:
    ports: Ports
    settings: Settings
    client: AsyncWebClient
    sync_client: WebClient  # for work that runs on worker threads (report uploads)
    gatekeeper: Gatekeeper
    offload: Offloader
    reports: Offloader  # one report at a time, apart from store calls, so acks never wait behind a notebook
    _post_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def allowed(self, permission: Permission, user_id: str, attempt: str) -> Reason | None:
        """None when the user may; else the reason, after auditing the refused attempt."""
        if await self.gatekeeper.allows(permission, user_id):
            return None
        await self.offload(
            self.ports.audit.append,
            at=self.ports.clock.now(),
            actor=user_id,
            action="denied",
            subject=permission.value,
            details={"attempt": attempt},
        )
        return denial(permission, user_id)

    async def post_once(
        self, key: str, *, channel: str, text: str, blocks: list[Block], fallback: str | None = None
    ) -> ChatThread | None:
        """Post a message unless a message with this key was posted before (then None). Where the bot cannot
        post in `channel` (not a member, archived), it posts to `fallback` (the user's DM) instead."""
        lock = self._post_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if await self.offload(self._seen, key):
                return None
            try:
                response = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
            except SlackApiError as error:
                if fallback is None or error.response.get("error") not in UNREACHABLE_CHANNEL:
                    raise
                response = await self.client.chat_postMessage(channel=fallback, text=text, blocks=blocks)
            await self.offload(self._remember, key)
            return ChatThread(channel=str(response["channel"]), ts=str(response["ts"]))

    async def first_delivery(self, key: str) -> bool:
        """True the first time a key (a Slack event id) is seen, across restarts; False for a redelivery."""
        return await self.offload(self._claim, key)

    def _seen(self, key: str) -> bool:
        with self.ports.unit_of_work(read_only=True) as uow:
            return uow.seen(key)

    def _remember(self, key: str) -> None:
        with self.ports.unit_of_work() as uow:
            uow.remember(key, self.ports.clock.now())
            uow.commit()

    def _claim(self, key: str) -> bool:
        with self.ports.unit_of_work() as uow:
            if uow.seen(key):
                return False
            uow.remember(key, self.ports.clock.now())
            uow.commit()
            return True
