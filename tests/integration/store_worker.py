"""Helpers the integration tests run in other processes (`python -m tests.integration.store_worker ...`).

Each command uses the real adapters exactly as certops does; the crash commands make the process die at one
chosen instant of a commit, the way a power cut or `kill -9` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.adapters.audit_log import JsonlAuditLog
from core.adapters.tinydb_store import BACKUP_FILE, STORE_FILE, TinyDBUnitOfWork
from core.model import CertType, Instance

AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def run_at_once(command: str, path: Path, names: Sequence[str], count: int) -> None:
    """Start one worker process per name running `command` `count` times, all at once; fail if any fails."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.store_worker", command, str(path), name, str(count)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err


def instance(instance_id: str, **changes: Any) -> Instance:
    fields: dict[str, Any] = {
        "id": instance_id,
        "name": f"instance {instance_id}",
        "brand": "DigiCert",
        "cert_type": CertType.OV,
        "validity_years": 1,
        "exact_quota": 1,
        "wildcard_quota": 0,
    }
    return Instance(**(fields | changes))


def add(data_dir: Path, prefix: str, count: int) -> None:
    """Add `count` instances, one unit of work (lock, read, commit) each."""
    for n in range(count):
        with TinyDBUnitOfWork(data_dir) as uow:
            uow.instances.put(instance(f"{prefix}-{n:03d}"))
            uow.remember(f"{prefix}-key-{n:03d}", AT)
            uow.commit()


def commit_forever(data_dir: Path, prefix: str) -> None:
    """Commit one more instance and one more key per unit of work until killed."""
    n = 0
    while True:
        with TinyDBUnitOfWork(data_dir) as uow:
            uow.instances.put(instance(f"{prefix}-{n:06d}"))
            uow.remember(f"{prefix}-key-{n:06d}", AT)
            uow.commit()
        n += 1


def ids(data_dir: Path) -> None:
    with TinyDBUnitOfWork(data_dir, read_only=True) as uow:
        print(json.dumps([i.id for i in uow.instances.list()]))


def crash_during_commit(data_dir: Path, where: str, instance_id: str) -> None:
    """Start a commit of one new instance and die (os._exit, no cleanup) at `where`."""
    store, backup = data_dir / STORE_FILE, data_dir / BACKUP_FILE
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src: Any, dst: Any) -> None:
        if (where == "replace" and Path(dst) == store) or (where == "backup" and Path(dst) == backup):
            os._exit(1)
        real_replace(src, dst)

    def fsync(fd: int) -> None:
        os._exit(1)

    os.replace = replace  # type: ignore[assignment]
    if where == "fsync":
        os.fsync = fsync  # type: ignore[assignment]
    with TinyDBUnitOfWork(data_dir) as uow:
        uow.instances.put(instance(instance_id))
        uow.commit()
    os.replace, os.fsync = real_replace, real_fsync
    raise SystemExit(f"commit finished although the process was meant to die at {where}")


def audit(data_dir: Path, actor: str, count: int) -> None:
    log = JsonlAuditLog(data_dir)
    for n in range(count):
        log.append(at=AT, actor=actor, action="test.append", subject=f"{actor}-{n}", details={"n": n})


COMMANDS: dict[str, Callable[[list[str]], None]] = {
    "add": lambda a: add(Path(a[0]), a[1], int(a[2])),
    "ids": lambda a: ids(Path(a[0])),
    "crash": lambda a: crash_during_commit(Path(a[0]), a[1], a[2]),
    "audit": lambda a: audit(Path(a[0]), a[1], int(a[2])),
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
