"""Modal views: views.open, views.push and views.update, with single-use expiring trigger ids, view hashes, external
ids and the view stack."""

from __future__ import annotations

import copy
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.stand_in.answers import Answer, JsonDict, error, ok
from bot.stand_in.chat import with_block_ids
from bot.stand_in.directory import APP_ID, BOT_ID, TEAM_ID
from bot.stand_in.validation import VIEW_MAX_BYTES, view_problems, view_size

VIEW_STACK_DEPTH = 3  # the root view plus 2 pushes


@dataclass
class _Trigger:
    issued: float
    view_id: str | None
    used: bool = False


class ViewStacks:
    """The views open now, each in the stack of its root view, and the trigger ids handed out to open them."""

    def __init__(self, trigger_ttl: float) -> None:
        self.trigger_ttl = trigger_ttl
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, JsonDict] = {}
        self._stacks: dict[str, list[str]] = {}  # root view id -> view ids, root first
        self._external_ids: dict[str, str] = {}
        self._view_numbers = itertools.count(1)
        self._hash_numbers = itertools.count(1)

    def issue_trigger_id(self, view_id: str | None) -> str:
        trigger_id = f"{int(time.time() * 1000)}.{secrets.randbelow(10**10):010d}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(time.monotonic(), view_id)
        return trigger_id

    def forget_expired(self, now: float, retention: float) -> None:
        """Forget trigger ids expired more than `retention` seconds before `now`."""
        self._triggers = {
            key: trigger
            for key, trigger in self._triggers.items()
            if now - trigger.issued <= self.trigger_ttl + retention
        }

    def view(self, view_id: str) -> JsonDict:
        return copy.deepcopy(self._views[view_id])

    def open_views(self) -> list[JsonDict]:
        return [copy.deepcopy(self._views[view_id]) for stack in self._stacks.values() for view_id in stack]

    def close_view(self, view_id: str) -> None:
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

    def views_open(self, params: JsonDict) -> Answer:
        trigger_id = _trigger_param(params)
        refusal = self._trigger_refusal(trigger_id)
        if refusal:
            return refusal
        view = self._acceptable_view(params.get("view"), None)
        if isinstance(view, Answer):
            return view
        self._triggers[trigger_id].used = True
        view_id = self._next_view_id()
        self._store_view(view, view_id=view_id, root_view_id=view_id, previous_view_id=None, state={"values": {}})
        self._stacks[view_id] = [view_id]
        return ok(view=self.view(view_id))

    def views_push(self, params: JsonDict) -> Answer:
        trigger_id = _trigger_param(params)
        refusal = self._trigger_refusal(trigger_id)
        if refusal:
            return refusal
        stack = self._stack_for(self._triggers[trigger_id].view_id)
        if stack is None:
            return error("invalid_arguments", ["no open view to push onto for this `trigger_id`"])
        if len(stack) >= VIEW_STACK_DEPTH:
            return error("push_limit_reached")
        view = self._acceptable_view(params.get("view"), None)
        if isinstance(view, Answer):
            return view
        self._triggers[trigger_id].used = True
        view_id = self._next_view_id()
        self._store_view(view, view_id=view_id, root_view_id=stack[0], previous_view_id=stack[-1], state={"values": {}})
        stack.append(view_id)
        return ok(view=self.view(view_id))

    def views_update(self, params: JsonDict) -> Answer:
        external_id = params.get("external_id")
        view_id = params.get("view_id") or (
            self._external_ids.get(external_id) if isinstance(external_id, str) else None
        )
        current = self._views.get(view_id) if isinstance(view_id, str) else None
        if current is None:
            return error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return error("hash_conflict")
        view = self._acceptable_view(params.get("view"), current["id"])
        if isinstance(view, Answer):
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
        return ok(view=self.view(current["id"]))

    def _trigger_refusal(self, trigger_id: str) -> Answer | None:
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return error("invalid_arguments", ["invalid `trigger_id`"])
        if trigger.used or time.monotonic() - trigger.issued > self.trigger_ttl:
            return error("expired_trigger_id")
        return None

    def _acceptable_view(self, view: Any, own_view_id: str | None) -> JsonDict | Answer:
        """The view if Slack would take it, else the refusal Slack would answer with."""
        problems = view_problems(view)
        if problems or not isinstance(view, dict):
            too_large = isinstance(view, dict) and view_size(view) > VIEW_MAX_BYTES
            return error("view_too_large" if too_large else "invalid_arguments", problems)
        owner = self._external_ids.get(view.get("external_id") or "")
        if owner is not None and owner != own_view_id:
            return error("duplicate_external_id")
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
            "blocks": with_block_ids(view["blocks"]),
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


def _trigger_param(params: JsonDict) -> str:
    trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
    return trigger_id if isinstance(trigger_id, str) else ""
