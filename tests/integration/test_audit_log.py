"""The hash-chained audit log on real files: the chain, tampering, torn lines, concurrent appenders."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import filelock
import pytest

from core.adapters.audit_log import AUDIT_FILE, LOCK_FILE, JsonlAuditLog
from core.audit import GENESIS_HASH, canonical_json, entry_hash, next_entry, verify_chain
from core.errors import CertopsError, NotInitialised, StoreCorrupted
from core.model import AuditEvent
from tests.integration.store_worker import run_at_once

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def log(tmp_path: Path) -> JsonlAuditLog:
    return JsonlAuditLog(tmp_path)


def append(log: JsonlAuditLog, n: int, **details: object) -> AuditEvent:
    return log.append(
        at=T0 + timedelta(minutes=n),
        actor="U123",
        action="combine",
        subject=f"cas-{n}",
        details={"n": n, **details},
    )


def filled(log: JsonlAuditLog, count: int) -> list[AuditEvent]:
    return [append(log, n) for n in range(count)]


def lines(log: JsonlAuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def write_lines(log: JsonlAuditLog, content: list[bytes]) -> None:
    log.path.write_bytes(b"".join(content))


# ---- the pure chain (core.audit) ---------------------------------------------------------------------------


def test_the_hash_is_sha256_of_the_canonical_json_of_every_other_field() -> None:
    event = next_entry(None, at=T0, actor="U1", action="a", subject="s", details={"b": 1, "a": "ü"})

    fields = {k: v for k, v in event.model_dump(mode="json").items() if k != "hash"}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event.hash == hashlib.sha256(text.encode()).hexdigest() == entry_hash(event)
    assert (event.seq, event.prev_hash) == (0, GENESIS_HASH)


def test_next_entry_chains_and_normalises_details_to_json() -> None:
    first = next_entry(None, at=T0, actor="U1", action="a", subject="s", details={})
    second = next_entry(first, at=T0, actor="U1", action="a", subject="s", details={"when": T0, "ids": ("x",)})

    assert (second.seq, second.prev_hash) == (1, first.hash)
    assert second.details == {"when": "2026-01-05T09:30:00Z", "ids": ["x"]}
    assert AuditEvent.model_validate_json(canonical_json(second.model_dump(mode="json"))) == second


@pytest.mark.parametrize("actor", ["", "   "])
def test_next_entry_needs_an_actor(actor: str) -> None:
    with pytest.raises(ValueError, match="actor"):
        next_entry(None, at=T0, actor=actor, action="a", subject="s", details={})


def test_verify_chain_names_the_first_bad_entry() -> None:
    chain: list[AuditEvent] = []
    for n in range(4):
        chain.append(
            next_entry(chain[-1] if chain else None, at=T0, actor="U1", action="a", subject=str(n), details={})
        )
    forged = next_entry(chain[1], at=T0, actor="U1", action="a", subject="forged", details={})

    assert verify_chain(chain) == (4, None)
    assert verify_chain([]) == (0, None)
    assert verify_chain([chain[0], chain[1].model_copy(update={"subject": "x"})]) == (1, "hash mismatch")
    assert verify_chain([chain[0], chain[2]]) == (1, "seq out of order")
    assert verify_chain([*chain[:2], forged, chain[3]]) == (3, "prev_hash does not match entry 2")
    assert verify_chain(chain[1:]) == (0, "seq out of order")


# ---- appending ---------------------------------------------------------------------------------------------


def test_appended_entries_form_a_chain_that_verifies(log: JsonlAuditLog) -> None:
    written = filled(log, 5)

    assert list(log.entries()) == written
    assert [e.seq for e in written] == [0, 1, 2, 3, 4]
    assert log.verify() == (5, None)
    assert oct(log.path.stat().st_mode & 0o777) == "0o600"


def test_an_empty_or_missing_log_verifies(log: JsonlAuditLog) -> None:
    assert list(log.entries()) == []
    assert log.verify() == (0, None)
    assert log.init() is True
    assert log.init() is False
    assert log.verify() == (0, None)
    assert append(log, 0).seq == 0


def test_append_has_the_line_on_disk_and_fsynced_before_it_returns(
    log: JsonlAuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled(log, 2)
    synced: list[int] = []
    real_fsync = os.fsync

    def spying_fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == log.path.stat().st_ino:
            synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spying_fsync)
    event = append(log, 2)

    on_disk = log.path.read_bytes()
    assert on_disk.endswith(canonical_json(event.model_dump(mode="json")).encode() + b"\n")
    assert synced == [len(on_disk)]  # fsynced once, with the whole new line in the file


def test_a_blank_actor_is_refused_and_nothing_is_written(log: JsonlAuditLog) -> None:
    filled(log, 1)
    before = log.path.read_bytes()

    with pytest.raises(ValueError, match="actor"):
        log.append(at=T0, actor=" ", action="combine", subject="cas-1", details={})

    assert log.path.read_bytes() == before


def test_a_missing_data_directory_is_not_initialised(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "nowhere")
    with pytest.raises(NotInitialised, match="certops init"):
        append(log, 0)
    assert not (tmp_path / "nowhere").exists()


def test_a_held_lock_times_out_with_a_clear_error(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path, lock_timeout=0.2)
    with (
        filelock.FileLock(tmp_path / LOCK_FILE),
        pytest.raises(CertopsError, match="holds the audit log lock"),
    ):
        append(log, 0)
    assert not log.path.exists()


def test_long_lines_and_line_separators_inside_values_survive(log: JsonlAuditLog) -> None:
    big = "x" * 20_000  # longer than the block append reads backwards with
    filled(log, 1)
    append(log, 1, note=big, odd="a\u2028b\u2029c\nd\re")
    append(log, 2)

    entries = list(log.entries())
    assert [e.seq for e in entries] == [0, 1, 2]
    assert entries[1].details["note"] == big
    assert entries[1].details["odd"] == "a\u2028b\u2029c\nd\re"
    assert log.verify() == (3, None)


# ---- tampering and damage ----------------------------------------------------------------------------------


def test_changed_details_are_detected_at_that_entry(log: JsonlAuditLog) -> None:
    filled(log, 5)
    content = lines(log)
    record = json.loads(content[2])
    record["details"]["n"] = 99
    content[2] = canonical_json(record).encode() + b"\n"
    write_lines(log, content)

    assert log.verify() == (2, "hash mismatch")


def test_a_deleted_line_is_detected_where_it_was(log: JsonlAuditLog) -> None:
    filled(log, 5)
    content = lines(log)
    del content[2]
    write_lines(log, content)

    assert log.verify() == (2, "seq out of order")


def test_a_deleted_first_line_is_detected(log: JsonlAuditLog) -> None:
    filled(log, 3)
    write_lines(log, lines(log)[1:])

    assert log.verify() == (0, "seq out of order")


def test_reordered_lines_are_detected_at_the_first_moved_one(log: JsonlAuditLog) -> None:
    filled(log, 5)
    content = lines(log)
    content[1], content[3] = content[3], content[1]
    write_lines(log, content)

    assert log.verify() == (1, "seq out of order")


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(log: JsonlAuditLog) -> None:
    events = filled(log, 4)
    forged = next_entry(events[1], at=T0, actor="mallory", action="combine", subject="cas-2", details={})
    content = lines(log)
    content[2] = canonical_json(forged.model_dump(mode="json")).encode() + b"\n"
    write_lines(log, content)

    assert log.verify() == (3, "prev_hash does not match entry 2")


def test_a_torn_last_line_is_reported_and_blocks_appends(log: JsonlAuditLog) -> None:
    filled(log, 3)
    whole = log.path.read_bytes()
    line = canonical_json(
        next_entry(None, at=T0, actor="U1", action="a", subject="s", details={}).model_dump(mode="json")
    )
    log.path.write_bytes(whole + line.encode()[:25])  # a crash in the middle of the fourth append

    index, reason = log.verify()
    assert index == 3
    assert f"{log.path} line 4" in (reason or "")
    with pytest.raises(StoreCorrupted, match=rf"{log.path} line 4"):
        list(log.entries())
    with pytest.raises(StoreCorrupted, match=rf"{log.path} line 4 is incomplete"):
        append(log, 3)
    assert log.path.read_bytes() == whole + line.encode()[:25]  # nothing added on top of the damage

    log.path.write_bytes(whole)  # the operator removes the torn line
    assert append(log, 3).seq == 3
    assert log.verify() == (4, None)


def test_a_complete_last_entry_without_its_line_end_is_reported(log: JsonlAuditLog) -> None:
    filled(log, 2)
    log.path.write_bytes(log.path.read_bytes()[:-1])

    index, reason = log.verify()
    assert index == 1
    assert "line 2 is incomplete" in (reason or "")
    with pytest.raises(StoreCorrupted, match="line 2 is incomplete"):
        append(log, 2)


def test_a_garbage_line_in_the_middle_is_reported_with_its_number(log: JsonlAuditLog) -> None:
    filled(log, 4)
    content = lines(log)
    content[1] = b"not json\n"
    write_lines(log, content)

    index, reason = log.verify()
    assert index == 1
    assert f"{log.path} line 2 is not a valid audit entry" in (reason or "")
    with pytest.raises(StoreCorrupted, match="line 2"):
        list(log.entries())


def test_append_reads_only_the_last_line(log: JsonlAuditLog) -> None:
    filled(log, 3)
    content = lines(log)
    content[0] = b"damage further up is verify's business, not append's\n"
    write_lines(log, content)

    assert append(log, 3).seq == 3
    assert log.verify()[0] == 0


def test_appending_after_an_altered_last_entry_is_refused(log: JsonlAuditLog) -> None:
    filled(log, 3)
    content = lines(log)
    content[-1] = content[-1].replace(b'"n":2', b'"n":7')
    write_lines(log, content)

    with pytest.raises(StoreCorrupted, match=rf"{log.path} line 3 does not match its hash"):
        append(log, 3)


# ---- several processes -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_appending_at_once_keep_one_valid_chain(tmp_path: Path) -> None:
    run_at_once("audit", tmp_path, ("U1", "U2"), 50)

    log = JsonlAuditLog(tmp_path)
    entries = list(log.entries())
    assert log.verify() == (100, None)
    assert [e.seq for e in entries] == list(range(100))
    assert sorted(e.subject for e in entries) == sorted(f"{a}-{n}" for a in ("U1", "U2") for n in range(50))
    assert (tmp_path / AUDIT_FILE).read_bytes().count(b"\n") == 100
