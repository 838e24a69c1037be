"""Slack's other half: requests to the bot signed exactly as Slack signs them (slash commands, clicks, dialogs)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

TEAM = {"id": "T0CERTOPS", "domain": "certops"}


@dataclass(frozen=True)
class BotReply:
    status: int
    body: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackSender:
    """Posts signed requests to a bot's /slack/events. Use it inside `async with`."""

    def __init__(self, events_url: str, signing_secret: str) -> None:
        self.events_url = events_url
        self._verifier = SignatureVerifier(signing_secret)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SlackSender:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def headers(self, body: str, *, timestamp: int | None = None, content_type: str) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": str(self._verifier.generate_signature(timestamp=ts, body=body)),
        }

    async def post(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> BotReply:
        assert self._session is not None, "use SlackSender inside `async with`"
        all_headers = {**self.headers(body, timestamp=timestamp, content_type=content_type), **(headers or {})}
        started = time.perf_counter()
        async with self._session.post(self.events_url, data=body.encode(), headers=all_headers) as response:
            text = await response.text()
        return BotReply(status=response.status, body=text, elapsed=time.perf_counter() - started)

    async def command(
        self, text: str, *, user: str, channel: str, trigger_id: str, response_url: str, command: str = "/cert"
    ) -> BotReply:
        fields: dict[str, str] = {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "cert-ops",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CERTOPS",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        return await self.post(urlencode(fields))

    async def interaction(self, kind: str, user: str, **fields: Any) -> BotReply:
        """An interactivity payload of `kind` from `user`, with the envelope every payload carries."""
        payload = {"type": kind, "user": _user(user), "api_app_id": "A0CERTOPS", "team": TEAM, **fields}
        return await self.post(urlencode({"payload": json.dumps(payload)}))

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str,
        trigger_id: str,
        response_url: str,
        block_id: str = "actions",
    ) -> BotReply:
        button = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "action_ts": f"{time.time():.6f}",
        }
        return await self.interaction(
            "block_actions",
            user,
            container={"type": "message", "message_ts": "1700000000.000100", "channel_id": channel},
            channel={"id": channel, "name": "cert-ops"},
            trigger_id=trigger_id,
            response_url=response_url,
            actions=[button],
        )

    async def view_action(
        self, view: Mapping[str, Any], action: Mapping[str, Any], values: Mapping[str, Any], *, user: str
    ) -> BotReply:
        """A stateful element inside an open modal changed (e.g. a ticked checkbox with dispatch_action)."""
        return await self.interaction(
            "block_actions",
            user,
            container={"type": "view", "view_id": view["id"]},
            trigger_id=f"{time.time():.0f}.0.view-action",
            view={**view, "state": {"values": dict(values)}},
            actions=[dict(action)],
        )

    async def options(
        self, view: Mapping[str, Any], action_id: str, block_id: str, value: str, *, user: str
    ) -> BotReply:
        return await self.interaction(
            "block_suggestion",
            user,
            container={"type": "view", "view_id": view["id"]},
            view=dict(view),
            action_id=action_id,
            block_id=block_id,
            value=value,
        )

    async def submit(self, view: Mapping[str, Any], values: Mapping[str, Any], *, user: str) -> BotReply:
        return await self.interaction(
            "view_submission",
            user,
            trigger_id=f"{time.time():.0f}.0.view-submission",
            view={**view, "state": {"values": dict(values)}},
            response_urls=[],
        )

    async def event(self, event: Mapping[str, Any], *, event_id: str, retry_num: int | None = None) -> BotReply:
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "api_app_id": "A0CERTOPS",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": dict(event),
            "authorizations": [{"team_id": TEAM["id"], "user_id": "U0CERTBOT", "is_bot": True}],
        }
        retry = (
            {} if retry_num is None else {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        )
        return await self.post(json.dumps(envelope), content_type="application/json", headers=retry)


def _user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": str(TEAM["id"])}
