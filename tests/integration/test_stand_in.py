"""The Slack Web API stand-in over real HTTP, driven by slack_sdk's own AsyncWebClient and AsyncWebhookClient."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.stand_in import SlackStandIn, message_problems, view_problems
from bot.stand_in.__main__ import main as stand_in_main

TOKEN = "xoxb-test-token"
CHANNEL = "C0CERTOPS"
REPO = Path(__file__).resolve().parents[2]
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
TS = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk applies proxy env vars even to loopback URLs (docs/slack.md 1.3).
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")  # the "text is missing" UserWarning; the stand-in refuses anyway


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(token=TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url)


# ---- building blocks ---------------------------------------------------------------------------------------------


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def section(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def option(n: int, **extra: Any) -> dict[str, Any]:
    return {"text": plain(f"CERT-{n:04d}"), "value": f"CERT-{n:04d}", **extra}


def checkboxes(count: int, **extra: Any) -> dict[str, Any]:
    return {"type": "checkboxes", "action_id": "pick", "options": [option(n) for n in range(count)], **extra}


def input_block(element: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    element = element or {"type": "plain_text_input", "action_id": "note"}
    return {"type": "input", "block_id": "note", "label": plain("Note"), "element": element, **extra}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Combine & apply"), "submit": plain("Apply"), "blocks": blocks, **extra}


async def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as raised:
        await call
    return dict(raised.value.response.data)


# ---- auth and plumbing -------------------------------------------------------------------------------------------


async def test_auth_test_answers_like_slack(client: AsyncWebClient, slack: SlackStandIn) -> None:
    response = await client.auth_test()

    assert response["ok"] is True
    assert (response["team_id"], response["user_id"], response["bot_id"]) == ("T0CERTOPS", "U0CERTBOT", "B0CERTBOT")
    assert "chat:write" in response.headers["x-oauth-scopes"]
    assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")


async def test_a_wrong_token_is_invalid_auth_with_http_200(slack: SlackStandIn) -> None:
    error = await api_error(AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test())

    assert error == {"ok": False, "error": "invalid_auth"}
    assert slack.calls[0].status == 200


async def test_an_unknown_method_is_unknown_method(client: AsyncWebClient) -> None:
    assert (await api_error(client.api_call("certs.combine")))["error"] == "unknown_method"


async def test_form_encoded_blocks_are_decoded_and_recorded(client: AsyncWebClient, slack: SlackStandIn) -> None:
    blocks = [section("form")]
    await client.api_call("chat.postMessage", data={"channel": CHANNEL, "text": "hi", "blocks": json.dumps(blocks)})

    assert slack.calls_to("chat.postMessage")[0].params["blocks"] == blocks


async def test_get_with_query_params_reaches_users_info(client: AsyncWebClient) -> None:
    user = (await client.users_info(user="U0ALICE01"))["user"]

    assert (user["id"], user["tz"]) == ("U0ALICE01", "Asia/Shanghai")
    assert (await api_error(client.users_info(user="nobody")))["error"] == "user_not_found"


async def test_conversations_info_returns_a_minimal_channel(client: AsyncWebClient) -> None:
    channel = (await client.conversations_info(channel=CHANNEL))["channel"]

    assert (channel["id"], channel["is_channel"]) == (CHANNEL, True)


async def test_usergroup_members_come_from_add_usergroup(client: AsyncWebClient, slack: SlackStandIn) -> None:
    slack.add_usergroup("S0APPROVE", ["U0CAROL01", "U0DAVE001"])

    assert (await client.usergroups_users_list(usergroup="S0APPROVE"))["users"] == ["U0CAROL01", "U0DAVE001"]
    assert (await api_error(client.usergroups_users_list(usergroup="S0NOPE")))["error"] == "no_such_subteam"


# ---- messages ----------------------------------------------------------------------------------------------------


async def test_a_valid_message_is_stored_with_an_increasing_ts(client: AsyncWebClient, slack: SlackStandIn) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="status", blocks=[section("REQ-4242 pending")])
    reply = await client.chat_postMessage(channel=CHANNEL, text="nudge", thread_ts=first["ts"])

    assert TS.match(first["ts"]) and float(reply["ts"]) > float(first["ts"])
    assert first["message"]["blocks"][0]["block_id"]  # Slack fills in missing block_ids
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["status"]
    assert [m["text"] for m in slack.thread(CHANNEL, first["ts"])] == ["nudge"]
    assert slack.messages(CHANNEL)[0]["reply_count"] == 1


async def test_chat_update_edits_a_known_message_only(client: AsyncWebClient, slack: SlackStandIn) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="pending")

    updated = await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="applied")
    missing = await api_error(client.chat_update(channel=CHANNEL, ts="1.000001", text="x"))

    assert updated["message"]["text"] == "applied" and slack.messages(CHANNEL)[0]["text"] == "applied"
    assert missing["error"] == "message_not_found"


async def test_post_ephemeral_answers_message_ts(client: AsyncWebClient, slack: SlackStandIn) -> None:
    response = await client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE01", text="only you")

    assert TS.match(response["message_ts"])
    assert slack.ephemeral_messages(CHANNEL)[0]["user"] == "U0ALICE01"


@pytest.mark.parametrize(
    ("message", "error", "expected"),
    [
        pytest.param(
            {"blocks": [section()]},
            "no_text",
            "[ERROR] text is required as the notification fallback [json-pointer:/text]",
            id="no-text",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "actions", "elements": [checkboxes(11)]}]},
            "invalid_blocks",
            "[ERROR] must be less than 11 items [json-pointer:/blocks/0/elements/0/options]",
            id="11-checkbox-options",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "divider"}] * 51},
            "invalid_blocks",
            "[ERROR] must be less than 51 items [json-pointer:/blocks]",
            id="51-blocks",
        ),
        pytest.param(
            {"text": "t", "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3001}]}]},
            "invalid_blocks",
            "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/elements/0/text]",
            id="text-3001-chars",
        ),
        pytest.param(
            {"text": "t", "blocks": [section(block_id="status"), section(block_id="status")]},
            "invalid_blocks",
            "[ERROR] duplicate block_id `status` (first used at /blocks/0) [json-pointer:/blocks/1/block_id]",
            id="duplicate-block-id",
        ),
    ],
)
async def test_invalid_messages_are_refused_with_json_pointers(
    client: AsyncWebClient, slack: SlackStandIn, message: dict[str, Any], error: str, expected: str
) -> None:
    response = await api_error(client.chat_postMessage(channel=CHANNEL, **message))

    assert response["error"] == error
    assert expected in response["response_metadata"]["messages"]
    assert slack.messages(CHANNEL) == []


# ---- views -------------------------------------------------------------------------------------------------------


async def test_views_open_with_a_fresh_trigger_id(client: AsyncWebClient, slack: SlackStandIn) -> None:
    view = (await client.views_open(trigger_id=slack.issue_trigger_id(), view=modal([input_block()])))["view"]

    assert view["id"].startswith("V") and view["hash"]
    assert view["state"] == {"values": {}} and view["root_view_id"] == view["id"]
    assert view["blocks"][0]["block_id"] == "note"
    assert slack.views(view["id"]) == view
    assert [v["id"] for v in slack.open_views()] == [view["id"]]


async def _unknown_trigger(slack: SlackStandIn, client: AsyncWebClient) -> str:
    return "1700000000000.1111111111.0123456789abcdef"


async def _used_trigger(slack: SlackStandIn, client: AsyncWebClient) -> str:
    trigger_id = slack.issue_trigger_id()
    await client.views_open(trigger_id=trigger_id, view=modal([section()]))
    slack.close_view(slack.open_views()[0]["id"])
    return trigger_id


async def _expired_trigger(slack: SlackStandIn, client: AsyncWebClient) -> str:
    slack.trigger_ttl = 0.05
    trigger_id = slack.issue_trigger_id()
    await asyncio.sleep(0.1)
    return trigger_id


@pytest.mark.parametrize(
    ("make_trigger", "error", "messages"),
    [
        pytest.param(_unknown_trigger, "invalid_arguments", ["invalid `trigger_id`"], id="unknown"),
        pytest.param(_used_trigger, "expired_trigger_id", None, id="reused"),
        pytest.param(_expired_trigger, "expired_trigger_id", None, id="expired"),
    ],
)
async def test_views_open_refuses_bad_trigger_ids(
    client: AsyncWebClient,
    slack: SlackStandIn,
    make_trigger: Callable[[SlackStandIn, AsyncWebClient], Awaitable[str]],
    error: str,
    messages: list[str] | None,
) -> None:
    trigger_id = await make_trigger(slack, client)

    response = await api_error(client.views_open(trigger_id=trigger_id, view=modal([section()])))

    assert response["error"] == error
    assert response.get("response_metadata", {}).get("messages") == messages
    assert slack.open_views() == []


@pytest.mark.parametrize(
    ("view", "error", "expected"),
    [
        pytest.param(
            modal([input_block()], submit=None),
            "invalid_arguments",
            "[ERROR] must define submit to use input block [json-pointer:/view/blocks/0/input]",
            id="input-without-submit",
        ),
        pytest.param(
            modal([{"type": "divider"}] * 101),
            "invalid_arguments",
            "[ERROR] views must contain between 1 and 100 blocks [json-pointer:/view/blocks]",
            id="101-blocks",
        ),
        pytest.param(
            modal([input_block({"type": "plain_text_input", "action_id": "a", "max_length": 3001})]),
            "invalid_arguments",
            "[ERROR] must be an integer from 1 to 3000 [json-pointer:/view/blocks/0/element/max_length]",
            id="max-length-3001",
        ),
        pytest.param(
            modal([section("x" * 3000, block_id=f"b{n}") for n in range(90)]),
            "view_too_large",
            "[json-pointer:/view]",
            id="over-250kB",
        ),
    ],
)
async def test_invalid_views_are_refused(
    client: AsyncWebClient, slack: SlackStandIn, view: dict[str, Any], error: str, expected: str
) -> None:
    view = {key: value for key, value in view.items() if value is not None}
    response = await api_error(client.views_open(trigger_id=slack.issue_trigger_id(), view=view))

    assert response["error"] == error
    assert any(expected in message for message in response["response_metadata"]["messages"])


async def test_views_update_checks_the_hash(client: AsyncWebClient, slack: SlackStandIn) -> None:
    opened = (await client.views_open(trigger_id=slack.issue_trigger_id(), view=modal([section("Loading…")])))["view"]

    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section("Ready")]))
    stale = await api_error(client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section()])))
    missing = await api_error(client.views_update(view_id="V999", view=modal([section()])))

    assert updated["view"]["hash"] != opened["hash"]
    assert slack.views(opened["id"])["blocks"][0]["text"]["text"] == "Ready"
    assert (stale["error"], missing["error"]) == ("hash_conflict", "not_found")


async def test_views_push_allows_two_views_on_the_stack(client: AsyncWebClient, slack: SlackStandIn) -> None:
    root = (await client.views_open(trigger_id=slack.issue_trigger_id(), view=modal([section("root")])))["view"]
    for _ in range(2):
        await client.views_push(trigger_id=slack.issue_trigger_id(root["id"]), view=modal([section("pushed")]))

    third = await api_error(client.views_push(trigger_id=slack.issue_trigger_id(), view=modal([section()])))

    assert third["error"] == "push_limit_reached"
    stack = slack.open_views()
    assert [v["root_view_id"] for v in stack] == [root["id"]] * 3
    assert stack[2]["previous_view_id"] == stack[1]["id"]
    slack.close_view(root["id"])
    assert slack.open_views() == []


# ---- forced errors and latency -----------------------------------------------------------------------------------


async def test_a_429_is_retried_after_retry_after(client: AsyncWebClient, slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))

    started = time.monotonic()
    response = await client.chat_postMessage(channel=CHANNEL, text="nudge")

    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [(c.status, c.response.get("error")) for c in slack.calls_to("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, None),
    ]


async def test_without_a_retry_handler_the_429_surfaces(client: AsyncWebClient, slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=CHANNEL, text="nudge")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert (await client.chat_postMessage(channel=CHANNEL, text="again"))["ok"] is True


async def test_fail_forces_an_error_a_given_number_of_times(client: AsyncWebClient, slack: SlackStandIn) -> None:
    slack.fail("users.info", "user_not_found", times=2)

    errors = [(await api_error(client.users_info(user="U0ALICE01")))["error"] for _ in range(2)]

    assert errors == ["user_not_found"] * 2
    assert (await client.users_info(user="U0ALICE01"))["ok"] is True


async def test_latency_delays_every_answer(client: AsyncWebClient, slack: SlackStandIn) -> None:
    slack.latency = 0.3

    started = time.monotonic()
    await client.auth_test()

    assert time.monotonic() - started >= 0.3


# ---- response_url ------------------------------------------------------------------------------------------------


async def test_a_response_url_takes_five_posts(slack: SlackStandIn) -> None:
    url = slack.response_url()
    webhook = AsyncWebhookClient(url)

    statuses = [(await webhook.send(text=f"answer {n}")).status_code for n in range(5)]
    sixth = await webhook.send(text="one too many")

    assert statuses == [200] * 5
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [p["text"] for p in slack.responses(url)] == [f"answer {n}" for n in range(5)]
    assert len(slack.calls_to("response_url")) == 6


async def test_a_response_url_refuses_invalid_messages(slack: SlackStandIn) -> None:
    url = slack.response_url()
    webhook = AsyncWebhookClient(url)

    no_text = await webhook.send(blocks=[section()])
    bad_blocks = await webhook.send(text="t", blocks=[{"type": "divider"}] * 51)

    assert (no_text.status_code, no_text.body) == (400, "no_text")
    assert (bad_blocks.status_code, bad_blocks.body) == (400, "invalid_blocks")
    assert slack.responses(url) == []


async def test_a_bound_response_url_replaces_the_original(client: AsyncWebClient, slack: SlackStandIn) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="pending")
    webhook = AsyncWebhookClient(slack.response_url(CHANNEL, posted["ts"]))

    await webhook.send(text="applied", replace_original=True)

    assert [m["text"] for m in slack.messages(CHANNEL)] == ["applied"]


async def test_an_expired_response_url_is_refused() -> None:
    async with SlackStandIn(token=TOKEN, response_url_ttl=0.0) as slack:
        reply = await AsyncWebhookClient(slack.response_url()).send(text="late")

    assert (reply.status_code, reply.body) == (404, "expired_url")


# ---- waiting -----------------------------------------------------------------------------------------------------


async def test_wait_for_returns_once_the_calls_arrive(client: AsyncWebClient, slack: SlackStandIn) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel=CHANNEL, text="later")

    task = asyncio.create_task(post_later())
    calls = await slack.wait_for("chat.postMessage", timeout=2.0)
    await task

    assert calls[0].params["text"] == "later"


async def test_wait_for_times_out_with_what_was_received(client: AsyncWebClient, slack: SlackStandIn) -> None:
    await client.auth_test()

    with pytest.raises(AssertionError, match=r"expected 1 call\(s\) to views.open within 0.1s, got 0; received: auth"):
        await slack.wait_for("views.open", timeout=0.1)

    slack.clear()
    assert slack.calls == []


# ---- validation as a library -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        pytest.param(
            modal([input_block(checkboxes(2, initial_options=[option(5)]))]),
            "[ERROR] must exactly match an entry of `options` [json-pointer:/view/blocks/0/element/initial_options/0]",
            id="initial-option-not-offered",
        ),
        pytest.param(
            modal([section(fields=[{"type": "mrkdwn", "text": "x" * 2001}])]),
            "[ERROR] must be less than 2001 characters [json-pointer:/view/blocks/0/fields/0/text]",
            id="field-2001-chars",
        ),
        pytest.param(
            modal(
                [
                    input_block(
                        {"type": "radio_buttons", "action_id": "r", "options": [option(1, description=plain("d" * 76))]}
                    )
                ]
            ),
            "[ERROR] must be less than 76 characters [json-pointer:/view/blocks/0/element/options/0/description/text]",
            id="option-description-76",
        ),
        pytest.param(
            modal([{"type": "input", "element": {"type": "plain_text_input", "action_id": "a"}}]),
            "[ERROR] missing required field: label [json-pointer:/view/blocks/0/label]",
            id="input-without-label",
        ),
        pytest.param(
            modal([section()], type="workflow_step"),
            "[ERROR] must be one of: modal, home [json-pointer:/view/type]",
            id="wrong-type",
        ),
        pytest.param(
            modal([section()], private_metadata="m" * 3001),
            "[ERROR] private_metadata cannot exceed 3000 characters [json-pointer:/view/private_metadata]",
            id="private-metadata-3001",
        ),
    ],
)
def test_view_problems(view: dict[str, Any], expected: str) -> None:
    assert expected in view_problems(view)


def test_valid_payloads_have_no_problems() -> None:
    picked = checkboxes(3, initial_options=[option(1)])
    assert view_problems(modal([input_block(picked), section(block_id="summary")])) == []
    assert message_problems({"text": "status", "blocks": [section(), {"type": "actions", "elements": [picked]}]}) == []


# ---- command line ------------------------------------------------------------------------------------------------


def test_the_command_line_refuses_remote_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        stand_in_main(["--host", "0.0.0.0"])

    assert exited.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err


@pytest.mark.slow
async def test_the_command_line_serves_the_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.stand_in", "--port", "0", "--token", TOKEN,
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=10)).decode()
        api_url = re.search(r"http://\S+/api/", line)
        assert api_url, line
        assert (await AsyncWebClient(token=TOKEN, base_url=api_url.group(0)).auth_test())["ok"] is True
    finally:
        process.terminate()
        await process.wait()
