"""The Combine Certificates dialog: open it, keep its quota current, and combine on submit (C1–C8)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.blocks.combine import (
    ACTION_MORE,
    ACTION_PICK,
    CERTS_BLOCK_PREFIX,
    COMBINE_CALLBACK,
    WAIVER_BLOCK,
    combination_success_message,
    combine_modal,
    more_options,
    parse_combine_state,
)
from bot.blocks.common import esc, section
from bot.blocks.instances import ACTION_COMBINE_OPEN
from bot.context import BotContext
from bot.listeners.replies import load_if_allowed, open_view
from core.errors import CertopsError, RuleViolation
from core.model import WAIVER_TEXT, Instance
from core.rules.access import Permission
from core.rules.combine import Candidates
from core.services.combine import CombineOutcome, candidates, combine

log = logging.getLogger(__name__)
FIRST_CERTS_BLOCK = f"{CERTS_BLOCK_PREFIX}0"
ERROR_LIMIT = 2000


def _metadata(instance_id: str, channel_id: str) -> str:
    return json.dumps({"i": instance_id, "c": channel_id})


def _selected(found: Candidates, ids: list[str]) -> list[Instance]:
    wanted = set(ids)
    return [i for i in found.eligible if i.id in wanted]


async def open_dialog(
    ctx: BotContext, instance_id: str, user_id: str, channel_id: str, trigger_id: str, respond: AsyncRespond
) -> None:
    attempt = f"open combine dialog for {instance_id}"
    found = await load_if_allowed(
        ctx, respond, Permission.COMBINE, user_id, attempt, candidates, ctx.ports, instance_id
    )
    if found is None:
        return
    await open_view(ctx, respond, trigger_id, combine_modal(found, private_metadata=_metadata(instance_id, channel_id)))


async def refresh_quota(ctx: BotContext, body: dict[str, Any]) -> None:
    """A box was ticked: show the combined quota for the new selection, keeping what the user chose."""
    view = body["view"]
    meta = json.loads(view["private_metadata"])
    selected_ids, _ = parse_combine_state(view["state"]["values"])
    found = await ctx.offload(candidates, ctx.ports, meta["i"])
    updated = combine_modal(found, _selected(found, selected_ids), private_metadata=view["private_metadata"])
    try:
        await ctx.client.views_update(view_id=view["id"], hash=view["hash"], view=updated)
    except SlackApiError as error:
        if error.response.get("error") != "hash_conflict":  # a newer update already won: nothing to do
            raise


def _form_errors(instance_id: str, selected_ids: list[str], waiver: bool) -> dict[str, str]:
    errors = {}
    if not selected_ids:
        errors[FIRST_CERTS_BLOCK] = f"Select at least one instance to combine with {instance_id} (C8)."
    if not waiver:
        errors[WAIVER_BLOCK] = f"Tick “{WAIVER_TEXT}” to combine: combining is irreversible (C7)."
    return errors


def _rule_errors(error: CertopsError) -> dict[str, str]:
    reasons = error.reasons if isinstance(error, RuleViolation) else []
    text = " ".join(str(reason) for reason in reasons) or str(error)
    return {FIRST_CERTS_BLOCK: text[:ERROR_LIMIT]}


async def submit(ctx: BotContext, ack: AsyncAck, body: dict[str, Any]) -> None:
    view = body["view"]
    meta = json.loads(view["private_metadata"])
    user_id = body["user"]["id"]
    selected_ids, waiver = parse_combine_state(view["state"]["values"])
    errors = _form_errors(meta["i"], selected_ids, waiver)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    denied = await ctx.allowed(Permission.COMBINE, user_id, f"combine {meta['i']} with {', '.join(selected_ids)}")
    if denied is not None:
        await ack(response_action="errors", errors={WAIVER_BLOCK: denied.message[:ERROR_LIMIT]})
        return
    try:
        outcome = await ctx.offload(combine, ctx.ports, meta["i"], selected_ids, actor=user_id, accept_no_refund=True)
    except CertopsError as error:
        await ack(response_action="errors", errors=_rule_errors(error))
        return
    await ack()
    if outcome.handover is not None:
        await hand_over(ctx, outcome, user_id=user_id)
        return
    await announce(ctx, outcome, channel=meta.get("c") or user_id, user_id=user_id)


async def hand_over(ctx: BotContext, outcome: CombineOutcome, *, user_id: str) -> None:
    """The provider cannot combine by API: the person who confirmed the waiver gets the console steps."""
    text = f"Refund waiver recorded. Finish the combination in the console: {outcome.handover}"
    key = f"posted:handover:{outcome.plan.current_id}:{','.join(outcome.plan.source_ids)}"
    await ctx.post_once(key, channel=user_id, text=esc(text, 3000), blocks=[section(esc(text, 2900))])


async def announce(ctx: BotContext, outcome: CombineOutcome, *, channel: str, user_id: str) -> None:
    assert outcome.instance is not None and outcome.combination is not None
    text, blocks = combination_success_message(outcome.instance, outcome.combination)
    key = f"posted:combine:{outcome.combination.id}"
    await ctx.post_once(key, channel=channel, text=text, blocks=blocks, fallback=user_id)


def register(app: AsyncApp, ctx: BotContext) -> None:
    async def on_open(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id", "")
        await open_dialog(ctx, body["actions"][0]["value"], body["user"]["id"], channel, body["trigger_id"], respond)

    async def on_pick(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await refresh_quota(ctx, body)

    async def on_more_options(ack: AsyncAck, body: dict[str, Any]) -> None:
        meta = json.loads(body["view"]["private_metadata"])
        try:
            found = await ctx.offload(candidates, ctx.ports, meta["i"])
        except CertopsError:
            await ack(options=[])
            return
        options = more_options(found.eligible, str(body.get("value") or ""))
        await ack(options=[option.to_dict() for option in options])

    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        await submit(ctx, ack, body)

    app.action(ACTION_COMBINE_OPEN)(on_open)
    app.action(ACTION_PICK)(on_pick)
    app.action(ACTION_MORE)(on_pick)
    app.options(ACTION_MORE)(on_more_options)
    app.view(COMBINE_CALLBACK)(on_submit)
