"""A local stand-in for the Slack Web API over real HTTP (aiohttp), for tests, benchmarks and a chat sandbox.

It answers like Slack (HTTP 200 with `ok: false` for API errors, 429 + Retry-After for rate limits), enforces the
Block Kit limits in `validation`, single-use expiring trigger ids, view hashes and the view stack, and 5-use
response_urls, and file uploads the files_upload_v2 way (files.getUploadURLExternal, a POST to the upload URL,
files.completeUploadExternal). Everything is in memory and meant for one event loop.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import itertools
import json
import mimetypes
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

from bot.stand_in.validation import TEXT_REQUIRED, VIEW_MAX_BYTES, message_problems, view_problems, view_size

JsonDict = dict[str, Any]

TEAM_ID = "T0CERTOPS"
TEAM_NAME = "certops"
TEAM_URL = "https://certops-stand-in.slack.com/"
BOT_USER_ID = "U0CERTBOT"
BOT_USER_NAME = "certbot"
BOT_ID = "B0CERTBOT"
APP_ID = "A0CERTOPS"
USER_TZ = "Asia/Shanghai"
SCOPES = "chat:write,commands,users:read,usergroups:read,channels:read,groups:read,im:write"
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
VIEW_STACK_DEPTH = 3  # the root view plus 2 pushes
RETENTION = 3600.0  # seconds an expired trigger id or response_url is still told apart from an unknown one
POLL_INTERVAL = 0.02
JSON_PARAMS = ("blocks", "view", "attachments")

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

Handler = Callable[[JsonDict], "_Answer"]


@dataclass(frozen=True)
class RecordedCall:
    """One request the stand-in answered. `method` is the API method, or "response_url" for a response_url post."""

    method: str
    params: JsonDict
    status: int
    response: JsonDict
    at: float


@dataclass
class UploadedFile:
    """A file uploaded through files.getUploadURLExternal and the upload URL; shared once completed."""

    id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    alt_txt: str | None = None
    content: bytes | None = None  # what was POSTed to the upload URL
    title: str | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


@dataclass
class _Answer:
    body: JsonDict
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Trigger:
    issued: float
    view_id: str | None
    used: bool = False


@dataclass
class _Hook:
    created: float
    channel: str | None
    message_ts: str | None
    uses: int = 0
    payloads: list[JsonDict] = field(default_factory=list)


class _BadPayload(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _ok(**fields: Any) -> _Answer:
    return _Answer({"ok": True, **fields})


def _error(error: str, messages: list[str] | None = None, *, status: int = 200) -> _Answer:
    body: JsonDict = {"ok": False, "error": error}
    if messages:
        body["response_metadata"] = {"messages": messages}
    return _Answer(body, status)


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
        self.trigger_ttl = trigger_ttl
        self.response_url_ttl = response_url_ttl
        self.calls: list[RecordedCall] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._forced: dict[str, deque[_Answer]] = defaultdict(deque)
        self._messages: dict[str, list[JsonDict]] = defaultdict(list)
        self._ephemeral: dict[str, list[JsonDict]] = defaultdict(list)
        self._last_ts_micros = 0
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, JsonDict] = {}
        self._stacks: dict[str, list[str]] = {}  # root view id -> view ids, root first
        self._external_ids: dict[str, str] = {}
        self._view_numbers = itertools.count(1)
        self._hash_numbers = itertools.count(1)
        self._usergroups: dict[str, list[str]] = {}
        self._hooks: dict[str, _Hook] = {}
        self._uploads: dict[str, UploadedFile] = {}
        self._file_numbers = itertools.count(1)
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

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
        answer = _error("ratelimited", status=429)
        answer.headers["Retry-After"] = str(int(retry_after))
        self._forced[method].extend(copy.deepcopy(answer) for _ in range(times))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self._forced[method].extend(_error(error) for _ in range(times))

    # ---- workspace data ------------------------------------------------------------------------------------------

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        self._usergroups[group_id] = list(user_ids)

    def issue_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger id, as Slack puts into an interaction payload. Pass the view the interaction happened in
        to target views.push at that view's stack; otherwise it goes to the most recently opened one."""
        self._prune()
        trigger_id = f"{int(time.time() * 1000)}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(time.monotonic(), view_id)
        return trigger_id

    def response_url(self, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response_url. With a channel, posts land there (ephemeral unless `response_type: in_channel`);
        with a message ts too, `replace_original` / `delete_original` act on that message."""
        self._prune()
        hook_id = secrets.token_urlsafe(18)
        self._hooks[hook_id] = _Hook(time.monotonic(), channel, message_ts)
        return f"{self.base_url}/hooks/{hook_id}"

    def _prune(self) -> None:
        """Forget trigger ids and response_urls long expired, so a long-running sandbox doesn't grow without bound."""
        now = time.monotonic()
        self._triggers = {
            key: trigger
            for key, trigger in self._triggers.items()
            if now - trigger.issued <= self.trigger_ttl + RETENTION
        }
        self._hooks = {
            key: hook for key, hook in self._hooks.items() if now - hook.created <= self.response_url_ttl + RETENTION
        }

    def responses(self, url: str) -> list[JsonDict]:
        """Payloads accepted by one response_url."""
        return copy.deepcopy(self._hooks[url.rstrip("/").rsplit("/", 1)[-1]].payloads)

    def messages(self, channel: str) -> list[JsonDict]:
        """Top-level messages of a channel (thread replies are in `thread`), oldest first."""
        return copy.deepcopy([m for m in self._messages.get(channel, []) if m.get("thread_ts", m["ts"]) == m["ts"]])

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        """Replies in the thread under message `ts`, oldest first, without the parent."""
        replies = [m for m in self._messages.get(channel, []) if m.get("thread_ts") == ts and m["ts"] != ts]
        return copy.deepcopy(replies)

    def uploads(self) -> list[UploadedFile]:
        """Every file upload started, in order; `completed` once files.completeUploadExternal shared it."""
        return copy.deepcopy(list(self._uploads.values()))

    def ephemeral_messages(self, channel: str) -> list[JsonDict]:
        return copy.deepcopy(self._ephemeral.get(channel, []))

    def views(self, view_id: str) -> JsonDict:
        """The view as Slack holds it now (KeyError once closed or if never opened)."""
        return copy.deepcopy(self._views[view_id])

    def open_views(self) -> list[JsonDict]:
        return [copy.deepcopy(self._views[view_id]) for stack in self._stacks.values() for view_id in stack]

    def close_view(self, view_id: str) -> None:
        """Close a view and every view pushed above it, as the user pressing Cancel would."""
        root_id = self._views[view_id]["root_view_id"]
        stack = self._stacks[root_id]
        for closed in stack[stack.index(view_id) :]:
            self._forget_view(closed)
        del stack[stack.index(view_id) :]
        if not stack:
            del self._stacks[root_id]

    def _forget_view(self, view_id: str) -> None:
        external_id = self._views.pop(view_id).get("external_id")
        if external_id and self._external_ids.get(external_id) == view_id:
            del self._external_ids[external_id]

    # ---- HTTP ----------------------------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        answer: _Answer | None = None
        try:
            params = await _read_params(request)
        except _BadPayload as bad:
            params, answer = {}, _error(bad.error)
        await self._wait_latency()
        if answer is None:
            answer = self._answer(method, params, _bearer_token(request))
        self._record(method, params, answer)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def _handle_hook(self, request: web.Request) -> web.Response:
        try:
            payload: JsonDict | None = await _read_hook_payload(request)
        except _BadPayload:
            payload = None
        await self._wait_latency()
        answer = self._answer_hook(request.match_info["hook_id"], payload)
        self._record("response_url", payload or {}, answer)
        # Slack answers response_url posts with a bare word, not JSON.
        text = "ok" if answer.body["ok"] else str(answer.body["error"])
        return web.Response(text=text, status=answer.status)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal hands out: the raw file bytes are POSTed to it."""
        data = await request.read()
        await self._wait_latency()
        upload = self._uploads.get(request.match_info["file_id"])
        if upload is None or upload.completed:
            answer = _error("file_not_found", status=404)
        else:
            upload.content = data
            answer = _ok(file_id=upload.id, size=len(data))
        self._record("file_upload", {"file_id": request.match_info["file_id"], "size": len(data)}, answer)
        # Slack's upload endpoint answers with a short text, not JSON.
        text = f"OK - {len(data)}" if answer.body["ok"] else str(answer.body["error"])
        return web.Response(text=text, status=answer.status)

    async def _wait_latency(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    def _record(self, method: str, params: JsonDict, answer: _Answer) -> None:
        self.calls.append(RecordedCall(method, params, answer.status, answer.body, time.time()))

    def _answer(self, method: str, params: JsonDict, bearer: str | None) -> _Answer:
        token = bearer if bearer is not None else params.get("token")
        if not isinstance(token, str) or not secrets.compare_digest(token.encode(), self.token.encode()):
            return _error("invalid_auth")
        forced = self._forced.get(method)
        if forced:
            return forced.popleft()
        handler = self._methods.get(method)
        return handler(params) if handler else _error("unknown_method")

    # ---- auth, users, channels -----------------------------------------------------------------------------------

    def _auth_test(self, params: JsonDict) -> _Answer:
        answer = _ok(
            url=TEAM_URL,
            team=TEAM_NAME,
            user=BOT_USER_NAME,
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )
        answer.headers["x-oauth-scopes"] = SCOPES
        return answer

    def _users_info(self, params: JsonDict) -> _Answer:
        user_id = params.get("user")
        if not isinstance(user_id, str) or not _USER_ID.match(user_id):
            return _error("user_not_found")
        return _ok(user=_user(user_id))

    def _conversations_info(self, params: JsonDict) -> _Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or not _CHANNEL_ID.match(channel):
            return _error("channel_not_found")
        return _ok(channel=_channel(channel))

    def _usergroups_users_list(self, params: JsonDict) -> _Answer:
        users = self._usergroups.get(str(params.get("usergroup")))
        if users is None:
            return _error("no_such_subteam")
        return _ok(users=list(users))

    # ---- messages ------------------------------------------------------------------------------------------------

    def _chat_post_message(self, params: JsonDict) -> _Answer:
        channel = params.get("channel")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        refusal = _message_refusal(params)
        if refusal:
            return refusal
        message = self._new_message(params)
        self._post(channel, message)
        return _ok(channel=channel, ts=message["ts"], message=copy.deepcopy(message))

    def _chat_post_ephemeral(self, params: JsonDict) -> _Answer:
        channel, user = params.get("channel"), params.get("user")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        if not isinstance(user, str) or not _USER_ID.match(user):
            return _error("user_not_found")
        refusal = _message_refusal(params)
        if refusal:
            return refusal
        message = {**self._new_message(params), "user": user}
        self._ephemeral[channel].append(message)
        return _ok(message_ts=message["ts"])

    def _chat_update(self, params: JsonDict) -> _Answer:
        channel = params.get("channel")
        message = self._find_message(channel, params.get("ts"))
        if message is None:
            return _error("message_not_found")
        refusal = _message_refusal(params)
        if refusal:
            return refusal
        self._edit(message, params)
        return _ok(channel=channel, ts=message["ts"], text=message["text"], message=copy.deepcopy(message))

    def _new_message(self, params: JsonDict) -> JsonDict:
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
            message["blocks"] = _with_block_ids(params["blocks"])
        if isinstance(params.get("attachments"), list):
            message["attachments"] = params["attachments"]
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        return message

    def _post(self, channel: str, message: JsonDict) -> None:
        self._messages[channel].append(message)
        parent = self._find_message(channel, message.get("thread_ts"))
        if parent is not None and parent is not message:
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = message["ts"]

    def _edit(self, message: JsonDict, params: JsonDict) -> None:
        message["text"] = params.get("text", "")
        if isinstance(params.get("blocks"), list):
            message["blocks"] = _with_block_ids(params["blocks"])
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}

    def _find_message(self, channel: Any, ts: Any) -> JsonDict | None:
        if not isinstance(channel, str) or not isinstance(ts, str):
            return None
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _next_ts(self) -> str:
        """Wall-clock based like Slack's, and strictly increasing even within one microsecond."""
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 100)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # ---- files ---------------------------------------------------------------------------------------------------

    def _files_get_upload_url(self, params: JsonDict) -> _Answer:
        filename = params.get("filename")
        length = _positive_int(params.get("length"))
        if not isinstance(filename, str) or not filename.strip() or length is None:
            return _error("invalid_arguments", ["`filename` and a positive integer `length` are required"])
        file_id = f"F{next(self._file_numbers):010d}"
        alt_txt = params.get("alt_txt")
        self._uploads[file_id] = UploadedFile(
            id=file_id, filename=filename, length=length, alt_txt=alt_txt if isinstance(alt_txt, str) else None
        )
        return _ok(upload_url=f"{self.base_url}/upload/v1/{file_id}", file_id=file_id)

    def _files_complete_upload(self, params: JsonDict) -> _Answer:
        items = _json_array(params.get("files"))
        if not items or not all(isinstance(item, dict) for item in items):
            return _error("invalid_arguments", ["`files` must be a JSON array of {id, title} objects"])
        uploads = [self._uploads.get(str(item.get("id"))) for item in items]
        if any(u is None or u.content is None or u.completed for u in uploads):
            return _error("file_not_found")
        channels = _channel_list(params)
        if any(not _CHANNEL_ID.match(channel) for channel in channels):
            return _error("channel_not_found")
        comment = params.get("initial_comment") if isinstance(params.get("initial_comment"), str) else None
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        shared = []
        for upload, item in zip(uploads, items, strict=True):
            assert upload is not None  # checked above
            upload.title = str(item.get("title") or upload.filename)
            upload.channels = channels
            upload.initial_comment = comment
            upload.thread_ts = thread_ts
            upload.completed = True
            shared.append(self._file_object(upload))
        for channel in channels:
            message = self._new_message({"text": comment or "", "thread_ts": thread_ts})
            message.update(files=copy.deepcopy(shared), upload=True)
            self._post(channel, message)
        return _ok(files=shared)

    def _file_object(self, upload: UploadedFile) -> JsonDict:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        return {
            "id": upload.id,
            "name": upload.filename,
            "title": upload.title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "binary",
            "size": len(upload.content or b""),
            "user": BOT_USER_ID,
            "channels": list(upload.channels),
            "url_private": f"{self.base_url}/files/{upload.id}/{upload.filename}",
        }

    # ---- views ---------------------------------------------------------------------------------------------------

    def _views_open(self, params: JsonDict) -> _Answer:
        trigger_id = _trigger_param(params)
        refusal = self._trigger_refusal(trigger_id)
        if refusal:
            return refusal
        view = self._acceptable_view(params.get("view"), None)
        if isinstance(view, _Answer):
            return view
        self._triggers[trigger_id].used = True
        view_id = self._next_view_id()
        self._store_view(view, view_id=view_id, root_view_id=view_id, previous_view_id=None, state={"values": {}})
        self._stacks[view_id] = [view_id]
        return _ok(view=self.views(view_id))

    def _views_push(self, params: JsonDict) -> _Answer:
        trigger_id = _trigger_param(params)
        refusal = self._trigger_refusal(trigger_id)
        if refusal:
            return refusal
        stack = self._stack_for(self._triggers[trigger_id].view_id)
        if stack is None:
            return _error("invalid_arguments", ["no open view to push onto for this `trigger_id`"])
        if len(stack) >= VIEW_STACK_DEPTH:
            return _error("push_limit_reached")
        view = self._acceptable_view(params.get("view"), None)
        if isinstance(view, _Answer):
            return view
        self._triggers[trigger_id].used = True
        view_id = self._next_view_id()
        self._store_view(view, view_id=view_id, root_view_id=stack[0], previous_view_id=stack[-1], state={"values": {}})
        stack.append(view_id)
        return _ok(view=self.views(view_id))

    def _views_update(self, params: JsonDict) -> _Answer:
        external_id = params.get("external_id")
        view_id = params.get("view_id") or (
            self._external_ids.get(external_id) if isinstance(external_id, str) else None
        )
        current = self._views.get(view_id) if isinstance(view_id, str) else None
        if current is None:
            return _error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return _error("hash_conflict")
        view = self._acceptable_view(params.get("view"), current["id"])
        if isinstance(view, _Answer):
            return view
        if not view.get("external_id") and current["external_id"]:
            view = {**view, "external_id": current["external_id"]}
        self._forget_view(current["id"])
        self._store_view(
            view,
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
            state=current["state"],
        )
        return _ok(view=self.views(current["id"]))

    def _trigger_refusal(self, trigger_id: str) -> _Answer | None:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return _error("invalid_arguments", ["invalid `trigger_id`"])
        if trigger.used or time.monotonic() - trigger.issued > self.trigger_ttl:
            return _error("expired_trigger_id")
        return None

    def _acceptable_view(self, view: Any, own_view_id: str | None) -> JsonDict | _Answer:
        """The view if Slack would take it, else the refusal Slack would answer with."""
        problems = view_problems(view)
        if problems or not isinstance(view, dict):
            too_large = isinstance(view, dict) and view_size(view) > VIEW_MAX_BYTES
            return _error("view_too_large" if too_large else "invalid_arguments", problems)
        owner = self._external_ids.get(view.get("external_id") or "")
        if owner is not None and owner != own_view_id:
            return _error("duplicate_external_id")
        return view

    def _stack_for(self, view_id: str | None) -> list[str] | None:
        if view_id is None:
            return next(reversed(self._stacks.values()), None)
        return next((stack for stack in self._stacks.values() if view_id in stack), None)

    def _store_view(
        self, view: JsonDict, *, view_id: str, root_view_id: str, previous_view_id: str | None, state: JsonDict
    ) -> None:
        defaults = {
            "team_id": TEAM_ID,
            "callback_id": "",
            "external_id": "",
            "private_metadata": "",
            "clear_on_close": False,
            "notify_on_close": False,
        }
        stored = {
            **defaults,
            **copy.deepcopy(view),
            "id": view_id,
            "blocks": _with_block_ids(view["blocks"]),
            "state": copy.deepcopy(state),
            "hash": self._next_hash(),
            "root_view_id": root_view_id,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = stored
        if stored["external_id"]:
            self._external_ids[stored["external_id"]] = view_id

    def _next_view_id(self) -> str:
        return f"V{next(self._view_numbers):09d}"

    def _next_hash(self) -> str:
        return f"{int(time.time())}.{next(self._hash_numbers):04d}{secrets.token_hex(3)}"

    # ---- response_url --------------------------------------------------------------------------------------------

    def _answer_hook(self, hook_id: str, payload: JsonDict | None) -> _Answer:
        hook = self._hooks.get(hook_id)
        if hook is None:
            return _error("no_service", status=404)
        if time.monotonic() - hook.created > self.response_url_ttl:
            return _error("expired_url", status=404)
        if hook.uses >= RESPONSE_URL_USES:
            return _error("used_url", status=404)
        if payload is None:
            return _error("invalid_payload", status=400)
        refusal = None if payload.get("delete_original") else _message_refusal(payload, status=400)
        if refusal:
            return refusal
        hook.uses += 1
        hook.payloads.append(payload)
        self._apply_response(hook, payload)
        return _ok()

    def _apply_response(self, hook: _Hook, payload: JsonDict) -> None:
        if hook.channel is None:
            return
        original = self._find_message(hook.channel, hook.message_ts)
        if payload.get("delete_original"):
            if original is not None:
                self._messages[hook.channel].remove(original)
        elif payload.get("replace_original") and original is not None:
            self._edit(original, payload)
        elif payload.get("response_type") == "in_channel":
            self._post(hook.channel, self._new_message(payload))
        else:
            self._ephemeral[hook.channel].append(self._new_message(payload))


# ---- request parsing and small helpers ---------------------------------------------------------------------------


async def _read_params(request: web.Request) -> JsonDict:
    """Query string, then the body (JSON or form) on top; JSON-in-a-string arguments decoded."""
    params: JsonDict = dict(request.query)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        params.update(
            {key: value if isinstance(value, str) else getattr(value, "filename", "") for key, value in form.items()}
        )
    else:
        params.update(_parse_body(await request.read(), request.content_type))
    return {key: _decode_json_param(key, value) for key, value in params.items()}


def _parse_body(body: bytes, content_type: str) -> JsonDict:
    if not body.strip():
        return {}
    if content_type == "application/json" or body.lstrip().startswith(b"{"):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise _BadPayload("invalid_json") from error
        if not isinstance(parsed, dict):
            raise _BadPayload("invalid_json")
        return parsed
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError) as error:
        raise _BadPayload("invalid_form_data") from error


def _decode_json_param(key: str, value: Any) -> Any:
    if key not in JSON_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value  # left as a string, so validation reports it


async def _read_hook_payload(request: web.Request) -> JsonDict:
    """JSON, or a form with a `payload` field as incoming webhooks also accept."""
    body = await request.read()
    fields = _parse_body(body, request.content_type)
    if request.content_type != "application/json" and "payload" in fields:
        fields = _parse_body(str(fields["payload"]).encode("utf-8"), "application/json")
    return {key: _decode_json_param(key, value) for key, value in fields.items()}


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _message_refusal(payload: JsonDict, *, status: int = 200) -> _Answer | None:
    problems = message_problems(payload)
    if not problems:
        return None
    return _error("no_text" if TEXT_REQUIRED in problems else "invalid_blocks", problems, status=status)


def _trigger_param(params: JsonDict) -> str:
    trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
    return trigger_id if isinstance(trigger_id, str) else ""


def _with_block_ids(blocks: list[Any]) -> list[Any]:
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


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _json_array(value: Any) -> list[Any] | None:
    """files.completeUploadExternal's `files`: a JSON array, sent as a string in a form body."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, list) else None


def _channel_list(params: JsonDict) -> list[str]:
    channel_id = params.get("channel_id")
    if isinstance(channel_id, str) and channel_id:
        return [channel_id]
    channels = params.get("channels")
    return [c.strip() for c in channels.split(",") if c.strip()] if isinstance(channels, str) else []


def _outcome(call: RecordedCall) -> str:
    return "ok" if call.response.get("ok") else str(call.response.get("error"))


def _user(user_id: str) -> JsonDict:
    name = BOT_USER_NAME if user_id == BOT_USER_ID else user_id.lower()
    real_name = "certops bot" if user_id == BOT_USER_ID else f"Stand-in user {user_id}"
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "real_name": real_name,
        "deleted": False,
        "is_bot": user_id == BOT_USER_ID,
        "tz": USER_TZ,
        "tz_label": "China Standard Time",
        "tz_offset": 8 * 3600,
        "profile": {"real_name": real_name, "display_name": name},
    }


def _channel(channel_id: str) -> JsonDict:
    return {
        "id": channel_id,
        "name": channel_id.lower(),
        "is_channel": channel_id.startswith("C"),
        "is_group": channel_id.startswith("G"),
        "is_im": channel_id.startswith("D"),
        "is_private": not channel_id.startswith("C"),
        "is_archived": False,
        "is_member": True,
        "created": 1700000000,
        "context_team_id": TEAM_ID,
    }
