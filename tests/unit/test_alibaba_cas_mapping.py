"""The pure CAS wire <-> model mapping: statuses, instances, stages, validation rows, errors, hand-overs."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.adapters.alibaba_cas_mapping import (
    ErrorKind,
    application_from_detail,
    application_stage,
    classify_error,
    combine_handover,
    domain_check,
    epoch_date,
    instance_from_wire,
    instance_status,
    issued_certificate,
    validity_years,
)
from core.errors import ProviderError
from core.model import (
    CertType,
    CheckStatus,
    CombinePlan,
    InstanceStatus,
    KeyAlgorithm,
    Quota,
    Stage,
    ValidationMethod,
)

JAN_5_2026 = int(datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp())
JAN_5_2027 = int(datetime(2027, 1, 5, 8, tzinfo=UTC).timestamp())


def item(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "InstanceId": "cas-cn-1",
        "Brand": "DigiCert",
        "CertificateType": "OV",
        "Status": "inactive",
        "FullDomainCount": 1,
        "WildcardDomainCount": 0,
        "CertificateName": "shop",
    }
    return fields | overrides


# -- statuses and instances ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "certificate_status", "order_status", "expected"),
    [
        ("inactive", None, None, InstanceStatus.PENDING_APPLICATION),
        ("inactive", None, "PAYED", InstanceStatus.PENDING_APPLICATION),
        ("inactive", None, "NOTACTIVATED", InstanceStatus.NOT_ACTIVATED),
        ("inactive", None, "CHECKED_FAIL", InstanceStatus.VALIDATION_FAILED),
        ("pending", None, "CHECKING", InstanceStatus.REVIEWING),
        ("pending", None, "NOTACTIVATED", InstanceStatus.REVIEWING),
        ("normal", "issued", None, InstanceStatus.ISSUED),
        ("willExpire", "willExpire", None, InstanceStatus.ISSUED),
        ("normal", "revoked", None, InstanceStatus.REVOKED),
        ("expired", "expired", None, InstanceStatus.EXPIRED),
        ("refund", None, None, InstanceStatus.REFUNDED),
        ("closed", None, None, InstanceStatus.EXPIRED),
    ],
    ids=[
        "inactive",
        "inactive-payed",
        "inactive-not-activated",
        "inactive-check-failed",
        "pending",
        "pending-ignores-order",
        "normal",
        "will-expire",
        "revoked",
        "expired",
        "refund",
        "closed",
    ],
)
def test_instance_status(
    status: str, certificate_status: str | None, order_status: str | None, expected: InstanceStatus
) -> None:
    assert instance_status(status, certificate_status, order_status) is expected


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown CAS instance status 'frozen'"):
        instance_status("frozen", None, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (JAN_5_2026, date(2026, 1, 5)),
        (JAN_5_2026 * 1000, date(2026, 1, 5)),
        (None, None),
        (0, None),
        ("1767600000", None),
        (True, None),
    ],
    ids=["seconds", "milliseconds", "none", "zero", "string", "bool"],
)
def test_epoch_date(value: object, expected: date | None) -> None:
    assert epoch_date(value) == expected


@pytest.mark.parametrize(
    ("start", "end", "years"),
    [
        (date(2026, 1, 5), date(2027, 1, 5), 1),
        (date(2026, 1, 5), date(2027, 2, 7), 1),
        (date(2026, 1, 5), date(2028, 1, 5), 2),
        (date(2026, 1, 5), date(2046, 1, 5), 10),
        (None, date(2027, 1, 5), 1),
        (date(2027, 1, 5), date(2026, 1, 5), 1),
    ],
    ids=["one-year", "398-days", "two-years", "capped-at-ten", "no-start", "reversed"],
)
def test_validity_years(start: date | None, end: date | None, years: int) -> None:
    assert validity_years(start, end) == years


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"FullDomainCount": 3, "WildcardDomainCount": 2}, "quota", (3, 2)),
        ({"FullDomainCount": None, "WildcardDomainCount": None}, "quota", (1, 0)),
        ({"FullDomainCount": 0, "WildcardDomainCount": 1}, "quota", (0, 1)),
        ({"FullDomainCount": 5000}, "quota", (1000, 0)),
        ({"InstanceStartTime": JAN_5_2026, "InstanceEndTime": JAN_5_2027}, "service", (1, date(2026, 1, 5))),
        ({"CertificateName": "cas-merge-abc"}, "name", ("cas-merge-abc", False)),
        ({"CertificateName": ""}, "name", ("cas-cn-1", True)),
        ({"CertificateName": "x" * 250}, "name", ("x" * 200, True)),
        ({"Status": "refund"}, "name", ("shop", False)),
        ({"AutoReissue": "enable"}, "hosted", True),
        ({"AutoReissue": "disable"}, "hosted", False),
        ({"CertificateType": "ev"}, "type", CertType.EV),
        ({"Brand": None}, "brand", "unknown"),
    ],
    ids=[
        "quota",
        "no-quota-binds-one",
        "wildcard-only",
        "quota-capped",
        "service-dates",
        "cas-merge-keeps-name-not-refundable",
        "name-falls-back-to-id",
        "long-name-cut",
        "refunded-not-refundable",
        "hosted",
        "not-hosted",
        "type-case",
        "no-brand",
    ],
)
def test_instance_from_wire(overrides: dict[str, Any], field: str, expected: object) -> None:
    instance = instance_from_wire(item(**overrides))
    actual = {
        "quota": (instance.exact_quota, instance.wildcard_quota),
        "service": (instance.validity_years, instance.service_start),
        "name": (instance.name, instance.refundable),
        "hosted": instance.hosted,
        "type": instance.cert_type,
        "brand": instance.brand,
    }[field]
    assert actual == expected


@pytest.mark.parametrize("cert_type", ["FREE", None], ids=["free", "missing"])
def test_instances_of_other_types_are_refused(cert_type: str | None) -> None:
    with pytest.raises(ValueError, match="certificate type"):
        instance_from_wire(item(CertificateType=cert_type))


# -- applications --------------------------------------------------------------------------------------------

TXT_ROW = {"Domain": "shop.example.com", "RootDomain": "example.com", "ValidationType": "TXT",
           "ValidationKey": "_dnsauth.shop", "ValidationValue": "token"}  # fmt: skip


@pytest.mark.parametrize(
    ("detail", "just_submitted", "stage"),
    [
        ({"Status": "inactive"}, False, None),
        ({"Status": "inactive"}, True, Stage.ORGANISATION_VERIFICATION),
        ({"Status": "pending", "DomainValidationList": [TXT_ROW]}, False, Stage.DOMAIN_VERIFICATION),
        ({"Status": "pending", "DomainValidationList": []}, False, Stage.ORGANISATION_VERIFICATION),
        ({"Status": "pending", "CertificateType": "DV"}, False, Stage.CA_REVIEW),
        (
            {"Status": "pending", "CertificateId": 7, "CertificateStatus": "issued"},
            False,
            Stage.ORGANISATION_VERIFICATION,
        ),
        ({"Status": "normal", "CertificateId": 7, "CertificateStatus": "issued"}, False, Stage.ISSUED),
        ({"Status": "expired", "CertificateId": 7}, False, Stage.ISSUED),
        ({"Status": "expired"}, False, None),
        ({"Status": "inactive", "PendingResult": "licence unreadable"}, False, Stage.REJECTED),
        ({"Status": "inactive", "PendingResult": "  "}, False, None),
        ({"Status": "refund"}, False, None),
    ],
    ids=[
        "nothing-applied",
        "just-submitted",
        "dcv-pending",
        "ov-after-dcv",
        "dv-after-dcv",
        "reissue-under-review",
        "issued",
        "expired-certificate",
        "expired-unused",
        "rejected",
        "blank-result",
        "refunded",
    ],
)
def test_application_stage(detail: dict[str, Any], just_submitted: bool, stage: Stage | None) -> None:
    assert application_stage(item(**detail), just_submitted=just_submitted) == stage


def test_a_rejection_reports_the_ca_message_and_keeps_checks_open() -> None:
    rejected = application_from_detail(item(PendingResult=" Licence unreadable. "))

    assert rejected is not None
    assert (rejected.stage, rejected.rejection_reason) == (Stage.REJECTED, "Licence unreadable.")
    assert rejected.org_checks.email is CheckStatus.PENDING and rejected.certificate is None


def test_issued_rows_are_passed() -> None:
    detail = item(Status="normal", CertificateId=7, CertificateStatus="issued", DomainValidationList=[TXT_ROW])

    issued = application_from_detail(detail)

    assert issued is not None
    assert [c.status for c in issued.domain_checks] == [CheckStatus.PASSED]
    assert issued.org_checks.phone is CheckStatus.PASSED


@pytest.mark.parametrize(
    ("row", "method", "record_type", "location", "value"),
    [
        (TXT_ROW, ValidationMethod.DNS, "TXT", "_dnsauth.shop.example.com", "token"),
        ({**TXT_ROW, "ValidationKey": "_dnsauth.shop.example.com"}, ValidationMethod.DNS, "TXT",
         "_dnsauth.shop.example.com", "token"),
        ({**TXT_ROW, "ValidationKey": "@"}, ValidationMethod.DNS, "TXT", "example.com", "token"),
        ({**TXT_ROW, "RootDomain": None}, ValidationMethod.DNS, "TXT", "_dnsauth.shop", "token"),
        ({"Domain": "shop.example.com", "RootDomain": "example.com", "ValidationType": "CNAME",
          "CnameKey": "_acme", "Cname": "x.dnsv.example"}, ValidationMethod.DNS, "CNAME", "_acme.example.com",
         "x.dnsv.example"),
        ({"Domain": "shop.example.com", "ValidationType": "HTTP", "ValidationKey": "/.well-known/pki-validation/f.txt",
          "ValidationValue": "content"}, ValidationMethod.HTTP, "FILE",
         "http://shop.example.com/.well-known/pki-validation/f.txt", "content"),
        ({"Domain": "2001:db8::1", "ValidationType": "HTTP", "ValidationKey": "f.txt", "ValidationValue": "c"},
         ValidationMethod.HTTP, "FILE", "http://[2001:db8::1]/f.txt", "c"),
        ({"Domain": "a.example", "ValidationType": "HTTP", "ValidationKey": "https://a.example/f.txt",
          "ValidationValue": "c"}, ValidationMethod.HTTP, "FILE", "https://a.example/f.txt", "c"),
    ],
    ids=["txt-host-record", "txt-fqdn", "txt-apex", "txt-no-root", "cname", "http-path", "http-ipv6", "http-url"],
)  # fmt: skip
def test_domain_check(
    row: dict[str, Any], method: ValidationMethod, record_type: str, location: str, value: str
) -> None:
    check = domain_check(row, ValidationMethod.DNS)
    assert (check.method, check.record_type, check.location, check.value) == (method, record_type, location, value)
    assert check.status is CheckStatus.PENDING


def test_a_row_without_a_type_follows_the_instance_method() -> None:
    row = {"Domain": "a.example", "ValidationKey": "/f.txt", "ValidationValue": "c"}
    assert domain_check(row, ValidationMethod.HTTP).location == "http://a.example/f.txt"


def _certificate(
    issuer: x509.Name, key: ec.EllipticCurvePrivateKey, public: object, sans: list[x509.GeneralName]
) -> str:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder(subject_name=issuer, issuer_name=issuer, public_key=public)  # type: ignore[arg-type]
        .serial_number(0xABC123)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=199))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_issued_certificate_splits_leaf_and_chain() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.example.com")])
    sans: list[x509.GeneralName] = [x509.DNSName("shop.example.com"), x509.IPAddress(ipaddress.ip_address("192.0.2.1"))]
    leaf = _certificate(name, key, key.public_key(), sans)
    chain = _certificate(name, key, key.public_key(), [])

    issued = issued_certificate(leaf + chain)

    assert issued.serial == "abc123"
    assert issued.sans == ["shop.example.com", "192.0.2.1"]
    assert issued.key_algorithm is KeyAlgorithm.ECC_256
    assert (issued.cert_pem, issued.chain_pem) == (leaf, chain)
    assert issued.not_before == datetime(2026, 12, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "bundle", ["", "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"], ids=["empty", "key"]
)
def test_a_bundle_without_a_certificate_is_a_provider_error(bundle: str) -> None:
    with pytest.raises(ProviderError, match="no PEM certificate"):
        issued_certificate(bundle)


# -- errors and hand-overs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "about_instance", "kind"),
    [
        (400, "Throttling.User", False, ErrorKind.UNAVAILABLE),
        (503, "Throttling", False, ErrorKind.UNAVAILABLE),
        (429, "TooManyRequests", True, ErrorKind.UNAVAILABLE),
        (500, "InternalError", True, ErrorKind.UNAVAILABLE),
        (503, "ServiceUnavailable", False, ErrorKind.UNAVAILABLE),
        (400, "InvalidInstanceId.NotFound", True, ErrorKind.NOT_FOUND),
        (400, "InstanceNotExist", True, ErrorKind.NOT_FOUND),
        (404, "Unknown", True, ErrorKind.NOT_FOUND),
        (400, "InvalidInstanceId.NotFound", False, ErrorKind.REFUSED),
        (404, "InvalidAccessKeyId.NotFound", True, ErrorKind.REFUSED),
        (404, "InvalidAction.NotFound", True, ErrorKind.REFUSED),
        (400, "MissingInstanceId", True, ErrorKind.REFUSED),
        (403, "Forbidden.RAM", True, ErrorKind.REFUSED),
        (400, "SignatureDoesNotMatch", True, ErrorKind.REFUSED),
        (400, "InvalidParameter.DomainCount", True, ErrorKind.REFUSED),
        (None, "InvalidCredentials", False, ErrorKind.REFUSED),
    ],
    ids=[
        "throttling-400",
        "throttling-503",
        "429",
        "500",
        "503",
        "instance-not-found",
        "instance-not-exist",
        "404-on-instance",
        "not-found-off-instance",
        "access-key-not-found",
        "action-not-found",
        "missing-parameter",
        "forbidden",
        "signature",
        "invalid-parameter",
        "no-credentials",
    ],
)
def test_classify_error(status: int | None, code: str, about_instance: bool, kind: ErrorKind) -> None:
    assert classify_error(status, code, about_instance=about_instance) is kind


@pytest.mark.parametrize(
    ("source_ids", "selected"),
    [(["cas-a", "cas-b"], "select cas-b,"), (["cas-b", "cas-c", "cas-d"], "select cas-b, cas-c and cas-d,")],
    ids=["current-listed", "current-not-listed"],
)
def test_combine_handover_names_the_plan(source_ids: list[str], selected: str) -> None:
    plan = CombinePlan(
        current_id="cas-a",
        source_ids=source_ids,
        brand="GlobalSign",
        cert_type=CertType.EV,
        quota=Quota(exact=4, wildcard=0),
        name="cas-merge-x",
    )

    message = combine_handover(plan)

    assert "find instance cas-a and click Combine Certificates" in message
    assert selected in message
    assert "GlobalSign EV instance's name starts with cas-merge and binds 4 exact and 0 wildcard" in message
    assert message.endswith("Then run `certops sync`; certops records the combination it finds.")
