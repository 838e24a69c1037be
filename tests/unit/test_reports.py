"""Report read models (core/reports/): periods, the merge re-check against C1–C8, the backlog, the headline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.calendar import BusinessCalendar
from core.errors import InvalidInput
from core.model import (
    WAIVER_TEXT,
    Acknowledgement,
    Application,
    AuditEvent,
    CertType,
    CheckStatus,
    Combination,
    Instance,
    InstanceStatus,
    OrgChecks,
    Quota,
    SourceSnapshot,
    Stage,
    StageChange,
)
from core.reports import (
    BusinessDaysTo,
    ChainCheck,
    Filters,
    backlog_summary,
    build_backlog,
    build_merge_audit,
    combination_opportunities,
    count_series,
    merge_audit_summary,
    next_action,
    parse_instant,
    recheck_combination,
    report_period,
    resolve_as_of,
    summary_lines,
)
from tests.factories import make_application, make_instance

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar("Asia/Shanghai", "CN")
AS_OF = datetime(2026, 12, 17, 2, 0, tzinfo=UTC)  # Thursday 10:00 in Shanghai
MONDAY = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


# ---- builders ---------------------------------------------------------------------------------------------------


def combination_of(
    sources: list[Instance], *, result_id: str = "cas-merge-1", at: datetime = MONDAY, **overrides: Any
) -> Combination:
    fields: dict[str, Any] = {
        "id": result_id,
        "request_key": f"key-{result_id}",
        "result_id": result_id,
        "result_name": f"cas-merge-digicert-ov-{result_id}",
        "source_ids": [s.id for s in sources],
        "sources": [SourceSnapshot.model_validate(s.model_dump()) for s in sources],
        "brand": sources[0].brand,
        "cert_type": sources[0].cert_type,
        "quota": sum((s.quota for s in sources), start=Quota(exact=0, wildcard=0)),
        "actor": "U0ALICE",
        "at": at,
        "waiver_text": WAIVER_TEXT,
    }
    fields.update(overrides)
    return Combination.model_validate(fields)


def combine_entry(combination: Combination, **overrides: Any) -> AuditEvent:
    details: dict[str, object] = {"sources": combination.source_ids, "waiver_text": WAIVER_TEXT}
    fields: dict[str, Any] = {
        "seq": 0,
        "at": combination.at,
        "actor": combination.actor,
        "action": "combine",
        "subject": combination.result_id,
        "details": details,
        "prev_hash": "0" * 64,
        "hash": "h",
    }
    fields.update(overrides)
    return AuditEvent.model_validate(fields)


def consumed(combination: Combination) -> dict[str, Instance | None]:
    """The sources as the combine service leaves them: combined into the result, no longer refundable."""
    return {
        s.id: make_instance(
            id=s.id, status=InstanceStatus.COMBINED, merged_into=combination.result_id, refundable=False
        )
        for s in combination.sources
    }


def application(
    instance_id: str,
    *,
    stage: Stage = Stage.DOMAIN_VERIFICATION,
    submitted_at: datetime = MONDAY,
    history: list[StageChange] | None = None,
    **overrides: Any,
) -> Application:
    fields: dict[str, Any] = {"stage": stage, **({"stage_history": history} if history else {}), **overrides}
    return make_application(instance_id, submitted_at, **fields)


# ---- periods and parameters --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        date(2026, 12, 17),
        date(2026, 12, 16),
        date(2026, 12, 12),
        date(2026, 11, 30),
        date(2026, 9, 25),
        date(2027, 1, 5),
    ],
    ids=["same-day", "day-before", "saturday", "two-weeks", "across-national-day", "after-as-of"],
)
def test_business_days_to_counts_like_the_calendar(start: date) -> None:
    counter = BusinessDaysTo(CAL, AS_OF)
    expected = CAL.business_days_between(datetime(start.year, start.month, start.day, 12, tzinfo=SHANGHAI), AS_OF)
    assert counter.since_day(start) == expected
    assert counter.since_day(date(2026, 12, 1)) == CAL.business_days_between(
        datetime(2026, 12, 1, 12, tzinfo=SHANGHAI), AS_OF
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07", datetime(2026, 12, 7, 15, 59, 59, 999999, tzinfo=UTC)),
        ("2026-12-07T09:30:00", datetime(2026, 12, 7, 1, 30, tzinfo=UTC)),
        ("2026-12-07T09:30:00+00:00", datetime(2026, 12, 7, 9, 30, tzinfo=UTC)),
        ("", None),
    ],
    ids=["day-is-its-local-end", "naive-is-local", "offset-kept", "empty"],
)
def test_parse_instant_reads_days_and_times_in_the_calendar_zone(text: str, expected: datetime | None) -> None:
    assert parse_instant(text, SHANGHAI) == expected


def test_parse_instant_refuses_what_is_not_a_time() -> None:
    with pytest.raises(InvalidInput, match="--as-of 'next week'"):
        parse_instant("next week", SHANGHAI)


@pytest.mark.parametrize(
    ("as_of", "until", "expected"),
    [
        ("2026-12-10T00:00:00+00:00", "2026-12-01", datetime(2026, 12, 10, tzinfo=UTC)),
        ("", "2026-12-01", datetime(2026, 12, 1, 15, 59, 59, 999999, tzinfo=UTC)),
        ("", "2027-06-01", AS_OF),
        ("", "", AS_OF),
    ],
    ids=["explicit-wins", "end-of-until", "future-until-is-now", "now"],
)
def test_resolve_as_of(as_of: str, until: str, expected: datetime) -> None:
    assert resolve_as_of(as_of, until, SHANGHAI, AS_OF) == expected


def test_report_period_never_ends_after_as_of_and_refuses_an_empty_period() -> None:
    period = report_period(CAL, AS_OF, since=None, until=date(2027, 1, 31))
    assert period.until == date(2026, 12, 17)
    with pytest.raises(InvalidInput, match="the period is empty"):
        report_period(CAL, AS_OF, since=date(2026, 12, 18), until=None)


def test_filters_match_brands_case_insensitively_and_refuse_unknown_types() -> None:
    filters = Filters.parse(" digicert ", "ov")
    assert filters.matches("DigiCert", CertType.OV)
    assert not filters.matches("DigiCert", CertType.EV)
    with pytest.raises(InvalidInput, match="XV"):
        Filters.parse(None, "XV")


def test_count_series_fills_quiet_days_and_switches_to_weeks_for_long_periods() -> None:
    days = [date(2026, 12, 7), date(2026, 12, 7), date(2026, 12, 9)]
    daily = count_series(days, date(2026, 12, 6), date(2026, 12, 9))
    assert daily.unit == "day"
    assert daily.points == [
        (date(2026, 12, 6), 0),
        (date(2026, 12, 7), 2),
        (date(2026, 12, 8), 0),
        (date(2026, 12, 9), 1),
    ]
    weekly = count_series(days, date(2026, 6, 1), date(2026, 12, 9))
    assert weekly.unit == "week"
    assert (date(2026, 12, 7), 3) in weekly.points
    assert sum(n for _, n in weekly.points) == 3


# ---- merge audit: re-checking C1–C8 -------------------------------------------------------------------------------


def _recheck(combination: Combination, **overrides: Any) -> list[str]:
    arguments: dict[str, Any] = {
        "audit_entries": [combine_entry(combination)],
        "combined_into": {s: [combination.result_id] for s in combination.source_ids},
        "current": consumed(combination),
        "latest_applications": {},
    }
    arguments.update(overrides)
    return sorted({r.rule for r in recheck_combination(combination, **arguments)})


PAIR = [make_instance(id="a"), make_instance(id="b")]


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        (PAIR, []),
        ([make_instance(id="a"), make_instance(id="b", brand="GeoTrust")], ["C1"]),
        ([make_instance(id="a", cert_type=CertType.DV), make_instance(id="b", cert_type=CertType.DV)], ["C2"]),
        ([make_instance(id="a"), make_instance(id="b", status=InstanceStatus.ISSUED)], ["C3"]),
        ([make_instance(id="a"), make_instance(id="b", validity_years=2)], ["C4"]),
        ([make_instance(id="a")], ["C8"]),
    ],
    ids=["valid", "c1-brand", "c2-dv", "c3-issued", "c4-two-years", "c8-alone"],
)
def test_recheck_judges_the_recorded_snapshots(sources: list[Instance], expected: list[str]) -> None:
    assert _recheck(combination_of(sources)) == expected


def test_recheck_flags_a_source_recorded_as_already_combined() -> None:
    combination = combination_of(PAIR)
    snapshot = combination.sources[1].model_copy(update={"status": InstanceStatus.COMBINED})
    tampered = combination.model_copy(update={"sources": [combination.sources[0], snapshot]})
    assert _recheck(tampered) == ["C8"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"quota": Quota(exact=5, wildcard=0)}, ["C5"]),
        ({"result_name": "shop-merged"}, ["C6"]),
        ({"waiver_text": "ok"}, ["C7"]),
    ],
    ids=["c5-quota-not-the-sum", "c6-name", "c7-waiver-text"],
)
def test_recheck_judges_the_combination_record(change: dict[str, Any], expected: list[str]) -> None:
    assert _recheck(combination_of(PAIR).model_copy(update=change)) == expected


def test_recheck_needs_the_confirmation_in_the_audit_log() -> None:
    combination = combination_of(PAIR)
    assert _recheck(combination, audit_entries=[]) == ["C7"]
    assert _recheck(combination, audit_entries=[combine_entry(combination, actor="U0MALLORY")]) == ["C7"]
    assert _recheck(combination, audit_entries=[combine_entry(combination, details={"sources": ["a"]})]) == ["C7"]


def test_recheck_follows_the_sources_afterwards() -> None:
    combination = combination_of(PAIR)
    twice = {"a": ["cas-merge-1"], "b": ["cas-merge-1", "cas-merge-2"]}
    assert _recheck(combination, combined_into=twice) == ["C8"]
    reverted = {**consumed(combination), "b": make_instance(id="b")}
    assert _recheck(combination, current=reverted) == ["C8"]
    refundable = {**consumed(combination), "b": make_instance(id="b", status=InstanceStatus.COMBINED,
                                                               merged_into="cas-merge-1")}  # fmt: skip
    assert _recheck(combination, current=refundable) == ["C7"]
    applied_later = {"b": application("b", submitted_at=MONDAY + timedelta(days=1))}
    assert _recheck(combination, latest_applications=applied_later) == ["C8"]


def test_merge_audit_keeps_the_period_and_filters_and_sums_up() -> None:
    digicert = combination_of(PAIR, result_id="m1", actor="U0ALICE")
    geotrust = combination_of(
        [make_instance(id="c", brand="GeoTrust"), make_instance(id="d", brand="GeoTrust", exact_quota=3)],
        result_id="m2",
        actor="U0BOB",
        at=MONDAY + timedelta(days=2),
    )
    late = combination_of([make_instance(id="e"), make_instance(id="f")], result_id="m3", at=AS_OF + timedelta(hours=1))
    everything = [digicert, geotrust, late]
    entries = {c.result_id: [combine_entry(c)] for c in everything}
    current = {k: v for c in everything for k, v in consumed(c).items()}

    def audit(filters: Filters, since: date | None = None) -> Any:
        return build_merge_audit(
            everything,
            audit_entries=entries,
            current=current,
            latest_applications={},
            chain=ChainCheck(entries=7),
            calendar=CAL,
            period=report_period(CAL, AS_OF, since=since, until=None),
            filters=filters,
        )

    whole = audit(Filters())
    assert [c.combination.id for c in whole.combinations] == ["m1", "m2"]
    summary = merge_audit_summary(whole)
    assert summary["combinations"] == 2
    assert summary["sources_combined"] == 4
    assert summary["applications_saved"] == 2
    assert summary["quota"] == {"exact": 6, "wildcard": 0}
    assert summary["actors"] == {"U0ALICE": 1, "U0BOB": 1}
    assert summary["flagged"] == 0
    assert summary["audit_chain"] == {"entries": 7, "intact": True, "first_bad": None, "problem": None}
    assert [c.combination.id for c in audit(Filters(brand="geotrust")).combinations] == ["m2"]
    assert [c.combination.id for c in audit(Filters(), since=date(2026, 12, 8)).combinations] == ["m2"]


# ---- backlog --------------------------------------------------------------------------------------------------------


def test_next_action_names_the_open_checks_without_phone_numbers() -> None:
    waiting = application("x", org_checks=OrgChecks(email=CheckStatus.PENDING, phone=CheckStatus.PENDING))
    text = next_action(waiting)
    assert "DNS records for shop.example.com" in text
    assert "Alice Chen answers the CA's verification email" in text
    assert "verification call" in text
    assert "138" not in text and "alice@example.com" not in text
    passed = waiting.model_copy(
        update={
            "domain_checks": [c.model_copy(update={"status": CheckStatus.PASSED}) for c in waiting.domain_checks],
            "org_checks": OrgChecks(email=CheckStatus.PASSED, phone=CheckStatus.PASSED),
        }
    )
    assert next_action(passed).startswith("nothing open on our side")
    rejected = waiting.model_copy(update={"stage": Stage.REJECTED, "rejection_reason": "licence mismatch"})
    assert next_action(rejected) == "fix what the CA names (licence mismatch) and apply again on x"


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        ([make_instance(id="a"), make_instance(id="b", brand="digicert")], [["a", "b"]]),
        ([make_instance(id="a"), make_instance(id="b", status=InstanceStatus.VALIDATION_FAILED)], [["a", "b"]]),
        ([make_instance(id="a"), make_instance(id="b", hosted=True)], []),
        ([make_instance(id="a"), make_instance(id="b", brand="GeoTrust")], []),
        ([make_instance(id="a", cert_type=CertType.DV), make_instance(id="b", cert_type=CertType.DV)], []),
        (
            [
                make_instance(id="a", brand="GlobalSign", cert_type=CertType.EV, wildcard_quota=1),
                make_instance(id="b", brand="GlobalSign", cert_type=CertType.EV),
                make_instance(id="c", brand="GlobalSign", cert_type=CertType.EV),
            ],
            [["b", "c"]],
        ),
        (
            [make_instance(id=f"d{n}") for n in range(3)]
            + [make_instance(id=f"g{n}", brand="GeoTrust") for n in range(2)],
            [["d0", "d1", "d2"], ["g0", "g1"]],
        ),
    ],
    ids=["same-brand-any-case", "validation-failed-counts", "hosted-no", "brands-differ", "dv-no",
         "globalsign-ev-wildcard-no", "largest-first"],
)  # fmt: skip
def test_opportunities_are_groups_the_combine_rules_allow(instances: list[Instance], expected: list[list[str]]) -> None:
    found = combination_opportunities(instances)
    assert [[i.id for i in o.instances] for o in found] == expected
    assert [o.applications_saved for o in found] == [len(ids) - 1 for ids in expected]


def _backlog(instances: list[Instance], applications: list[Application], combinations: list[Combination]) -> Any:
    period = report_period(CAL, AS_OF, since=date(2026, 12, 8), until=None)
    return build_backlog(instances, applications, combinations, calendar=CAL, period=period, filters=Filters())


def test_backlog_places_applications_against_the_review_window() -> None:
    instances = [
        make_instance(id="early", status=InstanceStatus.REVIEWING),
        make_instance(id="window", status=InstanceStatus.REVIEWING),
        make_instance(id="late", status=InstanceStatus.REVIEWING),
        make_instance(id="dv", status=InstanceStatus.REVIEWING, cert_type=CertType.DV),
        make_instance(id="refused", status=InstanceStatus.VALIDATION_FAILED),
        make_instance(id="done", status=InstanceStatus.ISSUED),
    ]
    rejected_at = datetime(2026, 12, 9, 2, tzinfo=UTC)
    applications = [
        application("early", submitted_at=datetime(2026, 12, 16, 2, tzinfo=UTC)),
        application("window", submitted_at=datetime(2026, 12, 11, 2, tzinfo=UTC), escalation_level=1,
                    acknowledged=Acknowledgement(by="U0LEAD", at=AS_OF)),
        application("late", submitted_at=MONDAY, escalation_level=2, actor="U0CAROL"),
        application("dv", submitted_at=datetime(2026, 12, 11, 2, tzinfo=UTC)),
        application("refused", stage=Stage.REJECTED, rejection_reason="licence mismatch",
                    history=[StageChange(stage=Stage.DOMAIN_VERIFICATION, at=MONDAY),
                             StageChange(stage=Stage.REJECTED, at=rejected_at)]),
        application("done", stage=Stage.ISSUED,
                    history=[StageChange(stage=Stage.DOMAIN_VERIFICATION, at=MONDAY),
                             StageChange(stage=Stage.ISSUED, at=MONDAY + timedelta(days=1))]),
    ]  # fmt: skip
    backlog = _backlog(instances, applications, [])
    states = {r.instance.id: (r.business_days, r.state) for r in [*backlog.in_review, *backlog.rejected]}
    assert states == {
        "early": (1, "before window"),
        "window": (4, "in window"),
        "late": (8, "overdue"),
        "dv": (4, "overdue"),
        "refused": (6, "rejected"),
    }
    assert {r.instance.id for r in backlog.stalled} == {"late", "dv", "refused"}
    assert {r.instance.id: r.owner for r in backlog.escalated} == {"window": "U0ALICE", "late": "U0CAROL"}
    summary = backlog_summary(backlog)
    assert summary["in_review"] == {
        "count": 4,
        "by_stage": {"domain_verification": 4, "organisation_verification": 0, "ca_review": 0},
        "before_window": 1,
        "in_window": 1,
        "overdue": 2,
    }
    assert (summary["stalled"], summary["rejected"], summary["escalated"]) == (3, 1, 2)
    assert summary["escalated_unacknowledged"] == 1
    assert summary["activity"] == {"submitted": 3, "issued": 1, "rejected": 1, "combined": 0}


def test_backlog_counts_waiting_from_the_service_start_or_calls_it_unknown() -> None:
    instances = [
        make_instance(id="known", service_start=date(2026, 12, 10)),
        make_instance(id="unknown", brand="GeoTrust"),
        make_instance(id="old", service_start=date(2026, 9, 1), brand="CFCA"),
        make_instance(id="busy", status=InstanceStatus.ISSUED),
    ]
    backlog = _backlog(instances, [], [])
    assert [(w.instance.id, w.business_days) for w in backlog.waiting] == [("old", 71), ("known", 5), ("unknown", None)]
    assert backlog.waiting_ages() == [("0–2", 0), ("3–7", 1), ("8–20", 0), ("21–60", 0), ("> 60", 1), ("unknown", 1)]
    summary = backlog_summary(backlog)
    assert summary["waiting"] == {
        "count": 3,
        "known": 2,
        "unknown": 1,
        "max_business_days": 71,
        "median_business_days": 38,
    }
    assert summary["by_status"]["pending_application"] == 3
    assert (
        "3 pending application (longest waiting 71 business day(s), 1 without a service start)"
        in (summary_lines(summary)[0])
    )
    assert summary["by_brand"] == {"DigiCert": 2, "GeoTrust": 1, "CFCA": 1}


# ---- headline --------------------------------------------------------------------------------------------------------


def test_summary_lines_flag_broken_chains_and_rule_breaches() -> None:
    combination = combination_of(PAIR, quota=Quota(exact=9, wildcard=0))
    audit = build_merge_audit(
        [combination],
        audit_entries={combination.result_id: [combine_entry(combination)]},
        current=consumed(combination),
        latest_applications={},
        chain=ChainCheck(entries=3, problem="hash mismatch"),
        calendar=CAL,
        period=report_period(CAL, AS_OF, since=None, until=None),
        filters=Filters(),
    )
    lines = summary_lines(merge_audit_summary(audit))
    assert lines[0].startswith("Merge audit up to 2026-12-17 (as of 2026-12-17 02:00 UTC): 1 combination(s)")
    assert lines[1] == "Rule re-check: 1 combination(s) break C5; see the report."
    assert lines[2] == "Audit log: hash chain BROKEN at entry 3: hash mismatch."


def test_summary_lines_give_the_backlog_headline() -> None:
    backlog = _backlog([make_instance(id="a"), make_instance(id="b")], [], [])
    lines = summary_lines(backlog_summary(backlog))
    assert lines[0] == (
        "Backlog as of 2026-12-17 02:00 UTC: 2 instance(s); 2 pending application (waiting time unknown: no "
        "service start recorded)."
    )
    assert lines[2] == "Could be combined today: 2 instance(s) in 1 group(s), saving 1 CA application(s)."
    assert lines[3].startswith("In the period 2026-12-08 to 2026-12-17: 0 application(s) submitted")
    with pytest.raises(ValueError, match="not a report summary"):
        summary_lines({"report": "weather"})
