"""Combining certificate instances: rules C1–C8 of docs/domain.md.

Pure functions over `Instance` values. Every function returns *all* the reasons a request is refused, never
just the first, so that a user can fix everything in one go.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from core.errors import RuleViolation
from core.model import COMBINED_NAME_PREFIX, CertType, CombinePlan, Instance, InstanceStatus, Reason

COMBINABLE_STATUSES: frozenset[InstanceStatus] = frozenset(
    {InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED}
)
COMBINABLE_TYPES: frozenset[CertType] = frozenset({CertType.OV, CertType.EV})

_UNSAFE_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_BY_ID = attrgetter("id")


def _is_combined_source(instance: Instance) -> bool:
    return instance.status is InstanceStatus.COMBINED or instance.merged_into is not None


def _is_globalsign_ev_wildcard(instance: Instance) -> bool:
    """Provider note under C2: GlobalSign EV instances whose domains are wildcards cannot be combined."""
    return (
        instance.cert_type is CertType.EV and instance.wildcard_quota > 0 and instance.brand.casefold() == "globalsign"
    )


def _same_brand(a: Instance, b: Instance) -> bool:
    return a.brand.casefold() == b.brand.casefold()


def instance_reasons(base: Instance, other: Instance) -> list[Reason]:
    """Every reason `other` cannot be combined with `base` (pass `base` twice for base's own reasons).

    An instance already consumed by a combination gets the C8 reason only (not C3 as well): that it was
    combined is what the user needs to know, and no change of status makes it combinable again.
    """
    reasons: list[Reason] = []
    oid = other.id

    def refuse(rule: str, message: str) -> None:
        reasons.append(Reason(rule=rule, subject=oid, message=message))

    if not _same_brand(base, other):
        refuse(
            "C1",
            f"Instance {oid} is a {other.brand} certificate but {base.id} is {base.brand}; only instances of "
            f"the same brand can be combined, so choose another {base.brand} instance.",
        )
    if other.cert_type is not base.cert_type:
        refuse(
            "C1",
            f"Instance {oid} is of type {other.cert_type} but {base.id} is {base.cert_type}; only instances "
            f"of the same certificate type can be combined, so choose another {base.cert_type} instance.",
        )
    if other.cert_type not in COMBINABLE_TYPES:
        refuse(
            "C2",
            f"Instance {oid} is a {other.cert_type} certificate and only OV or EV instances can be combined; "
            "apply for it on its own instead.",
        )
    elif _is_globalsign_ev_wildcard(other):
        refuse(
            "C2",
            f"Instance {oid} is a GlobalSign EV instance with a wildcard quota, which the provider does not "
            "allow to be combined; apply for it on its own instead.",
        )
    if _is_combined_source(other):
        into = f" into {other.merged_into}" if other.merged_into else ""
        refuse(
            "C8",
            f"Instance {oid} was already combined{into} and can never be combined again; "
            f"use the combined instance{into} instead.",
        )
    elif other.status not in COMBINABLE_STATUSES:
        if other.status is InstanceStatus.NOT_ACTIVATED:
            fix = f"activate it first with `certops instances activate {oid}`"
        else:
            fix = "choose another instance"
        refuse(
            "C3",
            f"Instance {oid} is in status {other.status}, but only instances in pending application or "
            f"validation failed can be combined; {fix}.",
        )
    if other.validity_years != 1:
        refuse(
            "C4",
            f"Instance {oid} has a validity period of {other.validity_years} years, but only one-year "
            "instances can be combined; choose a one-year instance.",
        )
    if other.hosted:
        refuse("C8", f"Instance {oid} is hosted; take it out of certificate hosting first, then combine it.")
    return reasons


def combination_reasons(current: Instance, others: Sequence[Instance]) -> list[Reason]:
    """Every violated rule over a whole combination request of `current` with `others`."""
    reasons = instance_reasons(current, current)
    seen: set[str] = set()
    for other in others:
        if other.id == current.id:
            message = (
                f"Instance {other.id} is the current instance and is also listed among the instances to "
                "combine with it; remove it from that list."
            )
            reasons.append(Reason(rule="C8", subject=other.id, message=message))
        elif other.id in seen:
            message = f"Instance {other.id} is listed more than once; list each instance to combine only once."
            reasons.append(Reason(rule="C8", subject=other.id, message=message))
        else:
            seen.add(other.id)
            reasons.extend(instance_reasons(current, other))
    if not seen:
        message = (
            f"A combination needs at least two instances, but only {current.id} was given; "
            f"choose at least one more instance to combine with {current.id}."
        )
        reasons.append(Reason(rule="C8", subject=current.id, message=message))
    return reasons


def combined_name(brand: str, cert_type: CertType, request_key: str) -> str:
    """C6: the name of the combined instance, e.g. `cas-merge-digicert-ov-1a2b3c4d`.

    The suffix comes from the request key, so repeating the same request gives the same name.
    """
    slug = _UNSAFE_NAME_CHARS.sub("-", brand.lower()).strip("-") or "brand"
    digest = hashlib.sha256(request_key.encode("utf-8")).hexdigest()[:8]
    return f"{COMBINED_NAME_PREFIX}-{slug}-{cert_type.value.lower()}-{digest}"


def plan_combination(current: Instance, others: Sequence[Instance], request_key: str) -> CombinePlan:
    """What combining `current` with `others` will do (C5, C6, C7); RuleViolation lists every reason."""
    reasons = combination_reasons(current, others)
    if reasons:
        raise RuleViolation(reasons, headline=f"cannot combine {current.id}")
    quota = sum((other.quota for other in others), start=current.quota)
    return CombinePlan(
        current_id=current.id,
        source_ids=[current.id, *(other.id for other in others)],
        brand=current.brand,
        cert_type=current.cert_type,
        quota=quota,
        name=combined_name(current.brand, current.cert_type, request_key),
    )


@dataclass(frozen=True)
class Candidates:
    """What the "Combine Certificates" dialog shows for `current`."""

    current: Instance
    current_reasons: list[Reason]
    eligible: list[Instance]
    ineligible: list[tuple[Instance, list[Reason]]]


def _combinable_alone(instance: Instance) -> bool:
    """Whether instance_reasons finds nothing against `instance` next to one of its own brand and type.

    A shortcut for find_candidates, which must sift tens of thousands of instances quickly; the unit tests
    check that it agrees with instance_reasons.
    """
    return (
        instance.status in COMBINABLE_STATUSES
        and instance.merged_into is None
        and instance.validity_years == 1
        and not instance.hosted
        and instance.cert_type in COMBINABLE_TYPES
        and not _is_globalsign_ev_wildcard(instance)
    )


def find_candidates(current: Instance, instances: Iterable[Instance]) -> Candidates:
    """Instances of current's brand (case-insensitive) and type, split into those that can be combined
    with it and those that cannot (with their reasons), each sorted by id. `current` itself is left out."""
    brand = current.brand.casefold()
    same_brand: dict[str, bool] = {}  # brand as spelt -> matches; saves a casefold per instance
    eligible: list[Instance] = []
    ineligible: list[tuple[Instance, list[Reason]]] = []
    for other in instances:
        if other.cert_type is not current.cert_type or other.id == current.id:
            continue
        matches = same_brand.get(other.brand)
        if matches is None:
            matches = same_brand[other.brand] = other.brand.casefold() == brand
        if not matches:
            continue
        if _combinable_alone(other):
            eligible.append(other)
        else:
            ineligible.append((other, instance_reasons(current, other)))
    eligible.sort(key=_BY_ID)
    ineligible.sort(key=lambda pair: pair[0].id)
    return Candidates(
        current=current,
        current_reasons=instance_reasons(current, current),
        eligible=eligible,
        ineligible=ineligible,
    )
