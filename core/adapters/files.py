"""Crash-safe file writes and strict JSON reads, shared by every adapter that keeps files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from core.errors import StoreCorrupted


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a crash at any instant leaves the old or the new content.

    Writes a temporary file in the same directory, fsyncs it, renames it over the target and fsyncs the
    directory so the rename itself is durable.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    """Parse a JSON file; a file that is empty, torn or not JSON raises StoreCorrupted naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StoreCorrupted(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreCorrupted(
            f"{path} is not valid JSON ({exc}); certops stopped and changed nothing. "
            f"Restore the file (a copy of the last good state is kept as {path.name}.bak) or move it away."
        ) from exc
