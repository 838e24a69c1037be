"""response_urls: 5 uses each, expiring, and what a post to one does to the channel it came from."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field

from bot.stand_in.answers import Answer, JsonDict, error, ok
from bot.stand_in.chat import ChatMessages, message_refusal

RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class _Hook:
    created: float
    channel: str | None
    message_ts: str | None
    uses: int = 0
    payloads: list[JsonDict] = field(default_factory=list)


class ResponseUrls:
    """The response_urls handed out, by hook id (the last part of the URL), and the payloads each accepted."""

    def __init__(self, chat: ChatMessages, ttl: float) -> None:
        self.ttl = ttl
        self._chat = chat
        self._hooks: dict[str, _Hook] = {}

    def create(self, channel: str | None, message_ts: str | None) -> str:
        """A fresh hook id."""
        hook_id = secrets.token_urlsafe(18)
        self._hooks[hook_id] = _Hook(time.monotonic(), channel, message_ts)
        return hook_id

    def forget_expired(self, now: float, retention: float) -> None:
        """Forget response_urls expired more than `retention` seconds before `now`."""
        self._hooks = {key: hook for key, hook in self._hooks.items() if now - hook.created <= self.ttl + retention}

    def payloads(self, url: str) -> list[JsonDict]:
        return copy.deepcopy(self._hooks[url.rstrip("/").rsplit("/", 1)[-1]].payloads)

    def answer(self, hook_id: str, payload: JsonDict | None) -> Answer:
        """What Slack answers a post of `payload` (None when it could not be read) to the response_url `hook_id`."""
        hook = self._hooks.get(hook_id)
        if hook is None:
            return error("no_service", status=404)
        if time.monotonic() - hook.created > self.ttl:
            return error("expired_url", status=404)
        if hook.uses >= RESPONSE_URL_USES:
            return error("used_url", status=404)
        if payload is None:
            return error("invalid_payload", status=400)
        refusal = None if payload.get("delete_original") else message_refusal(payload, status=400)
        if refusal:
            return refusal
        hook.uses += 1
        hook.payloads.append(payload)
        self._apply_response(hook, payload)
        return ok()

    def _apply_response(self, hook: _Hook, payload: JsonDict) -> None:
        if hook.channel is None:
            return
        original = self._chat.find_message(hook.channel, hook.message_ts)
        if payload.get("delete_original"):
            if original is not None:
                self._chat.delete(hook.channel, original)
        elif payload.get("replace_original") and original is not None:
            self._chat.edit(original, payload)
        elif payload.get("response_type") == "in_channel":
            self._chat.post(hook.channel, self._chat.new_message(payload))
        else:
            self._chat.post_ephemeral(hook.channel, self._chat.new_message(payload))
