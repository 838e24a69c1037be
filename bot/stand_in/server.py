"""A local stand-in for the Slack Web API over real HTTP (aiohttp), for tests, benchmarks and a chat sandbox.

It answers like Slack (HTTP 200 with `ok: false` for API errors, 429 + Retry-After for rate limits), enforces the
Block Kit limits in `validation`, single-use expiring trigger ids, view hashes and the view stack, and 5-use
response_urls, and file uploads the files_upload_v2 way (files.getUploadURLExternal, a POST to the upload URL,
files.completeUploadExternal). Everything is in memory and meant for one event loop.

This module serves HTTP and records calls; each API concern has its own module: `chat` (messages), `views`
(views and trigger ids), `response_urls`, `file_uploads` and `directory` (auth, users, channels, user groups).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web

from bot.stand_in import answers
from bot.stand_in.answers import Answer, JsonDict
from bot.stand_in.chat import ChatMessages
from bot.stand_in.directory import Directory
from bot.stand_in.file_uploads import FileUploads, UploadedFile
from bot.stand_in.request_parsing import BadPayload, bearer_token, read_hook_payload, read_params
from bot.stand_in.response_urls import RESPONSE_URL_TTL, ResponseUrls
from bot.stand_in.views import ViewStacks

__all__ = ["JsonDict", "RecordedCall", "SlackStandIn", "UploadedFile", "is_loopback"]

RETENTION = 3600.0  # seconds an expired trigger id or response_url is still told apart from an unknown one
POLL_INTERVAL = 0.02

Handler = Callable[[JsonDict], Answer]


@dataclass(frozen=True)
class RecordedCall:
    """One request the stand-in answered. `method` is the API method, or "response_url" for a response_url post."""

    method: str
    params: JsonDict
    status: int
    response: JsonDict
    at: float


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SlackStandIn:
    """`async with SlackStandIn() as slack:` then point `AsyncWebClient(base_url=slack.api_url)` at it."""

    def __init__(
        self,
        *,
        token: str = "xoxb-stand-in",
        latency: float = 0.0,
        trigger_ttl: float = 3.0,
        response_url_ttl: float = RESPONSE_URL_TTL,
    ) -> None:
        self.token = token
        self.latency = latency
        self.calls: list[RecordedCall] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._forced: dict[str, deque[Answer]] = defaultdict(deque)
        self._chat = ChatMessages()
        self._view_stacks = ViewStacks(trigger_ttl)
        self._response_urls = ResponseUrls(self._chat, response_url_ttl)
        self._file_uploads = FileUploads(self._chat, lambda: self.base_url)
        self._directory = Directory()
        self._methods: dict[str, Handler] = {
            "auth.test": self._directory.auth_test,
            "chat.postMessage": self._chat.chat_post_message,
            "chat.postEphemeral": self._chat.chat_post_ephemeral,
            "chat.update": self._chat.chat_update,
            "views.open": self._view_stacks.views_open,
            "views.push": self._view_stacks.views_push,
            "views.update": self._view_stacks.views_update,
            "usergroups.users.list": self._directory.usergroups_users_list,
            "users.info": self._directory.users_info,
            "conversations.info": self._directory.conversations_info,
            "files.getUploadURLExternal": self._file_uploads.files_get_upload_url,
            "files.completeUploadExternal": self._file_uploads.files_complete_upload,
        }

    @property
    def trigger_ttl(self) -> float:
        """Seconds a trigger id stays usable."""
        return self._view_stacks.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._view_stacks.trigger_ttl = seconds

    @property
    def response_url_ttl(self) -> float:
        """Seconds a response_url stays usable."""
        return self._response_urls.ttl

    @response_url_ttl.setter
    def response_url_ttl(self, seconds: float) -> None:
        self._response_urls.ttl = seconds

    # ---- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False) -> None:
        if self._runner is not None:
            raise RuntimeError("the Slack stand-in is already running")
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback host {host!r} without allow_remote=True")
        app = web.Application()
        app.router.add_route("GET", "/api/{method}", self._handle_api)
        app.router.add_route("POST", "/api/{method}", self._handle_api)
        app.router.add_post("/hooks/{hook_id}", self._handle_hook)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        # "localhost" may bind ::1 and 127.0.0.1 on two different free ports; one address keeps api_url unambiguous.
        host = "127.0.0.1" if host == "localhost" else host
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        url_host = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{url_host}:{runner.addresses[0][1]}"

    async def stop(self) -> None:
        runner, self._runner, self._base_url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the Slack stand-in is not running; call start() first")
        return self._base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ---- call log and forced answers -----------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """All calls to `method` once there are at least `count`; the bot answers Slack before it calls the API."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls_to(method)
            if len(calls) >= count:
                return calls
            if time.monotonic() >= deadline:
                raise AssertionError(self._wait_failure(method, count, timeout, len(calls)))
            await asyncio.sleep(POLL_INTERVAL)

    def _wait_failure(self, method: str, count: int, timeout: float, got: int) -> str:
        received = ", ".join(f"{call.method} -> {_outcome(call)}" for call in self.calls) or "nothing"
        return f"expected {count} call(s) to {method} within {timeout}s, got {got}; received: {received}"

    def clear(self) -> None:
        """Forget recorded calls; messages, views and forced answers stay."""
        self.calls.clear()

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        answer = answers.error("ratelimited", status=429)
        answer.headers["Retry-After"] = str(int(retry_after))
        self._forced[method].extend(copy.deepcopy(answer) for _ in range(times))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self._forced[method].extend(answers.error(error) for _ in range(times))

    # ---- workspace data ------------------------------------------------------------------------------------------

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        self._directory.add_usergroup(group_id, user_ids)

    def issue_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger id, as Slack puts into an interaction payload. Pass the view the interaction happened in
        to target views.push at that view's stack; otherwise it goes to the most recently opened one."""
        self._prune()
        return self._view_stacks.issue_trigger_id(view_id)

    def response_url(self, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response_url. With a channel, posts land there (ephemeral unless `response_type: in_channel`);
        with a message ts too, `replace_original` / `delete_original` act on that message."""
        self._prune()
        hook_id = self._response_urls.create(channel, message_ts)
        return f"{self.base_url}/hooks/{hook_id}"

    def _prune(self) -> None:
        """Forget trigger ids and response_urls long expired, so a long-running sandbox doesn't grow without bound."""
        now = time.monotonic()
        self._view_stacks.forget_expired(now, RETENTION)
        self._response_urls.forget_expired(now, RETENTION)

    def responses(self, url: str) -> list[JsonDict]:
        """Payloads accepted by one response_url."""
        return self._response_urls.payloads(url)

    def messages(self, channel: str) -> list[JsonDict]:
        """Top-level messages of a channel (thread replies are in `thread`), oldest first."""
        return self._chat.messages(channel)

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        """Replies in the thread under message `ts`, oldest first, without the parent."""
        return self._chat.thread(channel, ts)

    def uploads(self) -> list[UploadedFile]:
        """Every file upload started, in order; `completed` once files.completeUploadExternal shared it."""
        return self._file_uploads.uploads()

    def ephemeral_messages(self, channel: str) -> list[JsonDict]:
        return self._chat.ephemeral_messages(channel)

    def views(self, view_id: str) -> JsonDict:
        """The view as Slack holds it now (KeyError once closed or if never opened)."""
        return self._view_stacks.view(view_id)

    def open_views(self) -> list[JsonDict]:
        return self._view_stacks.open_views()

    def close_view(self, view_id: str) -> None:
        """Close a view and every view pushed above it, as the user pressing Cancel would."""
        self._view_stacks.close_view(view_id)

    # ---- HTTP ----------------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        answer: Answer | None = None
        try:
            params = await read_params(request)
        except BadPayload as bad:
            params, answer = {}, answers.error(bad.error)
        await self._wait_latency()
        if answer is None:
            answer = self._answer(method, params, bearer_token(request))
        self._record(method, params, answer)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _handle_hook(self, request: web.Request) -> web.Response:
        try:
            payload: JsonDict | None = await read_hook_payload(request)
        except BadPayload:
            payload = None
        await self._wait_latency()
        answer = self._response_urls.answer(request.match_info["hook_id"], payload)
        self._record("response_url", payload or {}, answer)
        # Slack answers response_url posts with a bare word, not JSON.
        text = "ok" if answer.body["ok"] else str(answer.body["error"])
        return web.Response(text=text, status=answer.status)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal hands out: the raw file bytes are POSTed to it."""
        data = await request.read()
        await self._wait_latency()
        answer = self._file_uploads.receive(request.match_info["file_id"], data)
        self._record("file_upload", {"file_id": request.match_info["file_id"], "size": len(data)}, answer)
        # Slack's upload endpoint answers with a short text, not JSON.
        text = f"OK - {len(data)}" if answer.body["ok"] else str(answer.body["error"])
        return web.Response(text=text, status=answer.status)

    async def _wait_latency(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def _record(self, method: str, params: JsonDict, answer: Answer) -> None:
        self.calls.append(RecordedCall(method, params, answer.status, answer.body, time.time()))

    def _answer(self, method: str, params: JsonDict, bearer: str | None) -> Answer:
        token = bearer if bearer is not None else params.get("token")
        if not isinstance(token, str) or not secrets.compare_digest(token.encode(), self.token.encode()):
            return answers.error("invalid_auth")
        forced = self._forced.get(method)
        if forced:
            return forced.popleft()
        handler = self._methods.get(method)
        return handler(params) if handler else answers.error("unknown_method")


def _outcome(call: RecordedCall) -> str:
    return "ok" if call.response.get("ok") else str(call.response.get("error"))
