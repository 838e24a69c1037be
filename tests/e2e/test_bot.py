"""The combine-and-apply conversation through signed HTTP against the running bot and the Web API stand-in."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.blocks.apply import CONTACT_EMAIL_BLOCK, DOMAINS_BLOCK
from bot.blocks.combine import MORE_BLOCK, WAIVER_BLOCK
from bot.blocks.instances import ACTION_COMBINE_OPEN, ACTION_STATUS
from core.model import InstanceStatus
from core.services.instances import import_instances
from tests.e2e.chat import ALICE, BOB, CAROL, CHANNEL, Chat, checkbox_values, running_bot, stock, text_values
from tests.factories import make_instance

FORM = {
    "company": "Example Trading Ltd",
    "company_phone": "+86 571 8502 2088",
    "company_address": "969 West Wen Yi Road, Hangzhou",
    "company_registration": "91330100MA27XXXX1X",
    "contact_name": "Alice Chen",
    "contact_email": "alice@example.com",
    "contact_phone": "+86 138 0000 0000",
    "key_algorithm": "ECC_256",
}


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    stock(tmp_path / "data")
    async with running_bot(tmp_path / "data") as running:
        yield running


def _waiver(view: dict[str, Any], accepted: bool) -> dict[str, Any]:
    return checkbox_values(view, {WAIVER_BLOCK: ["accepted"] if accepted else []})


def _picks(view: dict[str, Any], ids: list[str], *, waiver: bool = True) -> dict[str, Any]:
    certs = {b["block_id"]: ids for b in view["blocks"] if b["block_id"].startswith("certs_")}
    values = checkbox_values(view, {**certs, WAIVER_BLOCK: ["accepted"] if waiver else []})
    return values


async def _combine_dialog(chat: Chat, instance_id: str = "cas-ov-1001") -> dict[str, Any]:
    opened = len(chat.slack.calls_to("views.open"))
    reply, _ = await chat.command(f"combine {instance_id}")
    assert reply.status == 200
    return await chat.opened_view(count=opened + 1)


# ---- requests Slack did not sign ---------------------------------------------------------------------------


async def test_badly_signed_and_stale_requests_are_refused(chat: Chat) -> None:
    body = urlencode(
        {
            "command": "/cert",
            "text": "help",
            "user_id": ALICE,
            "channel_id": CHANNEL,
            "response_url": chat.slack.response_url(),
            "trigger_id": chat.slack.issue_trigger_id(),
        }
    )
    good = await chat.sender.post(body)
    assert good.status == 200
    stale = await chat.sender.post(body, timestamp=int(time.time()) - 400)
    assert stale.status == 401
    forged = await chat.sender.post(body, headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert forged.status == 401


# ---- /cert -------------------------------------------------------------------------------------------------


async def test_help_lists_only_what_the_caller_may_run(chat: Chat) -> None:
    _, alice_url = await chat.command("help", user=ALICE)
    _, bob_url = await chat.command("help", user=BOB)
    alice = json.dumps(await chat.answer(alice_url))
    bob = json.dumps(await chat.answer(bob_url))
    assert "/cert combine" in alice and "/cert apply" in alice
    assert "/cert combine" not in bob and "/cert apply" not in bob and "/cert status" in bob


async def test_unknown_subcommand_says_what_is_valid(chat: Chat) -> None:
    _, url = await chat.command("merge cas-ov-1001")
    answer = await chat.answer(url)
    assert answer["response_type"] == "ephemeral"
    assert "combine" in answer["text"] and "`/cert merge`" in answer["text"]


async def test_list_shows_the_console_actions_as_buttons(chat: Chat) -> None:
    _, url = await chat.command("list pending_application DigiCert OV")
    answer = json.dumps(await chat.answer(url))
    assert ACTION_COMBINE_OPEN in answer and "cas-ov-1002" in answer and "cas-ov-1006" not in answer


async def test_status_of_an_unknown_id_is_a_clear_message(chat: Chat) -> None:
    _, url = await chat.command("status cas-nope")
    assert "no instance cas-nope" in (await chat.answer(url))["text"]


# ---- combine -----------------------------------------------------------------------------------------------


async def test_combine_happy_path_records_waiver_and_posts_success(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    reply = await chat.sender.submit(view, _picks(view, ["cas-ov-1002", "cas-ov-1003"]), user=ALICE)
    assert reply.status == 200 and reply.json() is None  # the dialog closes
    posts = await chat.slack.wait_for("chat.postMessage")
    assert posts[0].params["channel"] == CHANNEL and "cas-merge" in posts[0].params["text"]
    instances = chat.instances()
    merged = [i for i in instances.values() if i.merged_from]
    assert len(merged) == 1 and (merged[0].exact_quota, merged[0].wildcard_quota) == (5, 2)
    assert instances["cas-ov-1002"].status is InstanceStatus.COMBINED
    combine_entries = [e for e in chat.ports.audit.entries() if e.action == "combine"]
    assert [e.actor for e in combine_entries] == [ALICE]
    assert "not eligible for refunds" in str(combine_entries[0].details["waiver_text"])


async def test_success_goes_to_the_user_when_the_bot_is_not_in_the_channel(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    chat.slack.fail("chat.postMessage", "not_in_channel", times=1)
    await chat.sender.submit(view, _picks(view, ["cas-ov-1002"]), user=ALICE)
    posts = await chat.slack.wait_for("chat.postMessage", count=2)
    assert [p.params["channel"] for p in posts] == [CHANNEL, ALICE]
    assert posts[1].response["ok"] and "cas-merge" in posts[1].params["text"]


async def test_submitting_without_the_waiver_changes_nothing(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    before = chat.instances()
    reply = await chat.sender.submit(view, _picks(view, ["cas-ov-1002"], waiver=False), user=ALICE)
    assert reply.json()["response_action"] == "errors"
    assert set(reply.json()["errors"]) == {WAIVER_BLOCK}
    assert chat.instances() == before


async def test_submitting_with_nothing_selected_points_at_the_checkboxes(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    reply = await chat.sender.submit(view, _picks(view, []), user=ALICE)
    errors = reply.json()["errors"]
    assert list(errors) == ["certs_0"] and "C8" in errors["certs_0"]


async def test_double_submit_combines_and_posts_once(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    values = _picks(view, ["cas-ov-1002"])
    replies = await asyncio.gather(*(chat.sender.submit(view, values, user=ALICE) for _ in range(3)))
    assert all(r.status == 200 for r in replies)
    await chat.slack.wait_for("chat.postMessage")
    await asyncio.sleep(0.3)
    assert len(chat.slack.calls_to("chat.postMessage")) == 1
    assert sum(1 for i in chat.instances().values() if i.merged_from) == 1
    assert [a for _, a in chat.audit_actions()].count("combine") == 1


async def test_ticking_a_box_updates_the_combined_quota(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    values = _picks(view, ["cas-ov-1002"])
    action = {"type": "checkboxes", "action_id": "pick", "block_id": "certs_0", "action_ts": "1"}
    reply = await chat.sender.view_action(view, action, values, user=ALICE)
    assert reply.status == 200
    update = (await chat.slack.wait_for("views.update"))[0]
    assert "5 exact + 1 wildcard" in json.dumps(update.params["view"])


async def test_unauthorized_user_is_told_why_and_the_attempt_is_audited(chat: Chat) -> None:
    _, url = await chat.command("combine cas-ov-1001", user=BOB)
    answer = await chat.answer(url)
    assert "may not combine" in answer["text"] and "CERTOPS_COMBINERS" in answer["text"]
    assert chat.slack.calls_to("views.open") == []
    assert (BOB, "denied") in chat.audit_actions()


async def test_unauthorized_submission_changes_nothing(chat: Chat) -> None:
    view = await _combine_dialog(chat)
    before = chat.instances()
    reply = await chat.sender.submit(view, _picks(view, ["cas-ov-1002"]), user=BOB)
    assert "may not combine" in reply.json()["errors"][WAIVER_BLOCK]
    assert chat.instances() == before


@pytest.mark.parametrize("extra", [11, 30, 300], ids=["11-eligible", "30-eligible", "300-eligible"])
async def test_large_inventories_get_a_valid_usable_dialog(tmp_path: Path, extra: int) -> None:
    data_dir = tmp_path / "data"
    stock(data_dir)
    async with running_bot(data_dir) as chat:
        records = [
            make_instance(id=f"cas-ov-9{n:03d}", name=f"bulk {n}", exact_quota=2).model_dump(mode="json")
            for n in range(extra)
        ]
        await asyncio.to_thread(import_instances, chat.ports, records, "setup")
        view = await _combine_dialog(chat)
        last = f"cas-ov-9{extra - 1:03d}"
        values = _picks(view, ["cas-ov-1002"])
        if any(b["block_id"] == MORE_BLOCK for b in view["blocks"]):
            found = await chat.sender.options(view, "more_pick", MORE_BLOCK, last, user=ALICE)
            option = next(o for o in found.json()["options"] if o["value"] == last)
            values[MORE_BLOCK] = {"more_pick": {"type": "multi_external_select", "selected_options": [option]}}
        else:
            values = _picks(view, ["cas-ov-1002", last])
        reply = await chat.sender.submit(view, values, user=ALICE)
        assert reply.status == 200 and reply.json() is None
        assert chat.instances()[last].status is InstanceStatus.COMBINED


# ---- apply -------------------------------------------------------------------------------------------------


async def _merged(chat: Chat) -> str:
    view = await _combine_dialog(chat)
    await chat.sender.submit(view, _picks(view, ["cas-ov-1002", "cas-ov-1003"]), user=ALICE)
    await chat.slack.wait_for("chat.postMessage")
    return next(i.id for i in chat.instances().values() if i.merged_from)


async def _apply_dialog(chat: Chat, instance_id: str, user: str = ALICE) -> dict[str, Any]:
    opened = len(chat.slack.calls_to("views.open"))
    await chat.click("apply_open", instance_id, user=user)
    return await chat.opened_view(count=opened + 1)


BAD_DOMAINS = [
    ("*.*.example.com", "A3"),
    ("bad_label.example.com", "A5"),
    ("-edge.example.com", "A5"),
    ("localhost", "A5"),
    ("a.example.com\nA.EXAMPLE.COM", "A5"),
    ("\n".join(f"n{i}.example.com" for i in range(6)), "A1"),
    ("*.a.com\n*.b.com\n*.c.com", "A1"),
]


@pytest.mark.parametrize(("domains", "rule"), BAD_DOMAINS, ids=[
    "double-wildcard", "underscore", "leading-hyphen", "single-label", "duplicate", "exact-quota", "wildcard-quota",
])  # fmt: skip
async def test_apply_with_a_bad_domain_comes_back_inline(chat: Chat, domains: str, rule: str) -> None:
    merged = await _merged(chat)
    view = await _apply_dialog(chat, merged)
    reply = await chat.sender.submit(view, text_values(view, {**FORM, DOMAINS_BLOCK: domains}), user=ALICE)
    errors = reply.json()["errors"]
    assert rule in errors[DOMAINS_BLOCK]
    assert chat.instances()[merged].status is InstanceStatus.PENDING_APPLICATION


async def test_apply_with_a_bad_email_points_at_the_email_field(chat: Chat) -> None:
    merged = await _merged(chat)
    view = await _apply_dialog(chat, merged)
    form = {**FORM, CONTACT_EMAIL_BLOCK: "alice-at-example", DOMAINS_BLOCK: "shop.example.com"}
    reply = await chat.sender.submit(view, text_values(view, form), user=ALICE)
    assert CONTACT_EMAIL_BLOCK in reply.json()["errors"]


async def test_apply_happy_path_posts_the_records_in_a_thread(chat: Chat) -> None:
    merged = await _merged(chat)
    view = await _apply_dialog(chat, merged)
    domains = "*.example.com\nexample.com\nshop.example.com\nbücher.example.de"
    values = text_values(view, {**FORM, DOMAINS_BLOCK: domains})
    replies = await asyncio.gather(*(chat.sender.submit(view, values, user=ALICE) for _ in range(2)))
    assert [r.json() for r in replies] == [None, None]
    posts = await chat.slack.wait_for("chat.postMessage", count=2)
    submitted = posts[1]
    assert submitted.params["channel"] == CHANNEL
    assert "_dnsauth.shop.example.com" in json.dumps(submitted.params["blocks"])
    await asyncio.sleep(0.3)
    assert len(chat.slack.calls_to("chat.postMessage")) == 2
    with chat.ports.unit_of_work(read_only=True) as uow:
        application = uow.applications.latest_for_instance(merged)
    assert application is not None and application.actor == ALICE and application.id.endswith("-a1")
    assert application.thread is not None and application.thread.ts == submitted.response["ts"]
    assert chat.instances()[merged].status is InstanceStatus.REVIEWING


async def test_a_user_group_member_may_apply_but_not_combine(chat: Chat) -> None:
    view = await _apply_dialog(chat, "cas-ov-1004", user=CAROL)
    values = text_values(view, {**FORM, DOMAINS_BLOCK: "portal.example.com"})
    reply = await chat.sender.submit(view, values, user=CAROL)
    assert reply.json() is None
    _, url = await chat.command("combine cas-ov-1001", user=CAROL)
    assert "may not combine" in (await chat.answer(url))["text"]


async def test_status_button_answers_with_the_stage(chat: Chat) -> None:
    _, url = await chat.click(ACTION_STATUS, "cas-ov-1006")
    assert "cas-ov-1006" in json.dumps(await chat.answer(url))


async def test_rate_limited_posts_are_retried_after_retry_after(chat: Chat) -> None:
    chat.slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    view = await _combine_dialog(chat)
    await chat.sender.submit(view, _picks(view, ["cas-ov-1002"]), user=ALICE)
    posts = await chat.slack.wait_for("chat.postMessage", count=2, timeout=10)
    assert [p.status for p in posts] == [429, 200]


async def test_an_expired_trigger_id_gets_a_retry_hint(chat: Chat) -> None:
    url = chat.slack.response_url()
    trigger = chat.slack.issue_trigger_id()
    chat.slack.trigger_ttl = 0.0
    await chat.sender.command("combine cas-ov-1001", user=ALICE, channel=CHANNEL, trigger_id=trigger, response_url=url)
    assert "could not be opened" in (await chat.answer(url))["text"]


# ---- events ------------------------------------------------------------------------------------------------


async def test_a_redelivered_event_is_handled_once(chat: Chat) -> None:
    event = {"type": "app_mention", "user": ALICE, "text": "<@U0CERTBOT> status cas-ov-1001", "ts": "1.0",
             "channel": CHANNEL, "event_ts": "1.0"}  # fmt: skip
    first = await chat.sender.event(event, event_id="Ev0001")
    again = await chat.sender.event(event, event_id="Ev0001", retry_num=1)
    assert (first.status, again.status) == (200, 200)
    await chat.slack.wait_for("chat.postMessage")
    await asyncio.sleep(0.3)
    assert len(chat.slack.calls_to("chat.postMessage")) == 1


# ---- reports -----------------------------------------------------------------------------------------------


async def test_report_command_posts_summary_charts_and_html(chat: Chat) -> None:
    _, url = await chat.command("report backlog", user=BOB)
    assert "Running the backlog report" in (await chat.answer(url))["text"]
    await chat.slack.wait_for("files.completeUploadExternal", timeout=60)
    uploads = [u for u in chat.slack.uploads() if u.completed]
    names = [u.filename for u in uploads]
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".html") for n in names)
    shared = chat.slack.calls_to("files.completeUploadExternal")[0]
    assert shared.params["channel_id"] == CHANNEL and "Backlog" in str(shared.params.get("initial_comment"))


async def test_report_command_with_an_unknown_report_says_which_exist(chat: Chat) -> None:
    _, url = await chat.command("report sales")
    assert "report backlog" in (await chat.answer(url))["text"]
