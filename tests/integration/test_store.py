"""The TinyDB store on real files: round trips, unit-of-work rules, several processes, crashes, corruption."""

from __future__ import annotations

import json
import multiprocessing
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock
import pytest

from core.adapters.files import read_json
from core.adapters.tinydb_store import (
    BACKUP_FILE,
    LOCK_FILE,
    STORE_FILE,
    TinyDBUnitOfWork,
    init_store,
)
from core.errors import CertopsError, NotInitialised, StoreCorrupted
from core.model import (
    Application,
    CertType,
    Combination,
    CompanyProfile,
    Contact,
    DomainName,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    Quota,
    SourceSnapshot,
    Stage,
    ValidationMethod,
)
from tests.integration import store_worker
from tests.integration.store_worker import instance, run_at_once

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    assert init_store(directory) is True
    return directory


def run_worker(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.integration.store_worker", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def stored(data_dir: Path) -> Any:
    return read_json(data_dir / STORE_FILE)


def put_instances(data_dir: Path, *instances: Instance) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        for item in instances:
            uow.instances.put(item)
        uow.commit()


def combination(combination_id: str, request_key: str, result_id: str, at: datetime) -> Combination:
    source = SourceSnapshot(
        id="src-1",
        name="src one",
        brand="DigiCert",
        cert_type=CertType.OV,
        status=InstanceStatus.PENDING_APPLICATION,
        validity_years=1,
        exact_quota=1,
        wildcard_quota=0,
        refundable=True,
    )
    return Combination(
        id=combination_id,
        request_key=request_key,
        result_id=result_id,
        result_name=f"cas-merge-{result_id}",
        source_ids=["src-1"],
        sources=[source],
        brand="DigiCert",
        cert_type=CertType.OV,
        quota=Quota(exact=1, wildcard=0),
        actor="U123",
        at=at,
        waiver_text="I confirm",
    )


def application(application_id: str, instance_id: str, submitted_at: datetime, stage: Stage) -> Application:
    return Application(
        id=application_id,
        instance_id=instance_id,
        domains=[DomainName(ascii="xn--bcher-kva.example", unicode="bücher.example")],
        company=CompanyProfile(name="Acme", phone="+86 10 1234", address="1 Road", registration_number="R1"),
        contact=Contact(name="Li", email="li@example.com", phone="+86 138 0000"),
        validation_method=ValidationMethod.DNS,
        key_algorithm=KeyAlgorithm.RSA_2048,
        csr_pem="-----BEGIN CERTIFICATE REQUEST-----\n...",
        key_generated=True,
        actor="U123",
        submitted_at=submitted_at,
        stage=stage,
    )


# ---- setting up and opening --------------------------------------------------------------------------------


def test_init_store_creates_an_empty_store_once_and_never_overwrites(tmp_path: Path) -> None:
    directory = tmp_path / "nested" / "data"
    assert init_store(directory) is True
    assert stored(directory) == {
        "instances": {},
        "combinations": {},
        "applications": {},
        "keys": {},
        "notices": {},
        "handovers": {},
    }
    put_instances(directory, instance("a-1"))

    assert init_store(directory) is False

    assert list(stored(directory)["instances"]) == ["a-1"]


def test_init_store_refuses_a_corrupt_existing_store(tmp_path: Path) -> None:
    (tmp_path / STORE_FILE).write_text("{not json")

    with pytest.raises(StoreCorrupted, match=str(tmp_path / STORE_FILE)):
        init_store(tmp_path)

    assert (tmp_path / STORE_FILE).read_text() == "{not json"


def test_missing_store_is_not_initialised_and_leaves_no_trace(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"

    message = rf"{missing} is not a certops data directory: run `certops init` first"
    with pytest.raises(NotInitialised, match=message):
        TinyDBUnitOfWork(missing).__enter__()
    with pytest.raises(NotInitialised), TinyDBUnitOfWork(missing, read_only=True):
        pass

    assert not missing.exists()


def test_a_moved_away_store_points_at_its_backup(data_dir: Path) -> None:
    put_instances(data_dir, instance("a"))
    (data_dir / STORE_FILE).rename(data_dir / "broken.json")

    backup = data_dir / BACKUP_FILE
    with pytest.raises(NotInitialised, match=f"restore it from {backup}"), TinyDBUnitOfWork(data_dir):
        pass


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\x00\xff", b'{"instances": {"a-1": {"id": "a-1", "na', b"[]", b'{"instances": []}'],
    ids=["empty", "garbage", "truncated", "not-an-object", "table-not-an-object"],
)
def test_a_damaged_store_is_refused_with_its_path(data_dir: Path, content: bytes) -> None:
    path = data_dir / STORE_FILE
    path.write_bytes(content)

    for read_only in (False, True):
        with pytest.raises(StoreCorrupted, match=str(path)), TinyDBUnitOfWork(data_dir, read_only=read_only):
            pass

    assert path.read_bytes() == content  # refused, not repaired or emptied


def test_a_record_the_model_rejects_is_reported_with_its_table_and_id(data_dir: Path) -> None:
    path = data_dir / STORE_FILE
    path.write_text(json.dumps({"instances": {"a-1": {"id": "a-1", "brand": "X"}}}))

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow, pytest.raises(StoreCorrupted) as caught:
        uow.instances.get("a-1")

    assert str(path) in str(caught.value)
    assert "'a-1'" in str(caught.value)
    assert "'instances'" in str(caught.value)


# ---- repositories ------------------------------------------------------------------------------------------


def test_instances_round_trip(data_dir: Path) -> None:
    original = instance(
        "cas-1",
        status=InstanceStatus.COMBINED,
        merged_into="cas-9",
        merged_from=["x", "y"],
        service_start=date(2026, 1, 1),
        service_end=date(2027, 1, 1),
        hosted=True,
        refundable=False,
    )
    put_instances(data_dir, original)

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert uow.instances.get("cas-1") == original
        assert uow.instances.get("cas-2") is None


def test_put_replaces_by_id(data_dir: Path) -> None:
    put_instances(data_dir, instance("cas-1"))
    put_instances(data_dir, instance("cas-1", name="renamed"))

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert [i.name for i in uow.instances.list()] == ["renamed"]


def test_instance_filters_combine_and_results_are_sorted_by_id(data_dir: Path) -> None:
    put_instances(
        data_dir,
        instance("c", brand="DigiCert", cert_type=CertType.OV, status=InstanceStatus.PENDING_APPLICATION),
        instance("a", brand="digicert", cert_type=CertType.OV, status=InstanceStatus.ISSUED),
        instance("b", brand="GeoTrust", cert_type=CertType.OV, status=InstanceStatus.PENDING_APPLICATION),
        instance("d", brand="DIGICERT", cert_type=CertType.EV, status=InstanceStatus.PENDING_APPLICATION),
    )

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:

        def ids(**filters: Any) -> list[str]:
            return [i.id for i in uow.instances.list(**filters)]

        assert ids() == ["a", "b", "c", "d"]
        assert ids(brand="DigiCert") == ["a", "c", "d"]
        assert ids(brand="dIgIcErT", cert_type=CertType.OV) == ["a", "c"]
        assert ids(status=InstanceStatus.PENDING_APPLICATION) == ["b", "c", "d"]
        pending = InstanceStatus.PENDING_APPLICATION
        assert ids(status=pending, brand="digicert", cert_type=CertType.OV) == ["c"]
        assert ids(cert_type=CertType.DV) == []


def test_list_sees_puts_made_earlier_in_the_same_unit_of_work(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        assert uow.instances.list(brand="digicert") == []  # fills TinyDB's query cache
        uow.instances.put(instance("a"))
        assert [i.id for i in uow.instances.list(brand="digicert")] == ["a"]


def test_combinations_round_trip_and_lookups(data_dir: Path) -> None:
    later = combination("comb-2", "key-2", "res-2", T0 + timedelta(hours=1))
    earlier = combination("comb-1", "key-1", "res-1", T0)
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.combinations.add(later)
        uow.combinations.add(earlier)
        uow.commit()

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert uow.combinations.get_by_request_key("key-1") == earlier
        assert uow.combinations.get_by_result("res-2") == later
        assert uow.combinations.get_by_request_key("nope") is None
        assert uow.combinations.get_by_result("nope") is None
        assert uow.combinations.list() == [earlier, later]


def test_adding_a_combination_twice_is_refused(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.combinations.add(combination("comb-1", "key-1", "res-1", T0))
        with pytest.raises(ValueError, match="key-1"):
            uow.combinations.add(combination("comb-2", "key-1", "res-2", T0))
        with pytest.raises(ValueError, match="comb-1"):
            uow.combinations.add(combination("comb-1", "key-9", "res-9", T0))
        assert len(uow.combinations.list()) == 1


def test_applications_round_trip_latest_and_in_progress(data_dir: Path) -> None:
    first = application("app-1", "cas-1", T0, Stage.REJECTED)
    second = application("app-2", "cas-1", T0 + timedelta(days=2), Stage.CA_REVIEW)
    other = application("app-0", "cas-2", T0 + timedelta(days=1), Stage.ISSUED)
    with TinyDBUnitOfWork(data_dir) as uow:
        for app in (second, first, other):
            uow.applications.put(app)
        uow.commit()

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert uow.applications.get("app-1") == first
        assert uow.applications.get("nope") is None
        assert uow.applications.latest_for_instance("cas-1") == second
        assert uow.applications.latest_for_instance("cas-3") is None
        assert [a.id for a in uow.applications.list()] == ["app-1", "app-0", "app-2"]
        assert [a.id for a in uow.applications.list(in_progress=True)] == ["app-2"]
        assert [a.id for a in uow.applications.list(in_progress=False)] == ["app-1", "app-0"]


def test_latest_for_instance_follows_puts_after_the_index_is_built(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.applications.put(application("app-1", "cas-1", T0, Stage.CA_REVIEW))
        assert uow.applications.latest_for_instance("cas-1").id == "app-1"  # type: ignore[union-attr]

        uow.applications.put(application("app-2", "cas-1", T0 + timedelta(days=1), Stage.CA_REVIEW))
        uow.applications.put(application("app-1", "cas-7", T0, Stage.CA_REVIEW))  # moved to another instance

        assert uow.applications.latest_for_instance("cas-1").id == "app-2"  # type: ignore[union-attr]
        assert uow.applications.latest_for_instance("cas-7").id == "app-1"  # type: ignore[union-attr]


def test_idempotency_keys_are_kept_by_commit(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        assert not uow.seen("Ev01")
        uow.remember("Ev01", T0)
        uow.remember("Ev01", T0 + timedelta(hours=1))  # the first sighting stays
        assert uow.seen("Ev01")
        uow.commit()
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.remember("Ev02", T0)  # not committed

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert uow.seen("Ev01")
        assert not uow.seen("Ev02")
    assert stored(data_dir)["keys"] == {"Ev01": {"at": T0.isoformat()}}


# ---- unit-of-work rules ------------------------------------------------------------------------------------


def test_leaving_without_commit_discards_changes(data_dir: Path) -> None:
    put_instances(data_dir, instance("a"))
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.instances.put(instance("b"))
        uow.instances.put(instance("a", name="changed"))
    with pytest.raises(RuntimeError, match="boom"), TinyDBUnitOfWork(data_dir) as uow:
        uow.instances.put(instance("c"))
        raise RuntimeError("boom")

    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert [(i.id, i.name) for i in uow.instances.list()] == [("a", "instance a")]


def test_a_read_only_unit_of_work_cannot_commit(data_dir: Path) -> None:
    before = (data_dir / STORE_FILE).read_bytes()
    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        uow.instances.put(instance("a"))
        with pytest.raises(RuntimeError, match="read-only"):
            uow.commit()

    assert (data_dir / STORE_FILE).read_bytes() == before


def test_commit_writes_only_when_something_changed(data_dir: Path) -> None:
    put_instances(data_dir, instance("a"))
    inode = (data_dir / STORE_FILE).stat().st_ino

    with TinyDBUnitOfWork(data_dir) as uow:
        uow.commit()
        uow.instances.put(instance("a"))  # equal to what is stored
        uow.commit()

    assert (data_dir / STORE_FILE).stat().st_ino == inode  # never replaced


def test_commit_keeps_the_previous_file_as_backup(data_dir: Path) -> None:
    put_instances(data_dir, instance("a"))
    first = stored(data_dir)
    put_instances(data_dir, instance("b"))

    assert read_json(data_dir / BACKUP_FILE) == first
    assert list(stored(data_dir)["instances"]) == ["a", "b"]
    assert oct((data_dir / STORE_FILE).stat().st_mode & 0o777) == "0o600"


def test_a_unit_of_work_can_be_used_again_and_reads_fresh_each_time(data_dir: Path) -> None:
    uow = TinyDBUnitOfWork(data_dir)
    for n in range(3):
        with uow:
            assert len(uow.instances.list()) == 2 * n
            uow.instances.put(instance(f"mine-{n}"))
            uow.commit()
        put_instances(data_dir, instance(f"theirs-{n}"))  # another writer in between

    with uow:
        assert len(uow.instances.list()) == 6


def test_repositories_only_work_inside_the_with_block(data_dir: Path) -> None:
    uow = TinyDBUnitOfWork(data_dir)
    with pytest.raises(RuntimeError, match="not active"):
        uow.instances.list()
    with uow:
        instances = uow.instances
    with pytest.raises(RuntimeError, match="not active"):
        instances.get("a")
    with pytest.raises(RuntimeError, match="not active"):
        uow.commit()


def test_nested_use_of_the_same_unit_of_work_is_refused(data_dir: Path) -> None:
    uow = TinyDBUnitOfWork(data_dir)
    with uow, pytest.raises(RuntimeError, match="already active"), uow:
        pass


def test_a_held_lock_times_out_with_a_clear_error(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir):
        with pytest.raises(CertopsError) as caught, TinyDBUnitOfWork(data_dir, lock_timeout=0.2):
            pass
        assert "another certops process holds the store lock" in str(caught.value)
        assert str(data_dir / LOCK_FILE) in str(caught.value)

        with TinyDBUnitOfWork(data_dir, read_only=True) as reader:  # readers never wait
            assert reader.instances.list() == []

    with TinyDBUnitOfWork(data_dir, lock_timeout=0.2):  # released on exit
        pass


def test_a_failed_open_releases_the_lock(data_dir: Path) -> None:
    (data_dir / STORE_FILE).write_text("garbage")
    with pytest.raises(StoreCorrupted), TinyDBUnitOfWork(data_dir):
        pass

    lock = filelock.FileLock(data_dir / LOCK_FILE, timeout=0.1)
    lock.acquire()
    lock.release()


# ---- several processes -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_another_process_sees_committed_data_and_never_stale_data(data_dir: Path) -> None:
    put_instances(data_dir, instance("mine"))
    assert json.loads(run_worker("ids", data_dir).stdout) == ["mine"]

    uow = TinyDBUnitOfWork(data_dir)
    with uow:
        uow.instances.list()
    run_worker("add", data_dir, "theirs", "1")
    with uow:
        assert [i.id for i in uow.instances.list()] == ["mine", "theirs-000"]


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(data_dir: Path) -> None:
    run_at_once("add", data_dir, ("p1", "p2"), 50)

    data = stored(data_dir)
    assert sorted(data["instances"]) == sorted(f"{p}-{n:03d}" for p in ("p1", "p2") for n in range(50))
    assert len(data["keys"]) == 100


@pytest.mark.slow
@pytest.mark.parametrize("where", ["backup", "fsync", "replace"])
def test_a_writer_dying_mid_commit_leaves_the_last_committed_state(data_dir: Path, where: str) -> None:
    put_instances(data_dir, instance("a"), instance("b"))
    before = stored(data_dir)

    result = run_worker("crash", data_dir, where, "lost", check=False)

    assert result.returncode == 1, result.stderr
    assert stored(data_dir) == before
    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert [i.id for i in uow.instances.list()] == ["a", "b"]
    put_instances(data_dir, instance("c"))  # the lock was released by the dying process
    assert sorted(stored(data_dir)["instances"]) == ["a", "b", "c"]
    assert list(data_dir.glob(".*.tmp")) == []  # its leftovers were cleaned up by the next commit


def _assert_consistent(data_dir: Path, preloaded: int) -> int:
    """The store loads, and each commit's two changes (an instance, a key) are both there or both absent."""
    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        added = len(uow.instances.list()) - preloaded
    data = stored(data_dir)
    assert len(data["instances"]) - preloaded == len(data["keys"]) == added
    read_json(data_dir / BACKUP_FILE)
    return added


@pytest.mark.slow
def test_killing_writers_at_random_instants_never_breaks_the_store(data_dir: Path) -> None:
    preloaded = 2000  # big enough that a commit takes a few ms, so many kills land inside one
    put_instances(data_dir, *(instance(f"pre-{n:05d}") for n in range(preloaded)))
    # fork, not spawn: a fresh interpreter per iteration would cost most of the test's time budget
    context = multiprocessing.get_context("fork")
    rng = random.Random(1234)
    committed = 0
    for iteration in range(20):
        writer = context.Process(target=store_worker.commit_forever, args=(data_dir, f"w{iteration:02d}"))
        writer.start()
        time.sleep(rng.uniform(0.01, 0.12))
        writer.kill()
        writer.join(timeout=10)
        assert writer.exitcode == -9

        now = _assert_consistent(data_dir, preloaded)
        assert now >= committed
        committed = now

    assert committed > 0
    put_instances(data_dir, instance("after"))
    assert _assert_consistent(data_dir, preloaded + 1) == committed
    assert list(data_dir.glob(".*.tmp")) == []


def test_old_idempotency_keys_can_be_forgotten_by_prefix(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.remember("event:Ev1", T0)
        uow.remember("event:Ev2", T0 + timedelta(days=2))
        uow.remember("posted:combine:x", T0)
        uow.commit()
    with TinyDBUnitOfWork(data_dir) as uow:
        assert uow.forget("event:", T0 + timedelta(days=1)) == 1
        uow.commit()
    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        assert [uow.seen(k) for k in ("event:Ev1", "event:Ev2", "posted:combine:x")] == [False, True, True]
