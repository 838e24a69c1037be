"""The review policy chain (V3–V6, A10): pure rules over an application, an instant and a calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.calendar import BusinessCalendar
from core.model import (
    Acknowledgement,
    Application,
    CheckStatus,
    Contact,
    IssuedCertificate,
    KeyAlgorithm,
    OrgChecks,
    Stage,
    StageChange,
)
from core.rules.review import EscalationLevel, ReviewPolicy, evaluate, parse_escalations
from tests.factories import make_application, make_instance

BERLIN = ZoneInfo("Europe/Berlin")
CAL = BusinessCalendar("Europe/Berlin", "DE")
POLICY = ReviewPolicy(
    escalations=(EscalationLevel(1, 3, "C0TEAM"), EscalationLevel(2, 7, "S0ONCALL")),
    support_route="DingTalk group 32435999",
)
SUBMITTED = datetime(2027, 5, 3, 19, 0, tzinfo=BERLIN)  # Monday evening; Thu 2027-05-06 is a holiday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 5, day, hour, minute, tzinfo=BERLIN)


def application(**overrides: Any) -> Application:
    return make_application(
        "inst-1",
        SUBMITTED,
        **{"contact": Contact(name="Alice", email="alice@example.com", phone="+49 170 1234567"), **overrides},
    )


def keys(app: Application, now: datetime, instance: Any = None) -> dict[str, datetime]:
    return {f.key.split(":", 1)[1]: f.due_at for f in evaluate(app, instance or make_instance(), now, CAL, POLICY)}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(4, 18, 59), {}),
        (at(4, 19, 0), {"V3": at(5, 9)}),
        (at(7, 19, 0), {"V3": at(5, 9), "V5:1": at(10, 9)}),
        (at(13, 19, 0), {"V3": at(5, 9), "V5:1": at(10, 9), "V5:2": at(14, 9)}),
    ],
    ids=["before-one-business-day", "V3-due-at-night-goes-out-next-morning", "V5-level1-skips-holiday-and-weekend",
         "V5-level2-after-seven-business-days"],
)  # fmt: skip
def test_nudge_and_escalations_fall_due_in_business_time(now: datetime, expected: dict[str, datetime]) -> None:
    assert keys(application(), now) == expected


def test_the_nudge_names_every_open_check() -> None:
    found = evaluate(application(), make_instance(), at(5, 10), CAL, POLICY)
    nudge = next(f for f in found if f.code == "V3")
    assert "_dnsauth.shop.example.com" in nudge.message
    assert "alice@example.com" in nudge.message and "missed phone call" in nudge.message
    assert "DingTalk group 32435999" in nudge.message


def test_an_acknowledged_escalation_goes_no_further() -> None:
    acked = application(acknowledged=Acknowledgement(by="U0BOB", at=at(10, 10)))
    assert "V5:2" not in keys(acked, at(14, 12)) and "V5:1" not in keys(acked, at(14, 12))


def test_a_rejection_gives_the_reason_and_escalates_to_the_first_level() -> None:
    rejected = application(
        stage=Stage.REJECTED,
        rejection_reason="name mismatch",
        stage_history=[StageChange(stage=Stage.DOMAIN_VERIFICATION, at=SUBMITTED),
                       StageChange(stage=Stage.REJECTED, at=at(4, 15))],
    )  # fmt: skip
    found = evaluate(rejected, make_instance(), at(20, 12), CAL, POLICY)
    assert [(f.code, f.audience) for f in found] == [("V4", "C0TEAM")]
    assert "name mismatch" in found[0].message and "/cert apply inst-1" in found[0].message


def test_stage_changes_after_submission_are_findings_once_each() -> None:
    history = [StageChange(stage=Stage.DOMAIN_VERIFICATION, at=SUBMITTED),
               StageChange(stage=Stage.ORGANISATION_VERIFICATION, at=at(4, 11))]  # fmt: skip
    app = application(stage=Stage.ORGANISATION_VERIFICATION, stage_history=history,
                      org_checks=OrgChecks(email=CheckStatus.PENDING, phone=CheckStatus.PENDING))  # fmt: skip
    assert "stage:organisation_verification" in keys(app, at(4, 12))
    assert "stage:domain_verification" not in keys(app, at(4, 12))


def _issued(not_after: datetime) -> Application:
    certificate = IssuedCertificate(serial="01", not_before=not_after - timedelta(days=100), not_after=not_after,
                                    sans=["shop.example.com"], key_algorithm=KeyAlgorithm.ECC_256, cert_pem="",
                                    chain_pem="")  # fmt: skip
    history = [
        StageChange(stage=Stage.DOMAIN_VERIFICATION, at=SUBMITTED),
        StageChange(stage=Stage.ISSUED, at=at(5, 10)),
    ]
    return application(stage=Stage.ISSUED, stage_history=history, certificate=certificate)


@pytest.mark.parametrize(
    ("days_before", "expected"),
    [(31, None), (30, "A10:30"), (20, "A10:30"), (13, "A10:14"), (1, "A10:1")],
    ids=["before-the-first", "thirty-days", "between-thirty-and-fourteen", "fourteen", "one-day"],
)
def test_reissue_reminders_fire_the_latest_due_only(days_before: int, expected: str | None) -> None:
    expires = datetime(2027, 8, 20, 12, tzinfo=BERLIN)
    instance = make_instance(service_end=date(2028, 5, 5))
    found = [k for k in keys(_issued(expires), expires - timedelta(days=days_before), instance) if k.startswith("A10")]
    assert found == ([] if expected is None else [expected])


def test_no_reissue_reminder_when_the_certificate_outlives_the_service_period() -> None:
    expires = datetime(2027, 8, 20, 12, tzinfo=BERLIN)
    instance = make_instance(service_end=date(2027, 8, 1))
    assert not [k for k in keys(_issued(expires), expires - timedelta(days=1), instance) if k.startswith("A10")]


def test_issued_applications_get_a_deployment_checklist() -> None:
    assert "V6" in keys(_issued(datetime(2027, 8, 20, tzinfo=BERLIN)), at(5, 11))


@pytest.mark.parametrize(
    ("specs", "expected"),
    [(["3:C1", "7:S2"], [(1, 3, "C1"), (2, 7, "S2")]), (["7:S2", "3:channel"], [(1, 3, "C0"), (2, 7, "S2")])],
    ids=["in-order", "sorted-and-channel-resolved"],
)
def test_escalation_specs_parse_into_levels(specs: list[str], expected: list[tuple[int, int, str]]) -> None:
    levels = parse_escalations(specs, "C0")
    assert [(lv.level, lv.after_business_days, lv.target) for lv in levels] == expected


def test_a_bad_escalation_spec_is_refused_with_the_format() -> None:
    with pytest.raises(ValueError, match="BUSINESS_DAYS:TARGET"):
        parse_escalations(["soon:C1"], None)
