"""CA review follow-up across simulated business days: `certops tick --now …` against the Web API stand-in.

The calendar is Germany's in Europe/Berlin: Thursday 2027-05-06 (Ascension Day) and Monday 2027-05-17 (Pentecost
Monday) are public holidays, and there are weekends in between. Applications are submitted on Monday 2027-05-03
at 19:00, after working hours (09:00–18:00), so every nudge and escalation falls due at night and must wait for
the next working morning.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.stand_in.server import SlackStandIn
from bot.wiring import build_ports, sandbox_ca
from core.adapters.clock import FixedClock
from core.config import Settings
from core.model import ApplicationRequest, CompanyProfile, Contact, KeyAlgorithm
from core.services.apply import apply
from core.services.combine import combine
from core.services.tracking import acknowledge
from tests.e2e.chat import SECRET, stock
from tests.e2e.conftest import CERTOPS

BERLIN = ZoneInfo("Europe/Berlin")
CHANNEL, TEAM, ONCALL, LEAD = "C0CERTOPS", "C0TEAM", "S0ONCALL", "U0LEAD"
ENV = {
    "CERTOPS_TIMEZONE": "Europe/Berlin",
    "CERTOPS_HOLIDAYS": "DE",
    "CERTOPS_CHANNEL": CHANNEL,
    "CERTOPS_ESCALATION": f"3:{TEAM},7:{ONCALL},9:{LEAD}",
    "SLACK_BOT_TOKEN": "xoxb-timeline",
    "SLACK_SIGNING_SECRET": SECRET,
}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 5, day, hour, minute, tzinfo=BERLIN)


SUBMITTED = at(3, 19)


@dataclass
class Timeline:
    data_dir: Path
    slack: SlackStandIn
    instance_id: str

    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, timezone="Europe/Berlin", holidays="DE", channel=CHANNEL)

    async def tick(self, when: datetime) -> None:
        env = {**os.environ, **ENV, "CERTOPS_DATA_DIR": str(self.data_dir), "SLACK_API_URL": self.slack.api_url}
        assert CERTOPS
        process = await asyncio.create_subprocess_exec(
            CERTOPS, "tick", "--now", when.isoformat(), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode == 0, (out, err)

    def ca(self, when: datetime):  # type: ignore[no-untyped-def]
        return sandbox_ca(self.settings(), FixedClock(when))

    def posts(self) -> list[tuple[str, str, str]]:
        """(channel, "thread"|"top", kind) for every message the bot posted, in order."""
        found = []
        for call in self.slack.calls_to("chat.postMessage"):
            if call.status != 200 or not call.response.get("ok"):
                continue
            where = "thread" if call.params.get("thread_ts") else "top"
            found.append((call.params["channel"], where, _kind(str(call.params.get("text", "")))))
        return found


def _kind(text: str) -> str:
    for prefix, kind in [
        ("Application submitted", "submitted"),
        ("Status update", "stage"),
        ("Did you miss", "V3"),
        ("Application rejected", "V4"),
        ("Escalation", "V5"),
        ("Deployment checklist", "V6"),
        ("Reissue reminder", "A10"),
    ]:
        if text.startswith(prefix):
            return kind
    return text[:40]


def _submit(data_dir: Path, source_ids: list[str]) -> str:
    ports = build_ports(Settings(data_dir=data_dir, timezone="Europe/Berlin", holidays="DE"), FixedClock(at(3, 9)))
    merged = combine(ports, source_ids[0], source_ids[1:], actor="U0ALICE", accept_no_refund=True).instance
    assert merged is not None
    ports = build_ports(Settings(data_dir=data_dir), FixedClock(SUBMITTED))
    request = ApplicationRequest(
        instance_id=merged.id,
        domains=["*.example.com", "shop.example.com"],
        company=CompanyProfile(name="Example Ltd", phone="+49 30 1234567", address="Berlin", registration_number="HRB"),
        contact=Contact(name="Alice", email="alice@example.com", phone="+49 170 1234567"),
        key_algorithm=KeyAlgorithm.ECC_256,
    )
    apply(ports, request, "U0ALICE")
    return merged.id


@pytest.fixture
async def timeline(tmp_path: Path) -> AsyncIterator[Timeline]:
    stock(tmp_path / "data")
    instance_id = _submit(tmp_path / "data", ["cas-ov-1001", "cas-ov-1002", "cas-ov-1003"])
    async with SlackStandIn(token="xoxb-timeline") as slack:
        yield Timeline(tmp_path / "data", slack, instance_id)


async def test_ten_business_days_post_each_change_nudge_and_level_once(timeline: Timeline) -> None:
    t = timeline
    await t.tick(at(3, 20))  # the evening of submission: nothing to say yet
    assert t.posts() == []

    t.ca(at(4, 11)).verify(t.instance_id, domain="*.example.com")
    t.ca(at(4, 11, 5)).verify(t.instance_id, domain="shop.example.com")
    await t.tick(at(4, 11, 30))  # domains verified: organisation verification starts
    await t.tick(at(4, 11, 30))  # the same tick again (a restart, a cron double-fire)
    await t.tick(at(4, 21))  # V3 is past due (Tue 19:00) but it is night
    assert t.posts() == [(CHANNEL, "top", "submitted"), (CHANNEL, "thread", "stage")]

    await t.tick(at(5, 9, 5))  # the next working morning: the nudge goes out
    await t.tick(at(6, 10))  # Ascension Day: a holiday, nothing new
    await t.tick(at(7, 19, 30))  # level 1 is due after 3 business days (Fri 19:00): night again
    await t.tick(at(8, 12))  # Saturday
    await t.tick(at(10, 9, 1))  # Monday morning: level 1
    await asyncio.gather(t.tick(at(10, 9, 2)), t.tick(at(10, 9, 2)))  # two workers at once
    await t.tick(at(13, 19, 30))  # level 2 due after 7 business days (Thu 19:00)
    await t.tick(at(14, 9, 0))  # Friday morning: level 2
    assert t.posts()[2:] == [
        (CHANNEL, "thread", "V3"),
        (CHANNEL, "thread", "V5"),
        (TEAM, "top", "V5"),
        (CHANNEL, "thread", "V5"),
    ]
    level_two = t.slack.calls_to("chat.postMessage")[-1]
    assert f"<!subteam^{ONCALL}>" in str(level_two.params["blocks"])

    ports = build_ports(t.settings(), FixedClock(at(14, 11)))
    acknowledge(ports, f"{t.instance_id}-a1", "U0BOB")  # stops level 3 (9 business days)
    await t.tick(at(19, 9, 30))  # level 3 would have been due on Wednesday morning
    t.ca(at(19, 10)).verify(t.instance_id)  # the CA issues
    await t.tick(at(19, 10, 15))
    await t.tick(at(19, 16))
    assert t.posts()[6:] == [(CHANNEL, "thread", "stage"), (CHANNEL, "thread", "V6")]
    parents = [p for p in t.posts() if p[1] == "top" and p[0] == CHANNEL]
    assert len(parents) == 1  # one thread carries everything


async def test_a_rejected_application_gets_the_reason_and_an_escalation_once(timeline: Timeline) -> None:
    t = timeline
    await t.tick(at(4, 12))  # before the nudge is due (Tue 19:00)
    t.ca(at(4, 15)).reject(t.instance_id, "The organisation name does not match the business licence")
    await t.tick(at(4, 16))
    await t.tick(at(5, 9, 30))  # no nudge for a rejected application
    await t.tick(at(10, 9, 30))  # and no escalation levels
    assert t.posts() == [(CHANNEL, "top", "submitted"), (CHANNEL, "thread", "V4"), (TEAM, "top", "V4")]
    rejection = t.slack.calls_to("chat.postMessage")[1]
    assert "business licence" in str(rejection.params["text"]) and "DingTalk" in str(rejection.params["text"])
