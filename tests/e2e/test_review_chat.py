"""Review posts in chat: the Acknowledge and Mark installed buttons, and notices that could not be posted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import SlackSettings
from bot.wiring import build_ports, sandbox_ca
from bot.worker import run_deploy_checks, run_tick, scheduled_report
from core.adapters.clock import FixedClock
from core.config import Settings
from core.model import ApplicationRequest, CompanyProfile, Contact, KeyAlgorithm
from core.services.apply import apply
from core.services.review import export_bundle
from core.services.tracking import TickResult
from tests.e2e.chat import ALICE, CHANNEL, SECRET, Chat, running_bot, stock
from tests.tls_servers import TlsServer, self_signed

SUBMITTED = datetime.fromisoformat("2026-12-07T10:00:00+08:00")  # a Monday in Shanghai


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    stock(tmp_path / "data")
    async with running_bot(tmp_path / "data") as running:
        yield running


def _settings(chat: Chat) -> Settings:
    return Settings(data_dir=chat.data_dir, channel=CHANNEL, escalation=["3:channel"])


async def _tick(chat: Chat, now: datetime) -> TickResult:
    slack = SlackSettings(bot_token="xoxb-stand-in", signing_secret=SECRET, api_url=chat.slack.api_url)
    return await asyncio.to_thread(run_tick, _settings(chat), slack, FixedClock(now))


def _apply(chat: Chat, instance_id: str = "cas-ov-1002") -> str:
    ports = build_ports(_settings(chat), FixedClock(SUBMITTED))
    request = ApplicationRequest(
        instance_id=instance_id,
        domains=["shop.example.com", "api.example.com"],
        company=CompanyProfile(name="Example Ltd", phone="+86 571 1", address="Hangzhou", registration_number="91"),
        contact=Contact(name="Alice", email="alice@example.com", phone="+86 138 0000 0000"),
        key_algorithm=KeyAlgorithm.ECC_256,
    )
    return apply(ports, request, ALICE).id


async def test_acknowledge_stops_escalation_and_records_who(chat: Chat) -> None:
    application_id = _apply(chat)
    await _tick(chat, SUBMITTED + timedelta(days=4))  # Friday: the nudge and escalation level 1
    escalation = next(c for c in chat.slack.calls_to("chat.postMessage") if "escalation_ack" in json.dumps(c.params))
    assert escalation.params["thread_ts"]
    reply, url = await chat.click("escalation_ack", application_id, user=ALICE)
    assert reply.status == 200
    assert "acknowledged by <@U0ALICE>" in (await chat.answer(url))["text"]
    with chat.ports.unit_of_work(read_only=True) as uow:
        stored = uow.applications.get(application_id)
    assert stored is not None and stored.acknowledged is not None and stored.acknowledged.by == ALICE
    assert (ALICE, "escalation.acknowledge") in chat.audit_actions()


async def test_mark_installed_ticks_the_checklist_row(chat: Chat) -> None:
    application_id = _apply(chat)
    sandbox_ca(_settings(chat), FixedClock(SUBMITTED + timedelta(hours=2))).verify("cas-ov-1002")
    await _tick(chat, SUBMITTED + timedelta(hours=3))
    checklist = next(c for c in chat.slack.calls_to("chat.postMessage") if "deploy_mark" in json.dumps(c.params))
    assert "api.example.com" in json.dumps(checklist.params["blocks"])
    reply, url = await chat.click("deploy_mark", f"{application_id}|api.example.com", user=ALICE)
    assert reply.status == 200
    updated = await chat.answer(url)
    assert updated["replace_original"] is True and "installed by <@U0ALICE>" in json.dumps(updated["blocks"])
    with chat.ports.unit_of_work(read_only=True) as uow:
        stored = uow.applications.get(application_id)
    assert stored is not None
    assert {d.domain: d.installed_by for d in stored.deployments} == {
        "shop.example.com": None,
        "api.example.com": ALICE,
    }


async def test_a_notice_that_could_not_be_posted_is_retried_not_dropped(chat: Chat) -> None:
    _apply(chat)
    chat.slack.fail("chat.postMessage", "internal_error", times=1)
    first = await _tick(chat, SUBMITTED + timedelta(days=1, hours=1))
    assert first.failed and not first.sent
    soon = await _tick(chat, SUBMITTED + timedelta(days=1, hours=1, seconds=30))
    assert not soon.sent  # backing off
    later = await _tick(chat, SUBMITTED + timedelta(days=1, hours=1, minutes=2))
    assert later.sent == [key for key, _ in first.failed]
    texts = [str(c.params.get("text", "")) for c in chat.slack.calls_to("chat.postMessage") if c.status == 200]
    assert sum(t.startswith("Did you miss") for t in texts) == 1


async def test_scheduled_deploy_checks_post_only_when_a_host_changes(chat: Chat, tmp_path: Path) -> None:
    _apply(chat)
    sandbox_ca(_settings(chat), FixedClock(datetime.now(UTC))).verify("cas-ov-1002")
    await _tick(chat, datetime.now(UTC))
    files = tmp_path / "tls"
    files.mkdir()
    for item in export_bundle(chat.ports, "cas-ov-1002"):
        (files / item.name).write_bytes(item.content)
    other_cert, other_key = self_signed(tmp_path / "other", ["shop.example.com"])
    slack = SlackSettings(bot_token="xoxb-stand-in", signing_secret=SECRET, api_url=chat.slack.api_url)

    async def check(port: int) -> list[str]:
        settings = _settings(chat).model_copy(update={"deploy_hosts": [f"shop.example.com=127.0.0.1:{port}"]})
        result = await asyncio.to_thread(run_deploy_checks, settings, slack)
        return result.sent

    with TlsServer(files / "fullchain.pem", files / "privkey.pem") as good, TlsServer(other_cert, other_key) as bad:
        first, again = await check(good.port), await check(good.port)
        broken, still_broken = await check(bad.port), await check(bad.port)
    assert [len(first), len(again), len(broken), len(still_broken)] == [1, 0, 1, 0]
    texts = [str(c.params["text"]) for c in chat.slack.calls_to("chat.postMessage")]
    posts = [text for text in texts if text.startswith("Deployment check:")]
    assert "serves the issued certificate" in posts[0] and "not the issued" in posts[1]


async def test_a_scheduled_report_is_posted_once_per_firing(chat: Chat) -> None:
    slack = SlackSettings(bot_token="xoxb-stand-in", signing_secret=SECRET, api_url=chat.slack.api_url)
    fired = FixedClock(datetime(2026, 12, 7, 1, 0, tzinfo=UTC))
    runs = await asyncio.gather(
        asyncio.to_thread(scheduled_report, _settings(chat), slack, "merge-audit", fired),
        asyncio.to_thread(scheduled_report, _settings(chat), slack, "merge-audit", fired),
    )
    assert sorted(runs) == [False, True]  # two workers fired the same schedule: one of them posts
    shared = chat.slack.calls_to("files.completeUploadExternal")
    assert len(shared) == 1 and shared[0].params["channel_id"] == CHANNEL
    assert (chat.data_dir / "reports" / "merge-audit" / "20261207T010000").is_dir()


def test_report_schedules_are_checked_when_settings_load() -> None:
    assert Settings(report_schedules="backlog=0 9 * * mon-fri;merge-audit=0 8 1 * *").report_schedules == [
        "backlog=0 9 * * mon-fri",
        "merge-audit=0 8 1 * *",
    ]
    with pytest.raises(ValueError, match="NAME=CRON"):
        Settings(report_schedules="sales=0 9 * * *")
