"""Combining on Alibaba Cloud CAS: certops records the waiver and hands over; sync records the console's result."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.wiring import build_ports
from core.adapters.audit_log import JsonlAuditLog
from core.adapters.clock import FixedClock
from core.adapters.tinydb_store import init_store
from core.config import Settings
from core.model import InstanceStatus
from core.services.combine import combine
from core.services.context import Ports
from core.services.review import sync
from tests.e2e.conftest import CERTOPS
from tests.integration.cas_endpoint import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CasEndpoint

START = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
END = int(datetime(2027, 11, 2, tzinfo=UTC).timestamp())


@pytest.fixture
def cas(monkeypatch: pytest.MonkeyPatch) -> Iterator[CasEndpoint]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with CasEndpoint() as endpoint:
        for instance_id in ("cas-a", "cas-b"):
            endpoint.add_instance(instance_id, exact=2, start=START, end=END)
        yield endpoint


@pytest.fixture
def ports(cas: CasEndpoint, tmp_path: Path) -> Ports:
    settings = Settings(
        data_dir=tmp_path / "data",
        provider="alibaba",
        cas_endpoint=f"http://{cas.endpoint}",
        cas_access_key_id=ACCESS_KEY_ID,
        cas_access_key_secret=ACCESS_KEY_SECRET,
    )
    init_store(settings.data_dir)
    JsonlAuditLog(settings.data_dir).init()
    ports = build_ports(settings, FixedClock(datetime(2026, 12, 7, 2, tzinfo=UTC)))
    sync(ports)
    return ports


def test_combining_hands_over_then_sync_records_what_the_console_did(cas: CasEndpoint, ports: Ports) -> None:
    first = combine(ports, "cas-a", ["cas-b"], actor="U0ALICE", accept_no_refund=True)
    assert first.handover is not None and "Combine Certificates" in first.handover
    again = combine(ports, "cas-a", ["cas-b"], actor="U0ALICE", accept_no_refund=True)
    assert again.handover == first.handover  # a repeat neither audits nor hands over twice
    actions = [(e.actor, e.action) for e in ports.audit.entries()]
    assert actions.count(("U0ALICE", "combine.handover")) == 1

    cas.add_instance("cas-merge-7f3", name="cas-merge-7f3", exact=4, start=START, end=END)  # the console's work
    for source in ("cas-a", "cas-b"):
        cas.instances[source]["Status"] = "closed"
    found = sync(ports)

    assert found.combinations_found == ["cas-merge-7f3"]
    with ports.unit_of_work(read_only=True) as uow:
        merged = uow.instances.get("cas-merge-7f3")
        sources = [uow.instances.get(i) for i in ("cas-a", "cas-b")]
        combination = uow.combinations.get_by_result("cas-merge-7f3")
        assert uow.handovers.list() == []
    assert merged is not None and merged.merged_from == ["cas-a", "cas-b"] and not merged.refundable
    assert all(s is not None and s.status is InstanceStatus.COMBINED for s in sources)
    assert combination is not None and combination.actor == "U0ALICE"
    assert [e.actor for e in ports.audit.entries() if e.action == "combine"] == ["U0ALICE"]
    assert sync(ports).combinations_found == []


def test_an_unrelated_merge_instance_is_not_taken_for_the_handed_over_one(cas: CasEndpoint, ports: Ports) -> None:
    combine(ports, "cas-a", ["cas-b"], actor="U0ALICE", accept_no_refund=True)
    cas.add_instance("cas-merge-other", name="cas-merge-other", exact=9, start=START, end=END)
    assert sync(ports).combinations_found == []


def test_the_cli_prints_the_console_steps_and_succeeds(cas: CasEndpoint, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CERTOPS_DATA_DIR": str(tmp_path / "cli"),
        "CERTOPS_PROVIDER": "alibaba",
        "CERTOPS_CAS_ENDPOINT": f"http://{cas.endpoint}",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
    }
    assert CERTOPS
    for argv in (["init"], ["sync"]):
        subprocess.run([CERTOPS, *argv], env=env, check=True, capture_output=True, timeout=60)
    done = subprocess.run(
        [CERTOPS, "combine", "cas-a", "--with", "cas-b", "--actor", "U0ALICE", "--accept-no-refund"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Refund waiver recorded" in done.stdout and "Combine Certificates" in done.stdout
