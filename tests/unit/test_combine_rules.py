"""Combining certificate instances: rules C1–C8 (core/rules/combine.py)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import RuleViolation
from core.model import CertType, Instance, InstanceStatus, Quota, Reason
from core.rules.combine import (
    COMBINABLE_STATUSES,
    Candidates,
    combination_reasons,
    combined_name,
    find_candidates,
    instance_reasons,
    plan_combination,
)
from tests import factories


def make_instance(**overrides: Any) -> Instance:
    return factories.make_instance(**{"id": "cur", **overrides})


def other(id: str = "o1", **overrides: Any) -> Instance:
    return make_instance(id=id, **overrides)


Expected = list[tuple[str, str, tuple[str, ...]]]  # (rule, subject, key words of the message)

# Each row: the current instance, the others to combine with it, and every reason expected (empty: allowed).
RULE_CASES: list[tuple[Instance, list[Instance], Expected]] = [
    (make_instance(), [other(brand="digicert")], []),
    (make_instance(), [other(brand="GeoTrust")], [("C1", "o1", ("o1", "GeoTrust", "same brand"))]),
    (make_instance(), [other(cert_type=CertType.EV)], [("C1", "o1", ("o1", "EV", "same certificate type"))]),
    (make_instance(cert_type=CertType.EV), [other(cert_type=CertType.EV)], []),
    (
        make_instance(cert_type=CertType.DV),
        [other(cert_type=CertType.DV)],
        [("C2", "cur", ("cur", "DV", "OV or EV")), ("C2", "o1", ("o1", "DV", "OV or EV"))],
    ),
    (
        make_instance(brand="GlobalSign", cert_type=CertType.EV),
        [other(brand="GlobalSign", cert_type=CertType.EV, wildcard_quota=1)],
        [("C2", "o1", ("o1", "GlobalSign EV", "wildcard"))],
    ),
    (
        make_instance(brand="GlobalSign", cert_type=CertType.OV),
        [other(brand="GlobalSign", cert_type=CertType.OV, wildcard_quota=1)],
        [],
    ),
    (make_instance(), [other(status=InstanceStatus.VALIDATION_FAILED)], []),
    (
        make_instance(),
        [other(status=InstanceStatus.ISSUED)],
        [("C3", "o1", ("o1", "issued", "pending application"))],
    ),
    (
        make_instance(status=InstanceStatus.NOT_ACTIVATED),
        [other()],
        [("C3", "cur", ("cur", "not_activated", "certops instances activate cur"))],
    ),
    (make_instance(), [other(validity_years=2)], [("C4", "o1", ("o1", "2 years", "one-year"))]),
    (make_instance(), [other(refundable=False)], []),
    (make_instance(), [], [("C8", "cur", ("cur", "at least two", "one more"))]),
    (make_instance(), [other(), other()], [("C8", "o1", ("o1", "more than once"))]),
    (make_instance(), [make_instance(), other()], [("C8", "cur", ("cur", "also listed", "remove"))]),
    (
        make_instance(),
        [other(status=InstanceStatus.COMBINED, merged_into="m1")],
        [("C8", "o1", ("o1", "already combined into m1", "never"))],
    ),
    (make_instance(), [other(hosted=True)], [("C8", "o1", ("o1", "hosted", "hosting first"))]),
]
RULE_IDS = [
    "C1-same-brand-any-case-passes",
    "C1-other-brand-fails",
    "C1-other-type-fails",
    "C2-ev-passes",
    "C2-dv-fails",
    "C2-globalsign-ev-wildcard-fails",
    "C2-globalsign-ov-wildcard-passes",
    "C3-validation-failed-passes",
    "C3-issued-fails",
    "C3-not-activated-current-fails-with-activate-hint",
    "C4-two-years-fails",
    "C7-not-refundable-still-combinable",
    "C8-single-instance-fails",
    "C8-listed-twice-fails",
    "C8-current-among-others-fails",
    "C8-already-combined-fails",
    "C8-hosted-fails",
]


def assert_reasons(reasons: list[Reason], expected: Expected) -> None:
    assert sorted((r.rule, r.subject) for r in reasons) == sorted((rule, subject) for rule, subject, _ in expected)
    for rule, subject, words in expected:
        message = next(r.message for r in reasons if (r.rule, r.subject) == (rule, subject))
        for word in words:
            assert word in message, f"{word!r} not in {message!r}"
        assert message.endswith(".")


@pytest.mark.parametrize(("current", "others", "expected"), RULE_CASES, ids=RULE_IDS)
def test_combination_rule(current: Instance, others: list[Instance], expected: Expected) -> None:
    assert_reasons(combination_reasons(current, others), expected)
    if expected:
        with pytest.raises(RuleViolation) as caught:
            plan_combination(current, others, "key")
        assert caught.value.headline == "cannot combine cur"
        assert_reasons(caught.value.reasons, expected)
    else:
        plan_combination(current, others, "key")


PLAN_IDS = ["C5-quota-is-the-sum", "C6-name-starts-with-cas-merge", "C7-plan-waives-refund"]


@pytest.mark.parametrize("rule", PLAN_IDS, ids=PLAN_IDS)
def test_plan_rule(rule: str) -> None:
    current = make_instance(exact_quota=2, wildcard_quota=1)
    others = [other("o1", exact_quota=3, wildcard_quota=0), other("o2", exact_quota=0, wildcard_quota=4)]
    plan = plan_combination(current, others, "req-1")
    if rule.startswith("C5"):
        assert plan.quota == Quota(exact=5, wildcard=5)
    elif rule.startswith("C6"):
        assert plan.name.startswith("cas-merge")
    else:
        assert plan.refund_waived is True


def test_plan_lists_current_first_then_others_in_request_order() -> None:
    plan = plan_combination(make_instance(), [other("o9"), other("o2")], "req-1")
    assert plan.current_id == "cur"
    assert plan.source_ids == ["cur", "o9", "o2"]
    assert (plan.brand, plan.cert_type) == ("DigiCert", CertType.OV)


def test_all_reasons_are_reported_at_once() -> None:
    current = make_instance(validity_years=3, hosted=True)
    bad = other(brand="GeoTrust", cert_type=CertType.DV, status=InstanceStatus.REVIEWING, validity_years=2)
    reasons = combination_reasons(current, [bad])
    assert sorted((r.rule, r.subject) for r in reasons) == [
        ("C1", "o1"),
        ("C1", "o1"),
        ("C2", "o1"),
        ("C3", "o1"),
        ("C4", "cur"),
        ("C4", "o1"),
        ("C8", "cur"),
    ]


def test_instance_reasons_of_an_instance_with_itself_are_its_own_reasons() -> None:
    assert instance_reasons(make_instance(), make_instance()) == []
    assert [r.rule for r in instance_reasons(make_instance(validity_years=2), make_instance(validity_years=2))] == [
        "C4"
    ]


def test_combinable_statuses_are_pending_application_and_validation_failed() -> None:
    assert {InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED} == COMBINABLE_STATUSES


def test_combined_name_is_lowercase_safe_and_derived_from_the_request_key() -> None:
    digest = hashlib.sha256(b"req-1").hexdigest()[:8]
    assert combined_name("DigiCert", CertType.OV, "req-1") == f"cas-merge-digicert-ov-{digest}"
    assert combined_name("DigiCert", CertType.OV, "req-1") == combined_name("DigiCert", CertType.OV, "req-1")
    assert combined_name("DigiCert", CertType.OV, "req-1") != combined_name("DigiCert", CertType.OV, "req-2")
    weird = combined_name("Geo Trust/../Ü", CertType.EV, "k")
    assert re.fullmatch(r"cas-merge-[a-z0-9-]+-ev-[0-9a-f]{8}", weird)
    assert re.fullmatch(r"cas-merge-brand-ov-[0-9a-f]{8}", combined_name("证书", CertType.OV, "k"))


def test_find_candidates_splits_same_brand_and_type_by_eligibility_sorted_by_id() -> None:
    current = make_instance()
    instances = [
        current,
        other("b", brand="DIGICERT"),
        other("a"),
        other("c", status=InstanceStatus.ISSUED),
        other("d", brand="GeoTrust"),
        other("e", cert_type=CertType.EV),
        other("0", validity_years=2),
    ]
    found = find_candidates(current, instances)
    assert isinstance(found, Candidates)
    assert found.current is current
    assert found.current_reasons == []
    assert [i.id for i in found.eligible] == ["a", "b"]
    assert [(i.id, [r.rule for r in reasons]) for i, reasons in found.ineligible] == [
        ("0", ["C4"]),
        ("c", ["C3"]),
    ]


def test_find_candidates_reports_the_current_instances_own_reasons() -> None:
    current = make_instance(status=InstanceStatus.REVIEWING)
    found = find_candidates(current, [other("a")])
    assert [(r.rule, r.subject) for r in found.current_reasons] == [("C3", "cur")]


# --- properties -----------------------------------------------------------------------------------

instances = st.builds(
    make_instance,
    id=st.sampled_from(["a", "b", "c", "d", "e"]),
    brand=st.sampled_from(["DigiCert", "digicert", "GeoTrust", "GlobalSign"]),
    cert_type=st.sampled_from(list(CertType)),
    status=st.sampled_from([s for s in InstanceStatus if s is not InstanceStatus.COMBINED]),
    validity_years=st.sampled_from([1, 1, 1, 2]),
    exact_quota=st.integers(1, 50),
    wildcard_quota=st.integers(0, 50),
    hosted=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(current=instances, others=st.lists(instances, max_size=5))
def test_a_plan_never_mixes_brands_or_types_and_its_quota_is_the_sum(current: Instance, others: list[Instance]) -> None:
    try:
        plan = plan_combination(current, others, "key")
    except RuleViolation as refused:
        assert refused.reasons
        return
    members = [current, *others]
    assert {m.brand.casefold() for m in members} == {current.brand.casefold()}
    assert {m.cert_type for m in members} == {plan.cert_type}
    assert plan.cert_type in (CertType.OV, CertType.EV)
    assert plan.quota.exact == sum(m.exact_quota for m in members)
    assert plan.quota.wildcard == sum(m.wildcard_quota for m in members)
    assert len(set(plan.source_ids)) == len(plan.source_ids) >= 2


@settings(max_examples=200, deadline=None)
@given(current=instances, pool=st.lists(instances, max_size=8))
def test_find_candidates_agrees_with_instance_reasons(current: Instance, pool: list[Instance]) -> None:
    found = find_candidates(current, pool)
    for candidate in found.eligible:
        assert instance_reasons(current, candidate) == []
    for candidate, reasons in found.ineligible:
        assert reasons == instance_reasons(current, candidate) != []
    listed = {i.id for i in found.eligible} | {i.id for i, _ in found.ineligible}
    same_kind = [
        i
        for i in pool
        if i.id != current.id and i.cert_type is current.cert_type and i.brand.lower() == current.brand.lower()
    ]
    assert listed == {i.id for i in same_kind}
