"""The certops store: one JSON file used through TinyDB, made crash-safe and safe to share between processes.

TinyDB on its own is neither (anchors C.3): it rewrites its file in place and has no cross-process locking.
Here a unit of work takes `certops.json.lock`, reads the whole file once, lets TinyDB tables work on that
in-memory copy and, on commit, writes it back with a temp file + fsync + rename, keeping the previous good
file as `certops.json.bak`. Documents are keyed by the record's own id, which is also the TinyDB doc id, so a
lookup by id is a dict access even with tens of thousands of records.

File layout: {"instances": {id: doc}, "combinations": {id: doc}, "applications": {id: doc},
"keys": {key: {"at": iso}}}.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import filelock
from pydantic import BaseModel, ValidationError
from tinydb import Query, where
from tinydb.queries import QueryLike
from tinydb.storages import Storage
from tinydb.table import Document, Table

from core.adapters.files import atomic_write_bytes, read_json
from core.errors import CertopsError, NotInitialised, StoreCorrupted
from core.model import Application, CertType, Combination, Handover, Instance, InstanceStatus, Notice, Stage
from core.ports import (
    ApplicationRepository,
    CombinationRepository,
    HandoverRepository,
    InstanceRepository,
    NoticeRepository,
)

STORE_FILE = "certops.json"
LOCK_FILE = f"{STORE_FILE}.lock"
BACKUP_FILE = f"{STORE_FILE}.bak"
TABLES = ("instances", "combinations", "applications", "keys", "notices", "handovers")
STORE_MODE = 0o600  # applications hold contact names and phone numbers

Data = dict[str, dict[str, Any]]
M = TypeVar("M", bound=BaseModel)


# ---- the file ---------------------------------------------------------------------------------------------


class AtomicJSONStorage(Storage):
    """TinyDB storage over one JSON file that is never written in place.

    `read` refuses to invent an empty store: a missing file raises NotInitialised, an unreadable one
    StoreCorrupted naming it. `write` hard-links the current file to `.bak` first, then replaces the file
    atomically, so a crash at any instant leaves the old or the new content and never a moment without it.
    Writers must hold the store lock (TinyDBUnitOfWork does); readers need not. Doc ids in the file are the
    records' own ids, not TinyDB's integers, so read the store through TinyDBUnitOfWork, not a plain TinyDB.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)

    def read(self) -> Data:
        if not self.path.exists():
            raise _not_initialised(self.path.parent)
        return _checked_layout(read_json(self.path), self.path)

    def write(self, data: Mapping[str, Mapping[str, Any]]) -> None:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if self.path.exists():
            _keep_backup(self.path, self.path.with_name(BACKUP_FILE))
        atomic_write_bytes(self.path, payload, mode=STORE_MODE)


def _not_initialised(data_dir: Path) -> NotInitialised:
    message = f"{data_dir} is not a certops data directory: run `certops init` first"
    if (data_dir / BACKUP_FILE).exists():
        message += f" (or, if {STORE_FILE} was moved away, restore it from {data_dir / BACKUP_FILE})"
    return NotInitialised(message)


def _checked_layout(raw: Any, path: Path) -> Data:
    """The file's data if it has the store's shape ({table: {doc id: {...}}}), else StoreCorrupted."""
    if not isinstance(raw, dict):
        raise StoreCorrupted(f"{path} is not a certops store: expected a JSON object of tables")
    for name, table in raw.items():
        if not isinstance(table, dict) or not all(isinstance(doc, dict) for doc in table.values()):
            raise StoreCorrupted(f"{path} is not a certops store: table {name!r} is not an object of records")
    return raw


def _keep_backup(path: Path, backup: Path) -> None:
    """Make `backup` a copy of `path`, replacing any older backup in one rename."""
    tmp = path.with_name(f".{path.name}.bak.{uuid.uuid4().hex}.tmp")
    try:
        try:
            os.link(path, tmp)
        except OSError:  # file systems without hard links
            shutil.copyfile(path, tmp)
        os.replace(tmp, backup)
    finally:
        # Also after success: when `backup` already is `path` (a writer died between its backup and its
        # rename), rename() of one hard link onto another does nothing and leaves `tmp` behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _remove_stale_temps(data_dir: Path) -> None:
    """Delete temp files left by a writer that died mid-commit. Call only while holding the store lock."""
    for leftover in data_dir.glob(f".{STORE_FILE}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _acquire_lock(data_dir: Path, timeout: float) -> filelock.BaseFileLock:
    lock_path = data_dir / LOCK_FILE
    lock = filelock.FileLock(lock_path, timeout=timeout)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise CertopsError(
            f"another certops process holds the store lock {lock_path} (waited {timeout:g} s); "
            "try again when it has finished"
        ) from exc
    return lock


def init_store(data_dir: Path, *, lock_timeout: float = 30.0) -> bool:
    """Create `data_dir` and an empty store in it unless one exists. True if it was created.

    Never overwrites: an existing store is only read (a corrupt one raises StoreCorrupted).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STORE_FILE
    lock = _acquire_lock(data_dir, lock_timeout)
    try:
        if path.exists():
            AtomicJSONStorage(path).read()
            return False
        _remove_stale_temps(data_dir)
        AtomicJSONStorage(path).write({name: {} for name in TABLES})
        return True
    finally:
        lock.release()


# ---- TinyDB over the unit of work's in-memory copy -------------------------------------------------------


class _SessionStorage(Storage):
    """The unit of work's copy of the whole store. TinyDB tables read and change it in place."""

    def __init__(self, data: Data | None) -> None:
        super().__init__()
        self._data = data
        self.changed = False

    def read(self) -> Data:
        if self._data is None:
            raise RuntimeError("the unit of work is not active: use its repositories inside `with uow:`")
        return self._data

    def write(self, data: Data) -> None:
        self._data = data
        self.changed = True

    def close(self) -> None:
        self._data = None


class _Table(Table):
    """A TinyDB table whose doc ids are the records' own ids (strings).

    TinyDB's stock `_update_table` copies the whole table twice on every write (to convert ids to int and
    back), which makes a 10k-instance import quadratic. Our storage is an in-memory dict, so updates apply in
    place; the query cache is cleared exactly as TinyDB does.
    """

    document_id_class = str  # type: ignore[assignment]

    def __init__(self, storage: _SessionStorage, name: str, source: Path) -> None:
        super().__init__(storage, name)
        self.source = source

    def _update_table(self, updater: Callable[[dict[int, Mapping[Any, Any]]], None]) -> None:
        tables = self._storage.read()
        assert tables is not None  # _SessionStorage never returns None
        updater(cast(dict[int, Mapping[Any, Any]], tables.setdefault(self.name, {})))
        self._storage.write(tables)
        self.clear_cache()

    def doc(self, key: str) -> Document | None:
        return self.get(doc_id=cast(int, key))

    def replace(self, key: str, doc: dict[str, Any]) -> Document | None:
        """Insert or replace the document stored under `key` and return the previous one. Storing a document
        equal to the current one changes nothing, so a commit after it writes nothing."""
        previous = self.doc(key)
        if previous != doc:

            def updater(table: MutableMapping[Any, Any]) -> None:
                table[key] = doc

            self._update_table(updater)
        return previous

    def load(self, model: type[M], doc: Mapping[str, Any]) -> M:
        """Rebuild a model from a stored document; a document the model rejects means a damaged file."""
        try:
            return model.model_validate(doc)
        except ValidationError as exc:
            key = getattr(doc, "doc_id", "?")
            raise StoreCorrupted(
                f"{self.source}: record {key!r} in table {self.name!r} is not a valid "
                f"{model.__name__} ({exc.error_count()} error(s): {exc.errors()[0]['msg']})"
            ) from exc

    def load_all(self, model: type[M], docs: list[Document]) -> list[M]:
        return [self.load(model, doc) for doc in docs]


def _same_text(value: object, expected: str) -> bool:
    return isinstance(value, str) and value.casefold() == expected


# ---- repositories -----------------------------------------------------------------------------------------


class TinyDBInstanceRepository:
    def __init__(self, table: _Table) -> None:
        self._table = table

    def get(self, instance_id: str) -> Instance | None:
        doc = self._table.doc(instance_id)
        return None if doc is None else self._table.load(Instance, doc)

    def list(
        self,
        *,
        status: InstanceStatus | None = None,
        brand: str | None = None,
        cert_type: CertType | None = None,
    ) -> list[Instance]:
        conditions: list[QueryLike] = []
        if status is not None:
            conditions.append(where("status") == InstanceStatus(status).value)
        if brand is not None:
            conditions.append(Query().brand.test(_same_text, brand.casefold()))
        if cert_type is not None:
            conditions.append(where("cert_type") == CertType(cert_type).value)
        docs = self._table.search(_all_of(conditions)) if conditions else self._table.all()
        docs.sort(key=lambda doc: str(doc.doc_id))
        return self._table.load_all(Instance, docs)

    def put(self, instance: Instance) -> None:
        self._table.replace(instance.id, instance.model_dump(mode="json"))


def _all_of(conditions: list[QueryLike]) -> QueryLike:
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition  # type: ignore[operator]
    return combined


class TinyDBCombinationRepository:
    def __init__(self, table: _Table) -> None:
        self._table = table

    def get_by_request_key(self, request_key: str) -> Combination | None:
        return self._find(where("request_key") == request_key)

    def get_by_result(self, result_id: str) -> Combination | None:
        return self._find(where("result_id") == result_id)

    def list(self) -> list[Combination]:
        combinations = self._table.load_all(Combination, self._table.all())
        return sorted(combinations, key=lambda c: (c.at, c.id))

    def add(self, combination: Combination) -> None:
        if self.get_by_request_key(combination.request_key) is not None:
            raise ValueError(f"a combination with request key {combination.request_key!r} already exists")
        if self._table.doc(combination.id) is not None:
            raise ValueError(f"a combination with id {combination.id!r} already exists")
        self._table.replace(combination.id, combination.model_dump(mode="json"))

    def _find(self, condition: QueryLike) -> Combination | None:
        doc = self._table.get(condition)
        return None if doc is None else self._table.load(Combination, doc)


_IN_PROGRESS_STAGES = [stage.value for stage in Stage if stage not in (Stage.ISSUED, Stage.REJECTED)]


class TinyDBApplicationRepository:
    def __init__(self, table: _Table) -> None:
        self._table = table
        self._by_instance: dict[str, set[str]] | None = None  # built on first use, kept up to date by put

    def get(self, application_id: str) -> Application | None:
        doc = self._table.doc(application_id)
        return None if doc is None else self._table.load(Application, doc)

    def latest_for_instance(self, instance_id: str) -> Application | None:
        ids = self._instance_index().get(instance_id, set())
        applications = [app for app in (self.get(app_id) for app_id in ids) if app is not None]
        return max(applications, key=lambda a: (a.submitted_at, a.id), default=None)

    def list(self, *, in_progress: bool | None = None) -> list[Application]:
        if in_progress is None:
            docs = self._table.all()
        else:
            active = where("stage").one_of(_IN_PROGRESS_STAGES)
            docs = self._table.search(active if in_progress else ~active)
        applications = self._table.load_all(Application, docs)
        return sorted(applications, key=lambda a: (a.submitted_at, a.id))

    def put(self, application: Application) -> None:
        previous = self._table.replace(application.id, application.model_dump(mode="json"))
        if self._by_instance is None:
            return
        if previous is not None:
            self._by_instance.get(previous["instance_id"], set()).discard(application.id)
        self._by_instance.setdefault(application.instance_id, set()).add(application.id)

    def _instance_index(self) -> dict[str, set[str]]:
        if self._by_instance is None:
            index: dict[str, set[str]] = {}
            for doc in self._table.all():
                index.setdefault(str(doc.get("instance_id")), set()).add(str(doc.doc_id))
            self._by_instance = index
        return self._by_instance


# ---- the unit of work -------------------------------------------------------------------------------------


class TinyDBNoticeRepository:
    def __init__(self, table: _Table) -> None:
        self._table = table

    def get(self, key: str) -> Notice | None:
        doc = self._table.doc(key)
        return None if doc is None else self._table.load(Notice, doc)

    def add(self, notice: Notice) -> bool:
        if self._table.doc(notice.key) is not None:
            return False
        self.put(notice)
        return True

    def put(self, notice: Notice) -> None:
        self._table.replace(notice.key, notice.model_dump(mode="json"))

    def unsent(self) -> list[Notice]:
        unsent = (where("sent_at") == None) & (where("withdrawn_at") == None)  # noqa: E711
        pending = self._table.load_all(Notice, self._table.search(unsent))
        return sorted(pending, key=lambda n: n.due_at)  # stable: notices due together keep their queue order

    def for_application(self, application_id: str) -> list[Notice]:
        found = self._table.search(where("application_id") == application_id)
        return sorted(self._table.load_all(Notice, found), key=lambda n: (n.created_at, n.key))


class TinyDBHandoverRepository:
    def __init__(self, table: _Table) -> None:
        self._table = table

    def get(self, request_key: str) -> Handover | None:
        doc = self._table.doc(request_key)
        return None if doc is None else self._table.load(Handover, doc)

    def put(self, handover: Handover) -> None:
        self._table.replace(handover.request_key, handover.model_dump(mode="json"))

    def list(self) -> list[Handover]:
        return sorted(self._table.load_all(Handover, self._table.all()), key=lambda h: h.at)

    def remove(self, request_key: str) -> None:
        if self._table.doc(request_key) is not None:
            self._table.remove(doc_ids=[cast(int, request_key)])


class TinyDBUnitOfWork:
    """`core.ports.UnitOfWork` over the JSON store in `data_dir`.

    Not re-entrant (a nested writing unit of work in the same process waits for the lock until it times
    out), but reusable: each `with` block takes the lock and reads the file afresh.
    """

    instances: InstanceRepository
    combinations: CombinationRepository
    applications: ApplicationRepository
    notices: NoticeRepository
    handovers: HandoverRepository

    def __init__(self, data_dir: Path, *, read_only: bool = False, lock_timeout: float = 30.0) -> None:
        self.data_dir = Path(data_dir)
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._file = AtomicJSONStorage(self.data_dir / STORE_FILE)
        self._lock: filelock.BaseFileLock | None = None
        self._active = False
        self._open(_SessionStorage(None))

    def __enter__(self) -> TinyDBUnitOfWork:
        if self._active:
            raise RuntimeError("this unit of work is already active (nested use is not supported)")
        if not self._file.path.exists():  # checked first: taking the lock would create a file in a wrong dir
            raise _not_initialised(self.data_dir)
        if not self.read_only:
            self._lock = _acquire_lock(self.data_dir, self.lock_timeout)
        try:
            self._open(_SessionStorage(self._file.read()))
        except BaseException:
            self._release()
            raise
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._session.close()
        self._release()

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        data = self._session.read()
        if not self._session.changed:
            return
        _remove_stale_temps(self.data_dir)
        self._file.write(data)
        self._session.changed = False

    def seen(self, key: str) -> bool:
        return self._keys.doc(key) is not None

    def remember(self, key: str, at: datetime) -> None:
        if not self.seen(key):
            self._keys.replace(key, {"at": at.isoformat()})

    def forget(self, prefix: str, before: datetime) -> int:
        stale = [
            doc.doc_id
            for doc in self._keys.all()
            if str(doc.doc_id).startswith(prefix) and datetime.fromisoformat(doc["at"]) < before
        ]
        if stale:
            self._keys.remove(doc_ids=stale)
        return len(stale)

    def _open(self, session: _SessionStorage) -> None:
        self._session = session
        source = self._file.path
        self.instances = TinyDBInstanceRepository(_Table(session, "instances", source))
        self.combinations = TinyDBCombinationRepository(_Table(session, "combinations", source))
        self.applications = TinyDBApplicationRepository(_Table(session, "applications", source))
        self.notices = TinyDBNoticeRepository(_Table(session, "notices", source))
        self.handovers = TinyDBHandoverRepository(_Table(session, "handovers", source))
        self._keys = _Table(session, "keys", source)

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()
