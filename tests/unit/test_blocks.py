"""Block Kit builders (bot/blocks): every output passes Slack's limits, ids are stable, state round-trips."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.apply import (
    COMPANY_ADDRESS_BLOCK,
    COMPANY_BLOCK,
    COMPANY_PHONE_BLOCK,
    COMPANY_REG_BLOCK,
    CONTACT_EMAIL_BLOCK,
    CONTACT_NAME_BLOCK,
    CONTACT_PHONE_BLOCK,
    CSR_BLOCK,
    CSR_PEM_BLOCK,
    DOMAINS_BLOCK,
    KEY_BLOCK,
    VALIDATION_BLOCK,
    ApplyForm,
    application_submitted_message,
    apply_errors,
    apply_modal,
    form_errors,
    parse_apply_state,
    to_request,
)
from bot.blocks.combine import (
    ACTION_MORE,
    ACTION_PICK,
    ACTION_WAIVER,
    CERTS_BLOCK_PREFIX,
    CHECKBOX_LIMIT,
    MORE_BLOCK,
    QUOTA_BLOCK,
    WAIVER_BLOCK,
    combination_success_message,
    combine_modal,
    more_options,
    parse_combine_state,
)
from bot.blocks.common import error_message, help_message, reasons_blocks
from bot.blocks.instances import (
    ACTION_APPLY_OPEN,
    ACTION_COMBINE_OPEN,
    ACTION_LIST_PAGE,
    ACTION_STATUS,
    instance_list_message,
)
from bot.blocks.status import status_message
from bot.stand_in.validation import message_problems, view_problems
from core.model import (
    WAIVER_TEXT,
    Application,
    ApplicationRequest,
    CertType,
    CheckStatus,
    Combination,
    CompanyProfile,
    Contact,
    DomainCheck,
    DomainName,
    Instance,
    InstanceStatus,
    IssuedCertificate,
    KeyAlgorithm,
    OrgChecks,
    Quota,
    Reason,
    Stage,
    ValidationMethod,
)
from core.rules.combine import Candidates, find_candidates
from core.rules.csr import csr_reasons
from core.rules.domains import application_reasons, parse_domain
from core.services.review import StatusView
from tests.factories import make_instance

SIZES = [1, 10, 11, 30, 31, 300, 1000]
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
NASTY = "<!channel> & <@U0BOSS> "


# ----------------------------------------------------------------------------------------------------
# Helpers


Built = tuple[str, list[Block]]


def payload(built: Built) -> dict[str, Any]:
    text, blocks = built
    return {"text": text, "blocks": [block.to_dict() for block in blocks]}


def valid_message(built: Built) -> dict[str, Any]:
    message = payload(built)
    assert message_problems(message) == []
    return message


def valid_view(view: View) -> dict[str, Any]:
    as_dict = view.to_dict()
    assert view_problems(as_dict) == []
    return as_dict


def objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


def mrkdwn_texts(message_or_view: dict[str, Any]) -> list[str]:
    texts = [o["text"] for o in objects(message_or_view) if o.get("type") == "mrkdwn"]
    fallback = message_or_view.get("text")
    return [*texts, fallback] if isinstance(fallback, str) else texts


def block(as_dict: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in as_dict["blocks"] if b.get("block_id") == block_id)


def input_blocks(as_dict: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in as_dict["blocks"] if b["type"] == "input"]


def certs_blocks(as_dict: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in as_dict["blocks"] if str(b.get("block_id", "")).startswith(CERTS_BLOCK_PREFIX)]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def slack_state(view: dict[str, Any], picked: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """`view.state.values` as Slack sends it: every input block, holding its initial values unless `picked`
    says which options are selected in it."""
    picked = picked or {}
    values: dict[str, Any] = {}
    for item in input_blocks(view):
        element = item["element"]
        kind = element["type"]
        if kind in ("checkboxes", "multi_external_select"):
            chosen = picked.get(item["block_id"], element.get("initial_options", []))
            state = {"type": kind, "selected_options": chosen}
        elif kind in ("radio_buttons", "static_select"):
            state = {"type": kind, "selected_option": element.get("initial_option")}
        else:
            state = {"type": kind, "value": element.get("initial_value")}
        values[item["block_id"]] = {element["action_id"]: state}
    return values


@cache
def inventory(size: int) -> tuple[Instance, tuple[Instance, ...]]:
    """`size` instances combinable with cur-0000, a tenth as many that are not, and some of other kinds."""
    current = make_instance(id="cur-0000", name="shop-current", exact_quota=5, wildcard_quota=2)
    eligible = [
        make_instance(id=f"inst-{n:04d}", name=f"shop-{n}", exact_quota=n % 5 + 1, wildcard_quota=n % 3)
        for n in range(1, size + 1)
    ]
    flaws: list[dict[str, Any]] = [
        {"status": InstanceStatus.ISSUED},
        {"validity_years": 3},
        {"hosted": True},
        {"status": InstanceStatus.COMBINED, "merged_into": "cas-merge-x"},
    ]
    ineligible = [
        make_instance(id=f"bad-{n:04d}", name=f"old-{n}", **flaws[n % len(flaws)]) for n in range(size // 10 + 1)
    ]
    others = [make_instance(id="geo-1", brand="GeoTrust"), make_instance(id="dv-1", cert_type=CertType.DV)]
    return current, (*eligible, *ineligible, *others)


def candidates(size: int) -> Candidates:
    current, others = inventory(size)
    return find_candidates(current, others)


# ----------------------------------------------------------------------------------------------------
# Combine Certificates dialog


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}-eligible" for n in SIZES])
def test_combine_modal_is_valid_and_offers_every_eligible_instance(size: int) -> None:
    found = candidates(size)
    view = valid_view(combine_modal(found, private_metadata='{"i":"cur-0000"}'))

    assert len(view["blocks"]) <= 100
    assert view["submit"]["text"] == "Combine Certificates" and view["close"]["text"] == "Cancel"
    shown = [o["value"] for b in certs_blocks(view) for o in b["element"]["options"]]
    assert shown == [i.id for i in found.eligible[:CHECKBOX_LIMIT]]
    assert all(b["dispatch_action"] and b["element"]["action_id"] == ACTION_PICK for b in certs_blocks(view))
    assert all(len(b["element"]["options"]) <= 10 for b in certs_blocks(view))
    rest = found.eligible[CHECKBOX_LIMIT:]
    more = [b for b in view["blocks"] if b.get("block_id") == MORE_BLOCK]
    if not rest:
        assert more == []
        return
    element = more[0]["element"]
    assert (element["type"], element["action_id"], element["min_query_length"]) == (
        "multi_external_select",
        ACTION_MORE,
        0,
    )
    browse = more_options(found.eligible, "")
    assert len(browse) == min(len(rest), 100) and not {o.value for o in browse} & set(shown)
    for instance in rest:
        assert [o.value for o in more_options(found.eligible, instance.id.upper())] == [instance.id]


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}-eligible" for n in SIZES])
def test_combine_state_round_trips_through_the_modal(size: int) -> None:
    found = candidates(size)
    selected = found.eligible[::3][:50]
    view = valid_view(combine_modal(found, selected, private_metadata="{}"))
    waiver = block(view, WAIVER_BLOCK)["element"]["options"]

    values = slack_state(view, {WAIVER_BLOCK: waiver})

    assert parse_combine_state(values) == ([i.id for i in selected], True)
    for item in certs_blocks(view):
        element = item["element"]
        expected = [o for o in element["options"] if o["value"] in {i.id for i in selected}]
        assert element.get("initial_options", []) == expected


def test_parse_combine_state_orders_blocks_and_drops_repeats() -> None:
    def picked(*ids: str) -> dict[str, Any]:
        return {
            "type": "checkboxes",
            "selected_options": [{"value": i, "text": {"type": "plain_text", "text": i}} for i in ids],
        }

    values = {
        f"{CERTS_BLOCK_PREFIX}10": {ACTION_PICK: picked("k")},
        f"{CERTS_BLOCK_PREFIX}2": {ACTION_PICK: picked("b", "c")},
        MORE_BLOCK: {
            ACTION_MORE: {"type": "multi_external_select", "selected_options": [{"value": "b"}, {"value": "z"}]}
        },
        f"{CERTS_BLOCK_PREFIX}0": {ACTION_PICK: picked("a")},
        f"{CERTS_BLOCK_PREFIX}1": {ACTION_PICK: {"type": "checkboxes", "selected_options": None}},
        WAIVER_BLOCK: {ACTION_WAIVER: {"type": "checkboxes", "selected_options": []}},
    }

    assert parse_combine_state(values) == (["a", "b", "c", "k", "z"], False)
    assert parse_combine_state({}) == ([], False)


def test_modal_without_selection_has_no_initial_options_and_a_plain_quota() -> None:
    view = valid_view(combine_modal(candidates(31), private_metadata="{}"))

    assert not any("initial_options" in o for o in objects(view))
    assert "Select instances" in block(view, QUOTA_BLOCK)["text"]["text"]


def test_quota_section_sums_the_selection() -> None:
    found = candidates(10)
    chosen = [i for i in found.eligible if i.id in ("inst-0001", "inst-0002")]  # 2+1 and 3+2

    view = valid_view(combine_modal(found, chosen, private_metadata="{}"))

    text = block(view, QUOTA_BLOCK)["text"]["text"]
    assert "5 exact + 2 wildcard" in text and "2 selected" in text and "10 exact + 5 wildcard" in text


def test_waiver_is_a_required_single_option_with_the_exact_text() -> None:
    view = valid_view(combine_modal(candidates(1), private_metadata="{}"))
    waiver = block(view, WAIVER_BLOCK)

    assert len(WAIVER_TEXT) <= 75
    assert waiver.get("optional") is not True
    assert waiver["element"]["action_id"] == ACTION_WAIVER
    assert [(o["text"]["text"], o["value"]) for o in waiver["element"]["options"]] == [(WAIVER_TEXT, "accepted")]


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"cert_type": CertType.DV}, "C2"),
        ({"status": InstanceStatus.ISSUED}, "C3"),
        ({"status": InstanceStatus.NOT_ACTIVATED}, "C3"),
        ({"validity_years": 2}, "C4"),
        ({"hosted": True}, "C8"),
        ({"status": InstanceStatus.COMBINED, "merged_into": "cas-merge-a"}, "C8"),
    ],
    ids=["dv", "issued", "not-activated", "two-years", "hosted", "already-combined"],
)
def test_current_instance_that_cannot_be_combined_gets_no_inputs(overrides: dict[str, Any], rule: str) -> None:
    current = make_instance(id="cur-0000", **overrides)
    others = [make_instance(id=f"o-{n}", cert_type=current.cert_type) for n in range(40)]

    view = valid_view(combine_modal(find_candidates(current, others), private_metadata="{}"))

    assert "submit" not in view and view["close"]["text"]
    assert input_blocks(view) == []
    assert any(f"*{rule}*" in text for text in mrkdwn_texts(view))


def test_no_eligible_instance_says_so_without_submit() -> None:
    current = make_instance(id="cur-0000")
    others = [make_instance(id=f"bad-{n:02d}", status=InstanceStatus.ISSUED) for n in range(25)]

    view = valid_view(combine_modal(find_candidates(current, others), private_metadata="{}"))

    assert "submit" not in view and input_blocks(view) == []
    texts = "\n".join(mrkdwn_texts(view))
    assert "No other DigiCert OV instance" in texts
    assert texts.count("*C3*") == 20
    assert "…and 5 more not combinable; `certops candidates cur-0000` lists all" in texts


@pytest.mark.parametrize("sources", [2, 1000], ids=["two-sources", "thousand-sources"])
def test_combination_success_message(sources: int) -> None:
    new = make_instance(id="cas-merge-1", name="cas-merge-digicert-ov-1a2b3c4d", exact_quota=8, wildcard_quota=2)
    combination = Combination(
        id="comb-1",
        request_key="k",
        result_id=new.id,
        result_name=new.name,
        source_ids=[f"inst-{n:04d}" for n in range(sources)],
        sources=[],
        brand="DigiCert",
        cert_type=CertType.OV,
        quota=Quota(exact=8, wildcard=2),
        actor="U0ALICE",
        at=AT,
        waiver_text=WAIVER_TEXT,
    )

    message = valid_message(combination_success_message(new, combination))

    texts = "\n".join(mrkdwn_texts(message))
    assert "Combination Success" in message["text"] and "cas-merge-1" in message["text"]
    for expected in ("cas-merge-digicert-ov-1a2b3c4d", "8 exact + 2 wildcard", "<@U0ALICE>", WAIVER_TEXT, "inst-0001"):
        assert expected in texts
    assert next((b["action_id"], b["value"]) for b in buttons(message)) == (ACTION_APPLY_OPEN, "cas-merge-1")


def test_actor_that_is_not_a_slack_user_is_not_a_mention() -> None:
    new = make_instance(id="cas-merge-1")
    combination = Combination(
        id="c", request_key="k", result_id=new.id, result_name=new.name, source_ids=["a", "b"], sources=[],
        brand="DigiCert", cert_type=CertType.OV, quota=new.quota, actor="cli:<!here>", at=AT, waiver_text=WAIVER_TEXT,
    )  # fmt: skip

    texts = "\n".join(mrkdwn_texts(valid_message(combination_success_message(new, combination))))

    assert "cli:&lt;!here&gt;" in texts and "<@" not in texts


# ----------------------------------------------------------------------------------------------------
# Instance list


ALL_ACTIONS = [ACTION_COMBINE_OPEN, ACTION_APPLY_OPEN, ACTION_STATUS]


def _expected_actions(instance: Instance) -> list[str]:
    pending = instance.status in (InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED)
    combine = [ACTION_COMBINE_OPEN] if pending and instance.cert_type is not CertType.DV else []
    apply = [ACTION_APPLY_OPEN] if pending and instance.merged_into is None else []
    return [*combine, *apply, ACTION_STATUS]


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}-eligible" for n in SIZES])
def test_instance_list_pages_are_valid(size: int) -> None:
    current, others = inventory(size)
    everything = [current, *others]
    for offset in range(0, len(everything), 15):
        page = everything[offset : offset + 15]
        message = valid_message(instance_list_message(page, total=len(everything), offset=offset, query="DigiCert"))

        actions = [(b["action_id"], b["value"]) for b in buttons(message)]
        expected = [(action, i.id) for i in page for action in _expected_actions(i)]
        if len(everything) > offset + 15:
            expected.append((ACTION_LIST_PAGE, json.dumps({"q": "DigiCert", "o": offset + 15}, separators=(",", ":"))))
        assert actions == expected
        last = offset + len(page)
        assert f"Showing {offset + 1}–{last} of {len(everything)}" in "\n".join(mrkdwn_texts(message))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ALL_ACTIONS),
        ({"cert_type": CertType.EV, "status": InstanceStatus.VALIDATION_FAILED}, ALL_ACTIONS),
        ({"cert_type": CertType.DV}, [ACTION_APPLY_OPEN, ACTION_STATUS]),
        ({"status": InstanceStatus.ISSUED}, [ACTION_STATUS]),
        ({"status": InstanceStatus.REVIEWING}, [ACTION_STATUS]),
        ({"status": InstanceStatus.NOT_ACTIVATED}, [ACTION_STATUS]),
        ({"status": InstanceStatus.COMBINED, "merged_into": "cas-merge-a"}, [ACTION_STATUS]),
    ],
    ids=["ov-pending", "ev-validation-failed", "dv-pending", "issued", "reviewing", "not-activated", "combined"],
)
def test_instance_buttons_follow_the_console(overrides: dict[str, Any], expected: list[str]) -> None:
    message = valid_message(instance_list_message([make_instance(**overrides)], total=1))

    assert [b["action_id"] for b in buttons(message)] == expected


def test_page_size_is_capped_and_long_queries_fit_the_button() -> None:
    many = [make_instance(id=f"inst-{n:03d}") for n in range(100)]
    query = '"\\' * 3000

    message = valid_message(instance_list_message(many, total=100, page_size=100, query=query))

    assert len(message["blocks"]) <= 50
    page = next(b for b in buttons(message) if b["action_id"] == ACTION_LIST_PAGE)
    assert page["text"]["text"] == "Next 15" and len(page["value"]) <= 2000
    assert json.loads(page["value"])["o"] == 15


def test_empty_list() -> None:
    message = valid_message(instance_list_message([], total=0, query="nothing"))

    assert "No instances" in message["text"]


# ----------------------------------------------------------------------------------------------------
# Apply for Certificate dialog

FULL_FORM = ApplyForm(
    domains=["shop.example.com", "*.example.com", "bücher.example"],
    company_name="Example & Co",
    company_phone="+86 571 0000 0000",
    company_address="1 Example Road",
    company_registration="91330000",
    contact_name="Li Lei",
    contact_email="li@example.com",
    contact_phone="+86 138 0000 0000",
    validation_method="http",
    csr_mode="upload",
    csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nabc\n-----END CERTIFICATE REQUEST-----",
    key_algorithm="ECC_256",
)


@pytest.mark.parametrize(
    ("overrides", "remaining"),
    [
        ({"exact_quota": 5, "wildcard_quota": 2}, "You can enter 5 more domain(s) and 2 more wildcard domain(s)."),
        ({"exact_quota": 1}, "You can enter 1 more domain(s) and 0 more wildcard domain(s)."),
        ({"cert_type": CertType.DV, "exact_quota": 0, "wildcard_quota": 3}, "0 more domain(s) and 3 more wildcard"),
    ],
    ids=["5+2", "1+0", "dv-0+3"],
)
def test_apply_modal_is_valid_with_the_remaining_hint(overrides: dict[str, Any], remaining: str) -> None:
    instance = make_instance(**overrides)

    view = valid_view(apply_modal(instance, private_metadata='{"i":"inst-1"}'))

    assert view["title"]["text"] == "Apply for Certificate" and view["submit"]["text"] == "Submit"
    domains = block(view, DOMAINS_BLOCK)
    assert remaining in domains["hint"]["text"]
    assert domains["element"]["placeholder"]["text"] == "one domain per line, e.g. *.example.com"
    assert block(view, VALIDATION_BLOCK)["element"]["initial_option"]["value"] == "dns"
    assert block(view, CSR_BLOCK)["element"]["initial_option"]["value"] == "generate"
    assert block(view, KEY_BLOCK)["element"]["initial_option"]["value"] == KeyAlgorithm.RSA_2048.value
    assert block(view, CONTACT_EMAIL_BLOCK)["element"]["type"] == "email_text_input"
    assert block(view, COMPANY_BLOCK).get("optional") is (instance.cert_type is CertType.DV)
    assert all(b["element"]["action_id"] == "value" for b in input_blocks(view))
    assert "Validity period: 1 year (fixed, A2)" in mrkdwn_texts(view)


def test_apply_modal_reopens_with_the_values_it_held() -> None:
    view = valid_view(apply_modal(make_instance(), private_metadata="{}", initial=FULL_FORM.initial()))

    assert parse_apply_state(slack_state(view)) == FULL_FORM


def test_apply_state_with_empty_inputs_takes_the_defaults() -> None:
    view = valid_view(apply_modal(make_instance(), private_metadata="{}"))
    values = slack_state(view)
    values[VALIDATION_BLOCK]["value"]["selected_option"] = None

    assert parse_apply_state(values) == ApplyForm()


def test_domains_split_on_newlines_commas_and_spaces() -> None:
    values = {DOMAINS_BLOCK: {"value": {"type": "plain_text_input", "value": "a.com, b.com\n\n *.c.com\td.com,,"}}}

    assert parse_apply_state(values).domains == ["a.com", "b.com", "*.c.com", "d.com"]


@pytest.mark.parametrize(
    ("mode", "pem", "expected"),
    [("upload", "  PEM  ", "PEM"), ("upload", " ", None), ("generate", "PEM", None)],
    ids=["upload", "upload-empty", "generate-ignores-paste"],
)
def test_to_request_passes_the_csr_only_when_uploading(mode: str, pem: str, expected: str | None) -> None:
    form = ApplyForm(domains=["a.com"], csr_mode=mode, csr_pem=pem, validation_method="http", key_algorithm="RSA_4096")

    request = to_request(form, "inst-1")

    assert request.csr_pem == expected
    assert (request.instance_id, request.domains, request.validity_years) == ("inst-1", ["a.com"], 1)
    assert (request.validation_method, request.key_algorithm) == (ValidationMethod.HTTP, KeyAlgorithm.RSA_4096)
    assert (form_errors(form) != {}) == (mode == "upload" and expected is None)


def _request(**changes: Any) -> ApplicationRequest:
    fields: dict[str, Any] = {
        "instance_id": "inst-1",
        "domains": ["shop.example.com"],
        "company": CompanyProfile(name="Ex", phone="+86 571 1234 5678", address="Road 1", registration_number="913"),
        "contact": Contact(name="Li", email="li@example.com", phone="+86 138 0000 0000"),
    }
    company = {k: changes.pop(k) for k in ("name", "phone", "address", "registration_number") if k in changes}
    contact = {k.removeprefix("contact_"): changes.pop(k) for k in list(changes) if k.startswith("contact_")}
    fields["company"] = fields["company"].model_copy(update=company)
    fields["contact"] = fields["contact"].model_copy(update=contact)
    return ApplicationRequest(**{**fields, **changes})


def _core_reasons(request: ApplicationRequest, **instance: Any) -> list[Reason]:
    reasons = application_reasons(make_instance(**instance), request, None)[1]
    assert reasons, "the row must produce at least one reason"
    return reasons


@cache
def _csr(*names: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    sans = x509.SubjectAlternativeName([x509.DNSName(n) for n in names])
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    )
    csr = builder.add_extension(sans, critical=False).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _missing_from_csr() -> list[Reason]:
    domains = [parse_domain(d) for d in ("a.example.com", "b.example.com")]
    return csr_reasons(_csr("a.example.com"), [d for d in domains if isinstance(d, DomainName)], KeyAlgorithm.ECC_256)


ROUTES: list[tuple[str, Callable[[], list[Reason]], str]] = [
    ("A1-no-domain", lambda: _core_reasons(_request(domains=[])), DOMAINS_BLOCK),
    ("A1-over-quota", lambda: _core_reasons(_request(domains=["a.example.com", "b.example.com"])), DOMAINS_BLOCK),
    ("A3-wildcard", lambda: _core_reasons(_request(domains=["a*.example.com"])), DOMAINS_BLOCK),
    ("A4-ev-wildcard", lambda: _core_reasons(_request(domains=["*.example.com"]), cert_type=CertType.EV,
                                             wildcard_quota=1), DOMAINS_BLOCK),
    ("A5-invalid", lambda: _core_reasons(_request(domains=["bad..example"])), DOMAINS_BLOCK),
    ("A5-twice", lambda: _core_reasons(_request(domains=["a.example.com", "A.example.com"])), DOMAINS_BLOCK),
    ("A6-complimentary", lambda: [Reason(rule="A6", subject="www.a.com", message="Is complimentary.")], DOMAINS_BLOCK),
    ("A9-too-many", lambda: _core_reasons(_request(domains=[f"d{n}.example.com" for n in range(251)]),
                                          exact_quota=300), DOMAINS_BLOCK),
    ("A8-in-progress", lambda: _core_reasons(_request(), status=InstanceStatus.REVIEWING), DOMAINS_BLOCK),
    ("STATE-not-activated", lambda: _core_reasons(_request(), status=InstanceStatus.NOT_ACTIVATED), DOMAINS_BLOCK),
    ("C8-combined", lambda: _core_reasons(_request(), status=InstanceStatus.COMBINED, merged_into="m"), DOMAINS_BLOCK),
    ("A2-validity", lambda: _core_reasons(_request(validity_years=2)), DOMAINS_BLOCK),
    ("A7-http-wildcard", lambda: _core_reasons(_request(domains=["*.example.com"], validation_method="http"),
                                               wildcard_quota=1), DOMAINS_BLOCK),
    ("A7-company-name", lambda: _core_reasons(_request(name=" ")), COMPANY_BLOCK),
    ("A7-company-phone-blank", lambda: _core_reasons(_request(phone="")), COMPANY_PHONE_BLOCK),
    ("A7-company-phone-bad", lambda: _core_reasons(_request(phone="call me")), COMPANY_PHONE_BLOCK),
    ("A7-company-address", lambda: _core_reasons(_request(address="")), COMPANY_ADDRESS_BLOCK),
    ("A7-company-registration", lambda: _core_reasons(_request(registration_number="")), COMPANY_REG_BLOCK),
    ("A7-contact-name", lambda: _core_reasons(_request(contact_name="")), CONTACT_NAME_BLOCK),
    ("A7-contact-email-blank", lambda: _core_reasons(_request(contact_email="")), CONTACT_EMAIL_BLOCK),
    ("A7-contact-email-bad", lambda: _core_reasons(_request(contact_email="li@")), CONTACT_EMAIL_BLOCK),
    ("A7-contact-phone-blank", lambda: _core_reasons(_request(contact_phone="")), CONTACT_PHONE_BLOCK),
    ("A7-contact-phone-bad", lambda: _core_reasons(_request(contact_phone="x")), CONTACT_PHONE_BLOCK),
    ("A7-phone-quoting-another-field", lambda: _core_reasons(_request(phone="contact email")), COMPANY_PHONE_BLOCK),
    ("A7-instance-named-CSR", lambda: _core_reasons(_request(name="", instance_id="CSR"), id="CSR"), COMPANY_BLOCK),
    ("A7-csr-unreadable", lambda: _core_reasons(_request(csr_pem="garbage")), CSR_PEM_BLOCK),
    ("A7-csr-missing-domain", _missing_from_csr, CSR_PEM_BLOCK),
    ("A7-subject-CSR", lambda: [Reason(rule="A7", subject="CSR", message="The key is too small.")], CSR_PEM_BLOCK),
    ("unknown-rule", lambda: [Reason(rule="Z9", subject="x", message="Something else.")], DOMAINS_BLOCK),
]  # fmt: skip


@pytest.mark.parametrize(("make_reasons", "expected"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_apply_errors_route_each_rule_to_its_input(make_reasons: Callable[[], list[Reason]], expected: str) -> None:
    reasons = make_reasons()

    errors = apply_errors(reasons)

    assert list(errors) == [expected]
    assert errors[expected] == "; ".join(str(r) for r in reasons)[:2000]


def test_apply_errors_join_and_cut_per_block_and_place_every_reason() -> None:
    reasons = [Reason(rule="A5", subject=f"d{n}", message="x" * 100) for n in range(50)]
    contact = "The application for instance inst-1 needs the contact name; fill it in."
    reasons.append(Reason(rule="A7", subject="inst-1", message=contact))

    errors = apply_errors(reasons)

    assert set(errors) == {DOMAINS_BLOCK, CONTACT_NAME_BLOCK}
    assert len(errors[DOMAINS_BLOCK]) == 2000 and errors[DOMAINS_BLOCK].startswith("A5: " + "x" * 100 + "; A5: ")


# ----------------------------------------------------------------------------------------------------
# Application submitted, and status


def _domains(count: int, *, long: bool = False) -> list[DomainName]:
    label = "a" * 60
    names = [f"{label}.{label}.d{n}.example.com" if long else f"d{n}.example.com" for n in range(count - 1)]
    parsed = [parse_domain(n) for n in ("bücher.example", *names)]
    return [d for d in parsed if isinstance(d, DomainName)]


def _application(
    count: int, *, long: bool = False, stage: Stage = Stage.DOMAIN_VERIFICATION, **changes: Any
) -> Application:
    domains = _domains(count, long=long)
    checks = [
        DomainCheck(
            domain=d.ascii,
            method=ValidationMethod.DNS if n % 2 else ValidationMethod.HTTP,
            record_type="TXT" if n % 2 else "FILE",
            location=f"_dnsauth.{d.ascii}" if n % 2 else f"http://{d.ascii}/.well-known/pki-validation/{n:016x}.txt",
            value="v" * 32,
            status=CheckStatus.PASSED if n % 3 == 0 else CheckStatus.PENDING,
        )
        for n, d in enumerate(domains)
    ]
    fields: dict[str, Any] = {
        "id": "app-1",
        "instance_id": "inst-1",
        "domains": domains,
        "company": CompanyProfile(name="Ex", phone="1234567", address="Road", registration_number="9"),
        "contact": Contact(name=NASTY, email="li@example.com", phone="+86 138 0000 0000"),
        "validation_method": ValidationMethod.DNS,
        "key_algorithm": KeyAlgorithm.RSA_2048,
        "csr_pem": "PEM",
        "key_generated": True,
        "actor": "U0ALICE",
        "submitted_at": AT,
        "stage": stage,
        "domain_checks": checks,
        "org_checks": OrgChecks(email=CheckStatus.PASSED),
    }
    return Application(**{**fields, **changes})


ONE_AND_MANY = [(1, False), (250, False), (250, True)]
ONE_AND_MANY_IDS = ["1-domain", "250-domains", "250-long-domains"]


@pytest.mark.parametrize(("count", "long"), ONE_AND_MANY, ids=ONE_AND_MANY_IDS)
def test_application_submitted_message(count: int, long: bool) -> None:
    instance = make_instance(exact_quota=250, wildcard_quota=0)
    application = _application(count, long=long)

    message = valid_message(application_submitted_message(instance, application))

    texts = "\n".join(mrkdwn_texts(message))
    assert "Application submitted" in message["blocks"][0]["text"]["text"]
    assert "bücher.example (xn--bcher-kva.example)" in texts
    assert "`_dnsauth.d0.example.com`" in texts or long or count == 1
    assert "serve `http://xn--bcher-kva.example/.well-known/pki-validation/" in texts
    assert "the CA writes to li@example.com" in texts and "&lt;!channel&gt;" in texts
    assert "Updates follow in this thread." in texts
    assert "<@U0ALICE>" in texts


STATUS_CASES: list[tuple[str, dict[str, Any], int | None]] = [
    ("domain-verification", {}, 2),
    ("late", {}, 9),
    ("rejected", {"stage": Stage.REJECTED, "rejection_reason": NASTY}, 4),
    ("issued", {"stage": Stage.ISSUED}, 5),
]


@pytest.mark.parametrize(("count", "long"), ONE_AND_MANY, ids=ONE_AND_MANY_IDS)
@pytest.mark.parametrize(("changes", "elapsed"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES])
def test_status_message(count: int, long: bool, changes: dict[str, Any], elapsed: int | None) -> None:
    if changes.get("stage") is Stage.ISSUED:
        changes = {**changes, "certificate": IssuedCertificate(
            serial="0a1b", not_before=AT, not_after=AT.replace(year=2027), sans=[], key_algorithm=KeyAlgorithm.RSA_2048,
            cert_pem="", chain_pem="",
        )}  # fmt: skip
    instance = make_instance(status=InstanceStatus.VALIDATION_FAILED if changes else InstanceStatus.REVIEWING)
    view = StatusView(
        instance=instance, application=_application(count, long=long, **changes), business_days_elapsed=elapsed
    )

    message = valid_message(status_message(view))

    texts = "\n".join(mrkdwn_texts(message))
    assert f"Business days elapsed: *{elapsed}* (the CA usually takes 3–7)" in texts
    assert ("longer than usual" in texts) == (elapsed == 9)
    stage = changes.get("stage", Stage.DOMAIN_VERIFICATION)
    if stage is Stage.ISSUED:
        assert "serial `0a1b`" in texts and "2026-12-07" in texts
    elif stage is Stage.REJECTED:
        assert "*Rejection reason:* &lt;!channel&gt;" in texts
    else:
        assert "Open checks" in texts if count > 1 else "All 1 domain checks passed." in texts
        assert "missed a phone call" in texts
    apply = [b for b in buttons(message) if b["action_id"] == ACTION_APPLY_OPEN]
    assert bool(apply) == (stage is not Stage.DOMAIN_VERIFICATION)


def test_status_without_application_offers_apply() -> None:
    message = valid_message(status_message(StatusView(make_instance(), None, None)))

    assert "No application yet." in mrkdwn_texts(message)
    assert [b["action_id"] for b in buttons(message)] == [ACTION_APPLY_OPEN, ACTION_STATUS]


# ----------------------------------------------------------------------------------------------------
# Shared messages, and user-controlled text


def test_help_error_and_reasons_messages() -> None:
    commands = [(f"/cert cmd{n}", "does <things> & more " * 10) for n in range(300)]
    valid_message(help_message(commands))
    valid_message(help_message([]))
    valid_message(error_message(NASTY * 500))
    valid_message(error_message(""))
    reasons = [Reason(rule="A5", subject=f"d{n}", message=NASTY * 40) for n in range(500)]
    blocks = reasons_blocks(reasons, headline="cannot apply <!here>")
    valid_message(("reasons", blocks))
    assert len(blocks) <= 45


def _nasty_payloads() -> list[dict[str, Any]]:
    name = (NASTY * 20)[:200]
    brand = ("<!here>&" * 8)[:64]
    current = make_instance(id="cur-0000", name=name, brand=brand)
    others = [make_instance(id=f"o-{n:02d}", name=name, brand=brand) for n in range(35)]
    others.append(make_instance(id="bad-1", name=name, brand=brand, status=InstanceStatus.ISSUED))
    found = find_candidates(current, others)
    application = _application(3)
    combination = Combination(
        id="c", request_key="k", result_id="m", result_name=name, source_ids=["a"], sources=[], brand=brand,
        cert_type=CertType.OV, quota=Quota(exact=1, wildcard=0), actor="U0ALICE", at=AT, waiver_text=WAIVER_TEXT,
    )  # fmt: skip
    return [
        valid_message(instance_list_message([current, *others[:14]], total=36, query=NASTY)),
        valid_view(combine_modal(found, others[:1] + others[-2:-1], private_metadata="{}")),
        valid_message(combination_success_message(current, combination)),
        valid_view(apply_modal(current, private_metadata="{}")),
        valid_message(application_submitted_message(current, application)),
        valid_message(status_message(StatusView(current, application, 3))),
    ]


@pytest.mark.parametrize("index", range(6), ids=["list", "combine", "success", "apply", "submitted", "status"])
def test_user_text_is_truncated_and_escaped(index: int) -> None:
    built = _nasty_payloads()[index]

    texts = mrkdwn_texts(built)
    for text in texts:
        assert "<!channel>" not in text and "<!here>" not in text and "<@U0BOSS>" not in text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
    assert any("&lt;!" in text for text in texts)
    labels = [o["text"]["text"] for o in objects(built) if "value" in o and isinstance(o.get("text"), dict)]
    assert all(len(label) <= 75 for label in labels)
    if "blocks" in built and built["blocks"][0]["type"] == "header":
        assert len(built["blocks"][0]["text"]["text"]) <= 150


def test_long_names_are_shortened_with_an_ellipsis() -> None:
    long_id = "i" * 128
    instance = make_instance(id=long_id, name="n" * 200, exact_quota=12, wildcard_quota=3)
    found = find_candidates(make_instance(id="cur-0000"), [instance])

    view = valid_view(combine_modal(found, private_metadata="{}"))

    option = certs_blocks(view)[0]["element"]["options"][0]
    assert option["value"] == long_id and len(option["text"]["text"]) == 75
    assert option["text"]["text"].endswith("… · 12+3*")
