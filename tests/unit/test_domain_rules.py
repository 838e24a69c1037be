"""Applying for a certificate: rules A1–A10 (core/rules/domains.py)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import idna
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.model import (
    Application,
    ApplicationRequest,
    CertType,
    CompanyProfile,
    Contact,
    DomainName,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    Reason,
    Stage,
    ValidationMethod,
)
from core.rules.csr import csr_reasons
from core.rules.domains import (
    MAX_NAMES,
    QuotaUse,
    application_reasons,
    domain_reasons,
    email_is_valid,
    max_lifetime_days,
    parse_domain,
    phone_is_valid,
    quota_use,
    remaining_message,
)
from tests import factories

# --- factories ------------------------------------------------------------------------------------


def make_instance(**overrides: Any) -> Instance:
    return factories.make_instance(**{"exact_quota": 2, "wildcard_quota": 1, **overrides})


def make_request(**overrides: Any) -> ApplicationRequest:
    fields: dict[str, Any] = {
        "instance_id": "inst-1",
        "domains": ["example.com"],
        "company": CompanyProfile(
            name="Example Ltd",
            phone="+86 10 8888 6666",
            address="1 Road, Beijing",
            registration_number="9111",
        ),
        "contact": Contact(name="Li Lei", email="li.lei@example.com", phone="+86 138-0013-8000"),
    }
    fields.update(overrides)
    return ApplicationRequest(**fields)


def make_application(stage: Stage) -> Application:
    request = make_request()
    return Application(
        id="app-1",
        instance_id="inst-1",
        domains=[DomainName(ascii="example.com", unicode="example.com")],
        company=request.company,
        contact=request.contact,
        validation_method=ValidationMethod.DNS,
        key_algorithm=KeyAlgorithm.ECC_256,
        csr_pem="",
        key_generated=True,
        actor="tester",
        submitted_at=datetime(2026, 3, 2, tzinfo=UTC),
        stage=stage,
    )


def name(text: str) -> DomainName:
    parsed = parse_domain(text)
    assert isinstance(parsed, DomainName), parsed
    return parsed


@cache
def ec_key(curve_name: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    curve = ec.SECP256R1() if curve_name == "secp256r1" else ec.SECP384R1()
    return ec.generate_private_key(curve)


@cache
def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, common_name: str | None, sans: Sequence[str] = ()
) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    entries: list[x509.GeneralName] = []
    for san in sans:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            entries.append(x509.DNSName(san))
    if entries:
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


# --- the rule table -------------------------------------------------------------------------------

Expected = list[tuple[str, str, tuple[str, ...]]]  # (rule, subject, key words of the message)


def case(
    case_id: str,
    expected: Expected,
    *,
    instance: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
    open_stage: Stage | None = None,
) -> Any:
    return pytest.param(
        make_instance(**(instance or {})),
        make_request(**(request or {})),
        make_application(open_stage) if open_stage else None,
        expected,
        id=case_id,
    )


MANY = [f"host{n}.example.com" for n in range(MAX_NAMES + 1)]

RULE_CASES = [
    case("A1-within-quota-passes", [], request={"domains": ["example.com", "*.example.org"]}),
    case(
        "A1-exact-over-quota-fails",
        [("A1", "inst-1", ("inst-1", "allows 2 exact", "3 are entered", "1 too many", "remove 1 exact"))],
        request={"domains": ["a.example.com", "b.example.com", "c.example.com"]},
    ),
    case(
        "A1-wildcard-over-quota-fails",
        [("A1", "inst-1", ("inst-1", "allows 1 wildcard", "1 too many", "remove 1 wildcard"))],
        request={"domains": ["*.example.com", "*.example.org"]},
    ),
    case(
        "A1-no-domain-fails",
        [("A1", "inst-1", ("inst-1", "at least one domain"))],
        request={"domains": [" "]},
    ),
    case("A2-one-year-passes", [], request={"validity_years": 1}),
    case(
        "A2-two-years-fails",
        [("A2", "inst-1", ("inst-1", "2 years", "must be 1"))],
        request={"validity_years": 2},
    ),
    case("A3-wildcard-passes", [], request={"domains": ["*.example.com"]}),
    case(
        "A3-double-wildcard-fails",
        [("A3", "*.*.example.com", ("'*.*.example.com'", "only one '*'", "correct it"))],
        request={"domains": ["*.*.example.com"]},
    ),
    case(
        "A3-inner-wildcard-fails",
        [("A3", "a.*.example.com", ("'a.*.example.com'", "leftmost label"))],
        request={"domains": ["a.*.example.com"]},
    ),
    case(
        "A3-partial-wildcard-fails",
        [("A3", "*a.example.com", ("'*a.example.com'", "'*.' followed by"))],
        request={"domains": ["*a.example.com"]},
    ),
    case("A3-bare-star-fails", [("A3", "*", ("'*'", "'*.'"))], request={"domains": ["*"]}),
    case("A4-ev-exact-passes", [], instance={"cert_type": CertType.EV}),
    case(
        "A4-ev-wildcard-fails",
        [("A4", "*.example.com", ("*.example.com", "inst-1", "EV", "wildcard"))],
        instance={"cert_type": CertType.EV},
        request={"domains": ["*.example.com"]},
    ),
    case(
        "A4-ev-ip-fails",
        [("A4", "192.0.2.1", ("192.0.2.1", "EV", "IP addresses"))],
        instance={"cert_type": CertType.EV},
        request={"domains": ["192.0.2.1"]},
    ),
    case("A4-ov-ip-passes", [], request={"domains": ["192.0.2.1"]}),
    case("A5-idn-passes", [], request={"domains": ["Bücher.example"]}),
    case(
        "A5-underscore-fails",
        [("A5", "my_host.example.com", ("my_host.example.com", "only letters, digits and hyphens"))],
        request={"domains": ["my_host.example.com"]},
    ),
    case(
        "A5-single-label-fails",
        [("A5", "localhost", ("'localhost'", "at least two labels"))],
        request={"domains": ["localhost"]},
    ),
    case(
        "A5-hyphen-edge-fails",
        [("A5", "-a.example.com", ("'-a'", "hyphen"))],
        request={"domains": ["-a.example.com"]},
    ),
    case(
        "A5-long-label-fails",
        [("A5", "a" * 64 + ".com", ("longer than 63",))],
        request={"domains": ["a" * 64 + ".com"]},
    ),
    case(
        "A5-numeric-tld-fails",
        [("A5", "example.123", ("'123'", "all digits"))],
        request={"domains": ["example.123"]},
    ),
    case(
        "A5-duplicate-ignoring-case-fails",
        [("A5", "example.com", ("example.com", "more than once", "remove the duplicate"))],
        request={"domains": ["Example.COM", "example.com."]},
    ),
    case(
        "A5-duplicate-punycode-and-unicode-fails",
        [("A5", "xn--bcher-kva.de", ("bücher.de (xn--bcher-kva.de)", "more than once"))],
        request={"domains": ["bücher.de", "xn--bcher-kva.de"]},
    ),
    case(
        "A6-wildcard-covers-apex-passes",
        [],
        instance={"exact_quota": 1, "wildcard_quota": 1},
        request={"domains": ["*.example.com", "example.com", "example.org"]},
    ),
    case(
        "A6-www-free-for-digicert-passes",
        [],
        instance={"exact_quota": 1},
        request={"domains": ["example.com", "www.example.com"]},
    ),
    case(
        "A6-www-not-free-for-geotrust-fails",
        [("A1", "inst-1", ("inst-1", "1 too many", "exact"))],
        instance={"brand": "GeoTrust", "exact_quota": 1},
        request={"domains": ["example.com", "www.example.com"]},
    ),
    case("A7-complete-form-passes", []),
    case(
        "A7-blank-company-name-fails",
        [("A7", "inst-1", ("inst-1", "company name", "fill it in"))],
        request={"company": CompanyProfile(name=" ", phone="010-88886666", address="x", registration_number="1")},
    ),
    case(
        "A7-dv-needs-no-company-profile-passes",
        [],
        instance={"cert_type": CertType.DV},
        request={"company": CompanyProfile(name="", phone="", address="", registration_number="")},
    ),
    case(
        "A7-bad-contact-email-fails",
        [("A7", "inst-1", ("'li.lei@localhost'", "inst-1", "not a valid address"))],
        request={"contact": Contact(name="Li Lei", email="li.lei@localhost", phone="13800138000")},
    ),
    case(
        "A7-bad-contact-phone-fails",
        [("A7", "inst-1", ("contact mobile number", "'12345'", "6 to 20 digits"))],
        request={"contact": Contact(name="Li Lei", email="li@example.com", phone="12345")},
    ),
    case(
        "A7-http-validation-of-wildcard-fails",
        [("A7", "*.example.com", ("*.example.com", "HTTP file", "DNS validation"))],
        request={"domains": ["*.example.com"], "validation_method": ValidationMethod.HTTP},
    ),
    case(
        "A7-matching-csr-passes",
        [],
        request={"csr_pem": make_csr(ec_key(), "example.com"), "key_algorithm": KeyAlgorithm.ECC_256},
    ),
    case(
        "A7-csr-with-other-names-fails",
        [
            ("A7", "example.com", ("example.com", "missing from the uploaded CSR for inst-1")),
            ("A7", "other.example", ("other.example", "not among the bound domains")),
        ],
        request={"csr_pem": make_csr(ec_key(), "other.example"), "key_algorithm": KeyAlgorithm.ECC_256},
    ),
    case("A8-finished-application-passes", [], open_stage=Stage.REJECTED),
    case(
        "A8-application-in-progress-fails",
        [("A8", "inst-1", ("inst-1", "in progress", "wait"))],
        open_stage=Stage.CA_REVIEW,
    ),
    case(
        "A8-reviewing-instance-fails",
        [("A8", "inst-1", ("inst-1", "in progress"))],
        instance={"status": InstanceStatus.REVIEWING},
    ),
    case(
        "A9-250-names-passes",
        [],
        instance={"exact_quota": 1000},
        request={"domains": MANY[:MAX_NAMES]},
    ),
    case(
        "A9-251-names-fails",
        [("A9", "inst-1", ("251 domains", "inst-1", "at most 250", "remove 1"))],
        instance={"exact_quota": 1000},
        request={"domains": MANY},
    ),
    case(
        "STATE-not-activated-fails",
        [("STATE", "inst-1", ("inst-1", "not activated", "`certops instances activate inst-1`"))],
        instance={"status": InstanceStatus.NOT_ACTIVATED},
    ),
    case(
        "STATE-issued-fails",
        [("STATE", "inst-1", ("inst-1", "issued", "no longer"))],
        instance={"status": InstanceStatus.ISSUED},
    ),
    case("STATE-validation-failed-passes", [], instance={"status": InstanceStatus.VALIDATION_FAILED}),
    case(
        "C8-combined-source-can-never-be-applied-for",
        [("C8", "inst-1", ("inst-1", "combined into m-1", "never be applied for"))],
        instance={"status": InstanceStatus.COMBINED, "merged_into": "m-1"},
    ),
]


def assert_reasons(reasons: Sequence[Reason], expected: Expected) -> None:
    assert sorted((r.rule, r.subject) for r in reasons) == sorted((rule, subject) for rule, subject, _ in expected)
    for rule, subject, words in expected:
        message = next(r.message for r in reasons if (r.rule, r.subject) == (rule, subject))
        for word in words:
            assert word in message, f"{word!r} not in {message!r}"
        assert message.endswith(".")


@pytest.mark.parametrize(("instance", "request_", "open_application", "expected"), RULE_CASES)
def test_application_rule(
    instance: Instance, request_: ApplicationRequest, open_application: Application | None, expected: Expected
) -> None:
    _, reasons = application_reasons(instance, request_, open_application)
    assert_reasons(reasons, expected)


LIFETIMES = [
    (date(2020, 1, 1), 398),
    (date(2026, 3, 14), 398),
    (date(2026, 3, 15), 200),
    (date(2027, 3, 14), 200),
    (date(2027, 3, 15), 100),
    (date(2029, 3, 14), 100),
    (date(2029, 3, 15), 47),
    (date(2040, 1, 1), 47),
]


@pytest.mark.parametrize(("issued_on", "days"), LIFETIMES, ids=[f"A10-{d}-{n}-days" for d, n in LIFETIMES])
def test_maximum_certificate_lifetime(issued_on: date, days: int) -> None:
    assert max_lifetime_days(issued_on) == days


# --- application_reasons as a whole ---------------------------------------------------------------


def test_application_reports_every_reason_at_once() -> None:
    instance = make_instance(status=InstanceStatus.NOT_ACTIVATED, cert_type=CertType.EV)
    request = make_request(
        domains=["*.example.com", "bad_name.com"],
        validity_years=3,
        contact=Contact(name="", email="nobody", phone="x"),
        validation_method=ValidationMethod.HTTP,
    )
    _, reasons = application_reasons(instance, request, None)
    assert sorted((r.rule, r.subject) for r in reasons) == [
        ("A2", "inst-1"),
        ("A4", "*.example.com"),
        ("A5", "bad_name.com"),
        ("A7", "*.example.com"),
        ("A7", "inst-1"),
        ("A7", "inst-1"),
        ("A7", "inst-1"),
        ("STATE", "inst-1"),
    ]


def test_application_returns_the_parsed_names_in_input_order() -> None:
    names, reasons = application_reasons(
        make_instance(exact_quota=3),
        make_request(domains=["B.example.com", "a.example.com", "b.example.com"]),
        None,
    )
    assert [n.ascii for n in names] == ["b.example.com", "a.example.com"]
    assert [r.rule for r in reasons] == ["A5"]


def test_application_for_another_instance_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="inst-2"):
        application_reasons(make_instance(), make_request(instance_id="inst-2"), None)


# --- parse_domain ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ascii", "unicode", "wildcard", "ip"),
    [
        (" Example.COM. ", "example.com", "example.com", False, False),
        ("*.Example.com", "*.example.com", "*.example.com", True, False),
        ("Bücher.de", "xn--bcher-kva.de", "bücher.de", False, False),
        ("xn--bcher-kva.de", "xn--bcher-kva.de", "bücher.de", False, False),
        ("*.例子.测试", "*.xn--fsqu00a.xn--0zwm56d", "*.例子.测试", True, False),
        ("münchen。de", "xn--mnchen-3ya.de", "münchen.de", False, False),
        ("192.0.2.10", "192.0.2.10", "192.0.2.10", False, True),
        ("2001:DB8:0:0::1", "2001:db8::1", "2001:db8::1", False, True),
        ("ab--cd.example.com", "ab--cd.example.com", "ab--cd.example.com", False, False),
        ("1.2.3.example", "1.2.3.example", "1.2.3.example", False, False),
    ],
)
def test_parse_domain_accepts_and_normalises(raw: str, ascii: str, unicode: str, wildcard: bool, ip: bool) -> None:
    assert parse_domain(raw) == DomainName(ascii=ascii, unicode=unicode, wildcard=wildcard, ip=ip)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "A5"),
        ("example.com..", "A5"),
        (".example.com", "A5"),
        ("1.2.3", "A5"),
        (".".join([*["a" * 63] * 4, "example"]), "A5"),
        ("xn--zz.com", "A5"),
        ("exa mple.com", "A5"),
        ("*.com", "A3"),
        ("**.example.com", "A3"),
        ("*.", "A3"),
        ("fe80::1%eth0", "A5"),
        ("ü_x.de", "A5"),
    ],
)
def test_parse_domain_rejects(raw: str, rule: str) -> None:
    parsed = parse_domain(raw)
    assert isinstance(parsed, Reason)
    assert parsed.rule == rule
    assert parsed.message.endswith(".")


# --- quota ----------------------------------------------------------------------------------------


def test_quota_use_counts_complimentary_names_free_and_ips_as_exact() -> None:
    names = [name(n) for n in ("*.example.com", "example.com", "www.example.com", "192.0.2.1", "b.example.org")]
    use = quota_use(make_instance(exact_quota=5, wildcard_quota=2), names)
    assert use == QuotaUse(
        exact_used=2,
        wildcard_used=1,
        exact_left=3,
        wildcard_left=1,
        complimentary=[
            (name("example.com"), name("*.example.com")),
            (name("www.example.com"), name("example.com")),
        ],
    )


def test_www_is_complimentary_only_for_digicert_globalsign_and_alibaba() -> None:
    names = [name("example.com"), name("www.example.com")]
    for brand in ("DigiCert", "GLOBALSIGN", "alibaba"):
        assert quota_use(make_instance(brand=brand), names).exact_used == 1
    for brand in ("GeoTrust", "CFCA", "vTrus", "WoSign"):
        assert quota_use(make_instance(brand=brand), names).exact_used == 2


def test_a_wildcard_does_not_cover_deeper_names() -> None:
    use = quota_use(make_instance(), [name("*.example.com"), name("a.b.example.com")])
    assert (use.exact_used, use.wildcard_used, use.complimentary) == (1, 1, [])


def test_remaining_message_uses_the_console_wording_and_never_goes_negative() -> None:
    use = quota_use(make_instance(exact_quota=4, wildcard_quota=1), [name("example.com")])
    assert remaining_message(use) == "You can enter 3 more domain(s) and 1 more wildcard domain(s)."
    over = quota_use(make_instance(exact_quota=1, wildcard_quota=0), [name("a.example"), name("*.b.example")])
    assert (over.exact_left, over.wildcard_left) == (0, -1)
    assert remaining_message(over) == "You can enter 0 more domain(s) and 0 more wildcard domain(s)."


def test_domain_reasons_reports_a_duplicate_once_however_often_it_is_listed() -> None:
    names, reasons = domain_reasons(make_instance(), ["a.example", "A.example", "a.example."])
    assert [n.ascii for n in names] == ["a.example"]
    assert [(r.rule, r.subject) for r in reasons] == [("A5", "a.example")]


# --- contact details ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("li.lei@example.com", True),
        ("ops+certs@mail.example.cn", True),
        ("li@bücher.de", True),
        ("li@localhost", False),
        ("li.example.com", False),
        ("@example.com", False),
        ("li@@example.com", False),
        ("li lei@example.com", False),
        ("li..lei@example.com", False),
        ("li@*.example.com", False),
        ("li@192.0.2.1", False),
    ],
)
def test_email_syntax(email: str, valid: bool) -> None:
    assert email_is_valid(email) is valid


@pytest.mark.parametrize(
    ("phone", "valid"),
    [
        ("13800138000", True),
        ("+86 (10) 8888-6666", True),
        ("123456", True),
        ("12345", False),
        ("+1 234 567 890 123 456 789 01", False),
        ("86+10888866", False),
        ("call 13800138000", False),
        ("", False),
    ],
)
def test_phone_syntax(phone: str, valid: bool) -> None:
    assert phone_is_valid(phone) is valid


# --- CSR ------------------------------------------------------------------------------------------

BOUND = [name("example.com"), name("*.example.com"), name("192.0.2.1")]


def test_csr_with_exactly_the_bound_names_passes() -> None:
    csr = make_csr(ec_key(), "EXAMPLE.com", ["example.com", "*.Example.com", "192.0.2.1"])
    assert csr_reasons(csr, BOUND, KeyAlgorithm.ECC_256) == []


def test_csr_names_the_missing_and_the_extra_names() -> None:
    csr = make_csr(ec_key(), "example.com", ["example.com", "other.example"])
    reasons = csr_reasons(csr, BOUND, KeyAlgorithm.ECC_256, subject="inst-1")
    assert [(r.rule, r.subject) for r in reasons] == [
        ("A7", "*.example.com"),
        ("A7", "192.0.2.1"),
        ("A7", "other.example"),
    ]
    assert "missing from the uploaded CSR for inst-1" in reasons[0].message
    assert "not among the bound domains" in reasons[2].message


def test_unreadable_csr_is_refused() -> None:
    reasons = csr_reasons("not a csr", BOUND, KeyAlgorithm.ECC_256, subject="inst-1")
    assert [(r.rule, r.subject) for r in reasons] == [("A7", "inst-1")]
    assert "cannot be read" in reasons[0].message
    assert "BEGIN CERTIFICATE REQUEST" in reasons[0].message


def test_csr_with_a_broken_signature_is_refused() -> None:
    pem = make_csr(ec_key(), "example.com")
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    reasons = csr_reasons(tampered, [name("example.com")], KeyAlgorithm.ECC_256, subject="inst-1")
    assert [(r.rule, r.subject) for r in reasons] == [("A7", "inst-1")]
    assert "invalid signature" in reasons[0].message


def test_csr_on_another_curve_is_refused() -> None:
    reasons = csr_reasons(make_csr(ec_key("secp384r1"), "example.com"), [name("example.com")], KeyAlgorithm.ECC_256)
    assert [r.rule for r in reasons] == ["A7"]
    assert "secp384r1" in reasons[0].message and "P-256" in reasons[0].message


def test_csr_key_must_match_the_chosen_algorithm() -> None:
    reasons = csr_reasons(make_csr(ec_key(), "example.com"), [name("example.com")], KeyAlgorithm.RSA_2048)
    assert [r.rule for r in reasons] == ["A7"]
    assert "ECC P-256" in reasons[0].message and "RSA_2048" in reasons[0].message


@pytest.mark.slow
def test_rsa_2048_csr_passes_for_rsa_2048_only() -> None:
    csr = make_csr(rsa_key(2048), "example.com")
    assert csr_reasons(csr, [name("example.com")], KeyAlgorithm.RSA_2048) == []
    reasons = csr_reasons(csr, [name("example.com")], KeyAlgorithm.RSA_3072)
    assert [r.rule for r in reasons] == ["A7"]
    assert "RSA 2048-bit" in reasons[0].message and "RSA_3072" in reasons[0].message


@pytest.mark.slow
def test_rsa_1024_csr_is_too_weak() -> None:
    reasons = csr_reasons(make_csr(rsa_key(1024), "example.com"), [name("example.com")], KeyAlgorithm.RSA_2048)
    assert [r.rule for r in reasons] == ["A7"]
    assert "1024" in reasons[0].message and "too weak" in reasons[0].message


# --- property: parse_domain never accepts an invalid name -----------------------------------------

LDH_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def satisfies_a3_a5(domain: DomainName) -> bool:
    """The invariants, written independently of core/rules/domains.py."""
    if domain.ip:
        return str(ipaddress.ip_address(domain.ascii)) == domain.ascii and not domain.wildcard
    text = domain.ascii
    if domain.wildcard != text.startswith("*."):
        return False
    host = text[2:] if domain.wildcard else text
    labels = host.split(".")
    shown = domain.unicode[2:] if domain.wildcard else domain.unicode
    return (
        host.isascii()
        and "*" not in host
        and len(host) <= 253
        and len(labels) >= 2
        and all(LDH_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
        and all(
            (u == a) if u.isascii() else idna.alabel(u).decode() == a
            for u, a in zip(shown.split("."), labels, strict=True)
        )
    )


ALPHABET = [*"abcxyzXZ019-.*", "ü", "ß", "例", "Ä", "_", " ", "。", "\u0301", "ı", "ｆ"]
labels = st.text(alphabet=ALPHABET, min_size=0, max_size=12)
# Mostly well-formed names, so that many examples are accepted and their invariants get checked.
plausible = st.tuples(
    st.sampled_from(["", "", "*.", "*.", "x.", "*", "a.*.", "-"]),
    st.lists(st.text(alphabet="abcd09-üß例Ä", min_size=1, max_size=8), min_size=1, max_size=4).map(".".join),
    st.sampled_from(["", ".", ". ", "-"]),
).map("".join)


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=ALPHABET, max_size=40),
        st.lists(labels, min_size=1, max_size=5).map(".".join),
        plausible,
    )
)
@example("*.*.example.com")
@example("a.*.example.com")
@example("*a.example.com")
@example("*")
@example("xn--bcher-kva.example")
def test_parse_domain_never_accepts_an_invalid_name(raw: str) -> None:
    parsed = parse_domain(raw)
    if isinstance(parsed, DomainName):
        assert satisfies_a3_a5(parsed), parsed
    else:
        assert parsed.rule in ("A3", "A5")
