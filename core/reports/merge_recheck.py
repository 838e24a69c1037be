"""The merge audit's rule re-check: every rule of C1–C8 a recorded combination breaks.

The rules are not decided here: the source snapshots are re-checked with core.rules.combine; the record, the audit
entry and what became of the sources are compared with what C5–C8 require.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.model import (
    COMBINED_NAME_PREFIX,
    WAIVER_TEXT,
    Application,
    AuditEvent,
    Combination,
    Instance,
    InstanceStatus,
    Reason,
    SourceSnapshot,
)
from core.rules.combine import combination_reasons


def snapshot_instance(snapshot: SourceSnapshot) -> Instance:
    """The source as it was recorded when it was combined, as an Instance the combine rules can check.

    Built without validation: a recorded status of "combined" has no merged_into to go with it, and a damaged
    record must still be checkable. Hosting was not recorded, so it reads as not hosted.
    """
    return Instance.model_construct(
        id=snapshot.id,
        name=snapshot.name,
        brand=snapshot.brand,
        cert_type=snapshot.cert_type,
        status=snapshot.status,
        validity_years=snapshot.validity_years,
        exact_quota=snapshot.exact_quota,
        wildcard_quota=snapshot.wildcard_quota,
        refundable=snapshot.refundable,
        hosted=False,
        merged_into=None,
        merged_from=[],
        service_start=None,
        service_end=None,
    )


def recheck_combination(
    combination: Combination,
    *,
    audit_entries: Sequence[AuditEvent],
    combined_into: Mapping[str, Sequence[str]],
    current: Mapping[str, Instance | None],
    latest_applications: Mapping[str, Application | None],
) -> list[Reason]:
    """Every rule of C1–C8 the recorded combination breaks, judged from its source snapshots (C1–C4, C8 through
    core.rules.combine), its record (C5, C6), its audit entry (C7) and what became of its sources (C8)."""
    sources = [snapshot_instance(s) for s in combination.sources]
    reasons = combination_reasons(sources[0], sources[1:]) if sources else [_no_sources(combination)]
    reasons += _quota_reasons(combination)
    reasons += _name_reasons(combination)
    reasons += _waiver_reasons(combination, audit_entries)
    reasons += _afterwards_reasons(combination, combined_into, current, latest_applications)
    return reasons


def _reason(rule: str, combination: Combination, message: str) -> Reason:
    return Reason(rule=rule, subject=combination.id, message=message)


def _no_sources(combination: Combination) -> Reason:
    return _reason("C8", combination, f"Combination {combination.id} records no source instances.")


def _quota_reasons(combination: Combination) -> list[Reason]:
    expected = (
        sum(s.exact_quota for s in combination.sources),
        sum(s.wildcard_quota for s in combination.sources),
    )
    got = combination.quota.exact, combination.quota.wildcard
    if got == expected:
        return []
    return [
        _reason(
            "C5",
            combination,
            f"{combination.result_id} has a quota of {got[0]} exact + {got[1]} wildcard, but its sources add up "
            f"to {expected[0]} exact + {expected[1]} wildcard.",
        )
    ]


def _name_reasons(combination: Combination) -> list[Reason]:
    if combination.result_name.startswith(COMBINED_NAME_PREFIX):
        return []
    message = f"{combination.result_id} is named {combination.result_name!r}, not {COMBINED_NAME_PREFIX}…."
    return [_reason("C6", combination, message)]


def _waiver_reasons(combination: Combination, entries: Sequence[AuditEvent]) -> list[Reason]:
    """C7: the refund waiver was confirmed with the exact text, and the audit log records who, when and what."""
    reasons: list[Reason] = []
    if combination.waiver_text != WAIVER_TEXT:
        reasons.append(_reason("C7", combination, f"The confirmed text {combination.waiver_text!r} is not the waiver."))
    if not entries:
        message = f"The audit log has no combine entry for {combination.result_id}: the confirmation is not recorded."
        return [*reasons, _reason("C7", combination, message)]
    entry = entries[0]
    if entry.actor != combination.actor:
        message = f"The audit log names {entry.actor} as the actor, the store {combination.actor}."
        reasons.append(_reason("C7", combination, message))
    if entry.details.get("waiver_text") != WAIVER_TEXT:
        reasons.append(_reason("C7", combination, "The audit entry does not record the confirmed waiver text."))
    recorded = entry.details.get("sources")
    if not isinstance(recorded, list) or sorted(map(str, recorded)) != sorted(combination.source_ids):
        message = f"The audit entry lists the instances {recorded}, the store {combination.source_ids}."
        reasons.append(_reason("C7", combination, message))
    if len(entries) > 1:
        reasons.append(_reason("C8", combination, f"The audit log records {len(entries)} combinations into it."))
    return reasons


def _afterwards_reasons(
    combination: Combination,
    combined_into: Mapping[str, Sequence[str]],
    current: Mapping[str, Instance | None],
    latest_applications: Mapping[str, Application | None],
) -> list[Reason]:
    """C8 (and C7's "no refund") after the fact: each source combined once, never applied for again."""
    reasons: list[Reason] = []
    for source_id in combination.source_ids:
        for other in combined_into.get(source_id, ()):
            if other != combination.result_id:
                message = f"Instance {source_id} was also combined into {other}; an instance is combined at most once."
                reasons.append(_reason("C8", combination, message))
        now = current.get(source_id)
        if now is None:
            reasons.append(_reason("C8", combination, f"Source {source_id} is no longer in the store."))
        elif now.merged_into != combination.result_id or now.status is not InstanceStatus.COMBINED:
            message = (
                f"Source {source_id} is now {now.status.value}"
                + (f" (merged into {now.merged_into})" if now.merged_into else "")
                + f" instead of combined into {combination.result_id}."
            )
            reasons.append(_reason("C8", combination, message))
        elif now.refundable:
            reasons.append(_reason("C7", combination, f"Source {source_id} is still marked refundable."))
        applied = latest_applications.get(source_id)
        if applied is not None and applied.submitted_at > combination.at:
            message = f"Source {source_id} was applied for ({applied.id}) after it was combined."
            reasons.append(_reason("C8", combination, message))
    return reasons
