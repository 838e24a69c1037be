"""The hash chain behind the audit log: canonical JSON, entry hashes, building and verifying entries.

Pure functions over `AuditEvent`s; the adapter in core/adapters/audit_log.py does the file I/O.
Each entry's `hash` is the SHA-256 of the canonical JSON of every other field, and its `prev_hash` is the
previous entry's hash (GENESIS_HASH for the first), so changing, removing or reordering an entry breaks the
chain at that entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from core.model import AuditEvent

GENESIS_HASH = "0" * 64


def canonical_json(data: object) -> str:
    """The one JSON spelling of `data` that hashes are computed over (and that log lines are written in)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(event: AuditEvent) -> str:
    """SHA-256 (hex) of the canonical JSON of every field of `event` except `hash`."""
    fields = event.model_dump(mode="json", exclude={"hash"})
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def require_actor(actor: str) -> str:
    """Every entry names who acted; a blank actor is a programming error, not an anonymous entry."""
    if not actor or not actor.strip():
        raise ValueError("an audit entry needs an actor (a Slack user id or the CLI's --actor)")
    return actor


def next_entry(
    prev: AuditEvent | None,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, object],
) -> AuditEvent:
    """The entry that follows `prev` (or the first entry when `prev` is None), with its hash filled in."""
    unhashed = AuditEvent(
        seq=0 if prev is None else prev.seq + 1,
        at=at,
        actor=require_actor(actor),
        action=action,
        subject=subject,
        details=details,
        prev_hash=GENESIS_HASH if prev is None else prev.hash,
        hash="",
    )
    # Round-trip through JSON so the returned entry equals the one read back from disk later (details
    # holding datetimes or tuples come back as strings and lists).
    normalised = AuditEvent.model_validate(json.loads(canonical_json(unhashed.model_dump(mode="json"))))
    return normalised.model_copy(update={"hash": entry_hash(normalised)})


def entry_problem(index: int, event: AuditEvent, prev: AuditEvent | None) -> str | None:
    """Why `event`, found at position `index` after `prev`, breaks the chain; None when it holds."""
    if entry_hash(event) != event.hash:
        return "hash mismatch"
    if event.seq != (0 if prev is None else prev.seq + 1):
        return "seq out of order"
    if prev is None and event.prev_hash != GENESIS_HASH:
        return f"prev_hash of entry {index} is not the genesis hash"
    if prev is not None and event.prev_hash != prev.hash:
        return f"prev_hash does not match entry {index - 1}"
    return None


def verify_chain(entries: Iterable[AuditEvent]) -> tuple[int, str | None]:
    """(number of entries, None) when the chain holds, else (index of the first bad entry, reason).

    Streams: keeps only the previous entry, so it works on logs larger than memory.
    """
    prev: AuditEvent | None = None
    count = 0
    for index, event in enumerate(entries):
        problem = entry_problem(index, event, prev)
        if problem is not None:
            return index, problem
        prev = event
        count = index + 1
    return count, None
