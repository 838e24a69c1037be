"""Combining instances: candidates, the plan, and the irreversible combination itself (C1–C8)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import NotFound, OperationNotSupported, WaiverRequired
from core.model import (
    COMBINED_NAME_PREFIX,
    WAIVER_TEXT,
    Combination,
    CombinePlan,
    Handover,
    Instance,
    InstanceStatus,
    SourceSnapshot,
)
from core.ports import UnitOfWork
from core.rules.combine import Candidates, find_candidates, plan_combination
from core.services.context import Ports, require_actor
from core.services.instances import get_instance


@dataclass(frozen=True)
class CombineOutcome:
    plan: CombinePlan
    combination: Combination | None  # None for a dry run
    instance: Instance | None  # the new cas-merge… instance
    replayed: bool = False  # the same request was already carried out; nothing changed now
    handover: str | None = None  # the provider cannot combine by API: what a person must do in its console


def candidates(ports: Ports, instance_id: str) -> Candidates:
    with ports.unit_of_work(read_only=True) as uow:
        current = get_instance(uow, instance_id)
        same_kind = uow.instances.list(brand=current.brand, cert_type=current.cert_type)
    return find_candidates(current, same_kind)


def default_request_key(instance_id: str, with_ids: Sequence[str]) -> str:
    """The same set of instances is the same request, however often or in whatever order it is sent."""
    members = ",".join(sorted({instance_id, *with_ids}))
    return "combine:" + hashlib.sha256(members.encode()).hexdigest()


def combine(
    ports: Ports,
    instance_id: str,
    with_ids: Sequence[str],
    *,
    actor: str,
    accept_no_refund: bool,
    dry_run: bool = False,
    request_key: str | None = None,
) -> CombineOutcome:
    actor = require_actor(actor)
    key = request_key or default_request_key(instance_id, with_ids)
    with ports.unit_of_work(read_only=dry_run) as uow:
        done = uow.combinations.get_by_request_key(key)
        if done is not None:
            return _replayed(uow, done)
        waiting = uow.handovers.get(key)
        if waiting is not None and not dry_run:
            return CombineOutcome(plan=waiting.plan, combination=None, instance=None, handover=waiting.steps)
        current, others = _load_members(uow, instance_id, with_ids)
        plan = plan_combination(current, others, key)
        if dry_run:
            return CombineOutcome(plan=plan, combination=None, instance=None)
        if not accept_no_refund:
            raise WaiverRequired(
                "nothing was combined: combining is irreversible and the combined instances can no longer be "
                f'refunded (C7). Confirm "{WAIVER_TEXT}" with --accept-no-refund'
            )
        try:
            result = ports.provider.combine(plan, key)
        except OperationNotSupported as console_only:
            steps = str(console_only)
            _hand_over(ports, uow, plan, [current, *others], actor=actor, request_key=key, steps=steps)
            uow.commit()
            return CombineOutcome(plan=plan, combination=None, instance=None, handover=steps)
        combination = _record(ports, uow, plan, [current, *others], result, actor=actor, request_key=key)
        uow.commit()
    return CombineOutcome(plan=plan, combination=combination, instance=result)


def _hand_over(
    ports: Ports,
    uow: UnitOfWork,
    plan: CombinePlan,
    sources: Sequence[Instance],
    *,
    actor: str,
    request_key: str,
    steps: str,
) -> None:
    """The waiver is confirmed here and now; the combination itself is done in the console and found by sync."""
    now = ports.clock.now()
    ports.audit.append(
        at=now,
        actor=actor,
        action="combine.handover",
        subject=plan.current_id,
        details={"sources": plan.source_ids, "name": plan.name, "waiver_text": WAIVER_TEXT, "request_key": request_key},
    )
    uow.handovers.put(
        Handover(
            request_key=request_key,
            plan=plan,
            sources=[SourceSnapshot.model_validate(s.model_dump()) for s in sources],
            actor=actor,
            at=now,
            waiver_text=WAIVER_TEXT,
            steps=steps,
        )
    )


def reconcile_handovers(ports: Ports, uow: UnitOfWork) -> list[str]:
    """Record each handed-over combination whose cas-merge… instance the provider now lists; returns their ids."""
    recorded = []
    for waiting in uow.handovers.list():
        result = _console_result(uow, waiting)
        if result is None:
            continue
        sources = [uow.instances.get(i) or _from_snapshot(s) for i, s in zip(waiting.plan.source_ids, waiting.sources,
                                                                             strict=True)]  # fmt: skip
        _record(ports, uow, waiting.plan, sources, result, actor=waiting.actor, request_key=waiting.request_key)
        uow.handovers.remove(waiting.request_key)
        recorded.append(result.id)
    return recorded


def _console_result(uow: UnitOfWork, waiting: Handover) -> Instance | None:
    """The new cas-merge… instance of the plan's brand, type and summed quota that no combination claims yet."""
    plan = waiting.plan
    for instance in uow.instances.list(brand=plan.brand, cert_type=plan.cert_type):
        fits = instance.name.startswith(COMBINED_NAME_PREFIX) and instance.quota == plan.quota
        if fits and instance.id not in plan.source_ids and uow.combinations.get_by_result(instance.id) is None:
            return instance
    return None


def _from_snapshot(snapshot: SourceSnapshot) -> Instance:
    return Instance.model_validate(snapshot.model_dump())


def _load_members(uow: UnitOfWork, instance_id: str, with_ids: Sequence[str]) -> tuple[Instance, list[Instance]]:
    current = get_instance(uow, instance_id)
    missing = [i for i in with_ids if uow.instances.get(i) is None]
    if missing:
        raise NotFound(f"no instance {', '.join(missing)}: `certops candidates {instance_id}` lists what fits")
    return current, [get_instance(uow, i) for i in with_ids]


def _replayed(uow: UnitOfWork, done: Combination) -> CombineOutcome:
    plan = CombinePlan(
        current_id=done.source_ids[0],
        source_ids=done.source_ids,
        brand=done.brand,
        cert_type=done.cert_type,
        quota=done.quota,
        name=done.result_name,
    )
    return CombineOutcome(plan=plan, combination=done, instance=uow.instances.get(done.result_id), replayed=True)


def _record(
    ports: Ports,
    uow: UnitOfWork,
    plan: CombinePlan,
    sources: Sequence[Instance],
    result: Instance,
    *,
    actor: str,
    request_key: str,
) -> Combination:
    now = ports.clock.now()
    combination = Combination(
        id=result.id,
        request_key=request_key,
        result_id=result.id,
        result_name=result.name,
        source_ids=plan.source_ids,
        sources=[SourceSnapshot.model_validate(s.model_dump()) for s in sources],
        brand=plan.brand,
        cert_type=plan.cert_type,
        quota=plan.quota,
        actor=actor,
        at=now,
        waiver_text=WAIVER_TEXT,
    )
    # Audit first: the log is written and flushed before the store reports success (fail-closed).
    ports.audit.append(
        at=now,
        actor=actor,
        action="combine",
        subject=result.id,
        details={
            "sources": plan.source_ids,
            "name": result.name,
            "exact_quota": plan.quota.exact,
            "wildcard_quota": plan.quota.wildcard,
            "waiver_text": WAIVER_TEXT,
            "request_key": request_key,
        },
    )
    for source in sources:
        uow.instances.put(
            source.model_copy(update={"status": InstanceStatus.COMBINED, "merged_into": result.id, "refundable": False})
        )
    uow.instances.put(result.model_copy(update={"merged_from": plan.source_ids, "refundable": False}))
    uow.combinations.add(combination)
    return combination
