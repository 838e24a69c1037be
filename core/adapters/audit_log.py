"""The audit log: one hash-chained JSON line per event in `audit.jsonl`, fsynced before `append` returns.

Fail-closed (anchors C.1): if an entry cannot be written, `append` raises and the caller must not report
success. Appends from several processes are serialised by `audit.jsonl.lock`; each append reads only the last
line (backwards from the end of the file) to chain onto it, so appending stays cheap however long the log is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import filelock
from pydantic import ValidationError

from core.adapters.files import fsync_dir
from core.audit import canonical_json, entry_hash, next_entry, require_actor, verify_chain
from core.errors import CertopsError, NotInitialised, StoreCorrupted
from core.model import AuditEvent

AUDIT_FILE = "audit.jsonl"
LOCK_FILE = f"{AUDIT_FILE}.lock"
AUDIT_MODE = 0o600
_BLOCK = 8192


class JsonlAuditLog:
    """`core.ports.AuditLog` over `data_dir / "audit.jsonl"`."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = 30.0) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / AUDIT_FILE
        self.lock_timeout = lock_timeout

    def init(self) -> bool:
        """Create an empty log if there is none. True if it was created; never truncates."""
        self._require_dir()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, AUDIT_MODE)
        except FileExistsError:
            return False
        os.close(fd)
        fsync_dir(self.data_dir)
        return True

    def append(self, *, at: datetime, actor: str, action: str, subject: str, details: dict[str, object]) -> AuditEvent:
        require_actor(actor)
        self._require_dir()
        lock = self._acquire_lock()
        try:
            return self._append_locked(at=at, actor=actor, action=action, subject=subject, details=details)
        except OSError as exc:
            raise CertopsError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc
        finally:
            lock.release()

    def entries(self) -> Iterator[AuditEvent]:
        """Every entry, oldest first. A line that is not an entry raises StoreCorrupted naming it."""
        for index, line in enumerate(self._lines()):
            yield self._parse(line, index + 1)

    def verify(self) -> tuple[int, str | None]:
        """(number of entries, None) when the chain holds, else (index of the first bad entry, why).

        A line that is not an entry (torn by a crash, or edited) counts as bad, like a broken link.
        """
        unreadable: list[tuple[int, str]] = []
        count, problem = verify_chain(self._readable_prefix(unreadable))
        if problem is not None:
            return count, problem
        return unreadable[0] if unreadable else (count, None)

    # ---- appending ----------------------------------------------------------------------------------------

    def _append_locked(
        self, *, at: datetime, actor: str, action: str, subject: str, details: dict[str, object]
    ) -> AuditEvent:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, AUDIT_MODE)
        try:
            size = os.fstat(fd).st_size
            prev = self._last_entry(fd, size)
            event = next_entry(prev, at=at, actor=actor, action=action, subject=subject, details=details)
            _write_durably(fd, (canonical_json(event.model_dump(mode="json")) + "\n").encode("utf-8"), size)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.data_dir)
        return event

    def _last_entry(self, fd: int, size: int) -> AuditEvent | None:
        """The entry on the last line, read backwards from the end; None for an empty log.

        Refuses to chain onto a torn or altered last line: that raises StoreCorrupted.
        """
        if size == 0:
            return None
        if os.pread(fd, 1, size - 1) != b"\n":
            raise StoreCorrupted(
                f"{self.path} line {self._line_count()} is incomplete (a crash during an append?): certops "
                "writes no audit entries until it is repaired. Check that line and remove it, then retry."
            )
        try:
            event = AuditEvent.model_validate_json(_last_line(fd, size))
        except ValidationError as exc:
            raise StoreCorrupted(
                f"{self.path} line {self._line_count()} is not a valid audit entry "
                f"({exc.errors()[0]['msg']}): certops writes no audit entries until it is repaired"
            ) from exc
        if entry_hash(event) != event.hash:
            raise StoreCorrupted(
                f"{self.path} line {self._line_count()} does not match its hash: the log was altered; "
                "certops writes no audit entries until it is checked and repaired"
            )
        return event

    def _line_count(self) -> int:
        """Number of lines, counting an unterminated last one. Reads the whole file: error paths only."""
        count = 0
        last = b"\n"
        with self.path.open("rb") as handle:
            while block := handle.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
        return count + (last != b"\n")

    # ---- reading ------------------------------------------------------------------------------------------

    def _lines(self) -> Iterator[bytes]:
        """Raw lines split on b"\\n" only (ensure_ascii=False JSON may hold U+2028, which str.splitlines
        would also split on). A missing log has no lines."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from handle

    def _readable_prefix(self, unreadable: list[tuple[int, str]]) -> Iterator[AuditEvent]:
        """Entries up to the first line that is not one; that line's (index, reason) goes to `unreadable`."""
        for index, line in enumerate(self._lines()):
            if not line.endswith(b"\n"):
                reason = f"{self.path} line {index + 1} is incomplete (no line end: a crash during an append?)"
                unreadable.append((index, reason))
                return
            try:
                event = self._parse(line, index + 1)
            except StoreCorrupted as exc:
                unreadable.append((index, str(exc)))
                return
            yield event

    def _parse(self, line: bytes, line_no: int) -> AuditEvent:
        try:
            return AuditEvent.model_validate_json(line)
        except ValidationError as exc:
            raise StoreCorrupted(
                f"{self.path} line {line_no} is not a valid audit entry ({exc.errors()[0]['msg']})"
            ) from exc

    # ---- helpers ------------------------------------------------------------------------------------------

    def _require_dir(self) -> None:
        if not self.data_dir.is_dir():
            raise NotInitialised(f"{self.data_dir} is not a certops data directory: run `certops init` first")

    def _acquire_lock(self) -> filelock.BaseFileLock:
        lock_path = self.data_dir / LOCK_FILE
        lock = filelock.FileLock(lock_path, timeout=self.lock_timeout)
        try:
            lock.acquire()
        except filelock.Timeout as exc:
            raise CertopsError(
                f"another certops process holds the audit log lock {lock_path} "
                f"(waited {self.lock_timeout:g} s); nothing was recorded"
            ) from exc
        return lock


def _last_line(fd: int, size: int) -> bytes:
    """The last line of a file that ends with a newline, found by reading backwards in blocks."""
    end = size - 1  # the final newline
    chunks: list[bytes] = []
    pos = end
    while pos > 0:
        start = max(0, pos - _BLOCK)
        block = os.pread(fd, pos - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            chunks.append(block[newline + 1 :])
            break
        chunks.append(block)
        pos = start
    return b"".join(reversed(chunks))


def _write_durably(fd: int, data: bytes, size_before: int) -> None:
    """Append all of `data` and fsync. On failure, cut the file back so no torn line is left behind."""
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size_before)
        raise
