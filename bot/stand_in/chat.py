"""Channel messages: chat.postMessage, chat.postEphemeral and chat.update, threads, and the block ids Slack fills in."""

from __future__ import annotations

import copy
import secrets
import time
from collections import defaultdict
from typing import Any

from bot.stand_in.answers import Answer, JsonDict, error, ok
from bot.stand_in.directory import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, USER_ID
from bot.stand_in.validation import TEXT_REQUIRED, message_problems


class ChatMessages:
    """The messages of every channel, thread replies included, and the ephemeral messages shown in each."""

    def __init__(self) -> None:
        self._messages: dict[str, list[JsonDict]] = defaultdict(list)
        self._ephemeral: dict[str, list[JsonDict]] = defaultdict(list)
        self._last_ts_micros = 0

    def messages(self, channel: str) -> list[JsonDict]:
        return copy.deepcopy([m for m in self._messages.get(channel, []) if m.get("thread_ts", m["ts"]) == m["ts"]])

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        replies = [m for m in self._messages.get(channel, []) if m.get("thread_ts") == ts and m["ts"] != ts]
        return copy.deepcopy(replies)

    def ephemeral_messages(self, channel: str) -> list[JsonDict]:
        return copy.deepcopy(self._ephemeral.get(channel, []))

    def chat_post_message(self, params: JsonDict) -> Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or not channel:
            return error("channel_not_found")
        refusal = message_refusal(params)
        if refusal:
            return refusal
        message = self.new_message(params)
        self.post(channel, message)
        return ok(channel=channel, ts=message["ts"], message=copy.deepcopy(message))

    def chat_post_ephemeral(self, params: JsonDict) -> Answer:
        channel, user = params.get("channel"), params.get("user")
        if not isinstance(channel, str) or not channel:
            return error("channel_not_found")
        if not isinstance(user, str) or not USER_ID.match(user):
            return error("user_not_found")
        refusal = message_refusal(params)
        if refusal:
            return refusal
        message = {**self.new_message(params), "user": user}
        self.post_ephemeral(channel, message)
        return ok(message_ts=message["ts"])

    def chat_update(self, params: JsonDict) -> Answer:
        channel = params.get("channel")
        message = self.find_message(channel, params.get("ts"))
        if message is None:
            return error("message_not_found")
        refusal = message_refusal(params)
        if refusal:
            return refusal
        self.edit(message, params)
        return ok(channel=channel, ts=message["ts"], text=message["text"], message=copy.deepcopy(message))

    def new_message(self, params: JsonDict) -> JsonDict:
        message: JsonDict = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self._next_ts(),
            "text": params.get("text", ""),
        }
        if isinstance(params.get("blocks"), list):
            message["blocks"] = with_block_ids(params["blocks"])
        if isinstance(params.get("attachments"), list):
            message["attachments"] = params["attachments"]
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        return message

    def post(self, channel: str, message: JsonDict) -> None:
        self._messages[channel].append(message)
        parent = self.find_message(channel, message.get("thread_ts"))
        if parent is not None and parent is not message:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]

    def post_ephemeral(self, channel: str, message: JsonDict) -> None:
        self._ephemeral[channel].append(message)

    def edit(self, message: JsonDict, params: JsonDict) -> None:
        message["text"] = params.get("text", "")
        if isinstance(params.get("blocks"), list):
            message["blocks"] = with_block_ids(params["blocks"])
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}

    def delete(self, channel: str, message: JsonDict) -> None:
        self._messages[channel].remove(message)

    def find_message(self, channel: Any, ts: Any) -> JsonDict | None:
        if not isinstance(channel, str) or not isinstance(ts, str):
            return None
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _next_ts(self) -> str:
        """Wall-clock based like Slack's, and strictly increasing even within one microsecond."""
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 100)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def message_refusal(payload: JsonDict, *, status: int = 200) -> Answer | None:
    problems = message_problems(payload)
    if not problems:
        return None
    return error("no_text" if TEXT_REQUIRED in problems else "invalid_blocks", problems, status=status)


def with_block_ids(blocks: list[Any]) -> list[Any]:
    """Slack fills in a block_id wherever the app left it out."""
    taken = {block.get("block_id") for block in blocks if isinstance(block, dict)}
    filled = []
    for block in copy.deepcopy(blocks):
        if isinstance(block, dict) and not block.get("block_id"):
            block["block_id"] = _fresh_block_id(taken)
            taken.add(block["block_id"])
        filled.append(block)
    return filled


def _fresh_block_id(taken: set[Any]) -> str:
    while True:
        candidate = secrets.token_urlsafe(3)
        if candidate not in taken:
            return candidate
