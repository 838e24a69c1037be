"""The Alibaba Cloud CAS provider through the official SDK against a local CAS endpoint over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.adapters.alibaba_cas import AlibabaCasProvider, CasClientConfig, CasCompanyLocation
from core.adapters.clock import FixedClock
from core.errors import NotFound, OperationNotSupported, ProviderError, ProviderUnavailable
from core.model import (
    ApplicationRequest,
    CertType,
    CheckStatus,
    CombinePlan,
    CompanyProfile,
    Contact,
    DomainName,
    InstanceStatus,
    KeyAlgorithm,
    Quota,
    Stage,
    ValidationMethod,
)
from tests.integration.cas_endpoint import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CasEndpoint

YEAR_START = int(datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp())
YEAR_END = int(datetime(2027, 1, 5, 8, tzinfo=UTC).timestamp())
LOCATION = CasCompanyLocation(province="Beijing", city="Beijing", post_code="100000")
COMPANY = CompanyProfile(
    name="Example Trading Ltd", phone="+86 10 6000 0000", address="1 Example Road", registration_number="91110000MA0"
)
CONTACT = Contact(name="Li Lei", email="li.lei@example.com", phone="13800000000")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # `requests` inside the SDK would send 127.0.0.1 through a proxy taken from the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def cas() -> Iterator[CasEndpoint]:
    with CasEndpoint() as endpoint:
        yield endpoint


def provider_for(cas: CasEndpoint, clock: FixedClock, **overrides: object) -> AlibabaCasProvider:
    fields: dict[str, object] = {
        "access_key_id": ACCESS_KEY_ID,
        "access_key_secret": ACCESS_KEY_SECRET,
        "endpoint": cas.endpoint,
        "protocol": "http",
        "connect_timeout_ms": 1000,
        "read_timeout_ms": 3000,
        "company": LOCATION,
        **overrides,
    }
    return AlibabaCasProvider(CasClientConfig(**fields), clock)  # type: ignore[arg-type]


@pytest.fixture
def provider(cas: CasEndpoint, clock: FixedClock) -> AlibabaCasProvider:
    return provider_for(cas, clock)


def names(*raw: str) -> list[DomainName]:
    return [DomainName(ascii=text, unicode=text, wildcard=text.startswith("*.")) for text in raw]


def csr_for(domains: list[DomainName]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0].ascii)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d.ascii) for d in domains]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def request_for(instance_id: str, domains: list[DomainName], method: ValidationMethod) -> ApplicationRequest:
    return ApplicationRequest(
        instance_id=instance_id,
        domains=[d.unicode for d in domains],
        company=COMPANY,
        contact=CONTACT,
        validation_method=method,
        key_algorithm=KeyAlgorithm.ECC_256,
    )


def submit(
    provider: AlibabaCasProvider, instance_id: str, *raw: str, method: ValidationMethod = ValidationMethod.DNS
) -> None:
    domains = names(*raw)
    provider.submit(request_for(instance_id, domains, method), domains, csr_for(domains))


# -- instances -----------------------------------------------------------------------------------------------


def test_list_instances_pages_through_every_instance(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    for number in range(1, 231):
        cas.add_instance(f"cas-cn-{number:04d}")

    instances = provider.list_instances()

    assert [i.id for i in instances] == [f"cas-cn-{number:04d}" for number in range(1, 231)]
    pages = cas.params("ListInstances")
    assert [(p["CurrentPage"], p["ShowSize"]) for p in pages] == [("1", "100"), ("2", "100"), ("3", "100")]


def test_list_instances_maps_status_quota_validity_and_names(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-na", order_status="NOTACTIVATED")
    cas.add_instance("cas-pa", exact=3, wildcard=2)
    cas.add_instance("cas-vf", order_status="CHECKED_FAIL", PendingResult="licence unreadable")
    cas.add_instance("cas-rv", status="pending", order_status="CHECKING", order_type="CPACK")
    cas.add_instance("cas-is", status="normal", start=YEAR_START, end=YEAR_END, auto_reissue="enable")
    cas.add_instance("cas-we", status="willExpire", start=YEAR_START, end=YEAR_END + 2 * 365 * 86400)
    cas.add_instance("cas-ex", status="expired")
    cas.add_instance("cas-rf", status="refund")
    cas.add_instance("cas-cl", status="closed")
    cas.add_instance("cas-mg", name="cas-merge-20260105", exact=4)
    cas.add_instance("cas-free", cert_type="FREE")  # not a type certops holds: skipped

    found = {i.id: i for i in provider.list_instances()}

    assert {key: found[key].status for key in found} == {
        "cas-na": InstanceStatus.NOT_ACTIVATED,
        "cas-pa": InstanceStatus.PENDING_APPLICATION,
        "cas-vf": InstanceStatus.VALIDATION_FAILED,
        "cas-rv": InstanceStatus.REVIEWING,
        "cas-is": InstanceStatus.ISSUED,
        "cas-we": InstanceStatus.ISSUED,
        "cas-ex": InstanceStatus.EXPIRED,
        "cas-rf": InstanceStatus.REFUNDED,
        "cas-cl": InstanceStatus.EXPIRED,
        "cas-mg": InstanceStatus.PENDING_APPLICATION,
    }
    assert (found["cas-pa"].exact_quota, found["cas-pa"].wildcard_quota) == (3, 2)
    issued = found["cas-is"]
    assert (issued.validity_years, issued.service_start, issued.service_end) == (1, date(2026, 1, 5), date(2027, 1, 5))
    assert issued.hosted and not found["cas-pa"].hosted
    assert found["cas-we"].validity_years == 3
    merged = found["cas-mg"]
    assert (merged.name, merged.refundable, merged.exact_quota) == ("cas-merge-20260105", False, 4)
    assert found["cas-pa"].refundable and not found["cas-rf"].refundable
    assert {p["OrderType"] for p in cas.params("ListUserCertificateOrder")} == {"CPACK", "BUY"}


def test_adding_instances_points_at_the_console(provider: AlibabaCasProvider, cas: CasEndpoint) -> None:
    with pytest.raises(OperationNotSupported, match=r"bought in the Alibaba Cloud console; run `certops sync`"):
        provider.add_instances([])
    assert cas.calls == []


def test_activate_hands_over_to_the_console_or_returns_an_activated_instance(
    cas: CasEndpoint, provider: AlibabaCasProvider
) -> None:
    cas.add_instance("cas-na", order_status="NOTACTIVATED")
    cas.add_instance("cas-pa")

    with pytest.raises(OperationNotSupported) as refused:
        provider.activate("cas-na")
    assert "click Apply for Certificate above the certificate list" in str(refused.value)
    assert "cas-na" in str(refused.value)
    assert provider.activate("cas-pa").status is InstanceStatus.PENDING_APPLICATION
    with pytest.raises(NotFound):
        provider.activate("cas-nope")


def test_combine_hands_over_the_console_steps_naming_the_plan(provider: AlibabaCasProvider, cas: CasEndpoint) -> None:
    plan = CombinePlan(
        current_id="cas-a",
        source_ids=["cas-a", "cas-b", "cas-c"],
        brand="DigiCert",
        cert_type=CertType.OV,
        quota=Quota(exact=3, wildcard=0),
        name="cas-merge-x",
    )

    with pytest.raises(OperationNotSupported) as refused:
        provider.combine(plan, "combine:key")

    message = str(refused.value)
    for step in (
        "select Pending Application from the status drop-down list",
        "find instance cas-a and click Combine Certificates",
        "select cas-b and cas-c",
        "Confirm that the combined certificates are not eligible for refunds",
        "click OK",
        "Then run `certops sync`; certops records the combination it finds.",
    ):
        assert step in message
    assert "\n" not in message
    assert cas.calls == []


# -- applications --------------------------------------------------------------------------------------------


def test_submit_fills_in_the_instance_applies_and_reports_dns_checks(
    cas: CasEndpoint, provider: AlibabaCasProvider
) -> None:
    cas.add_instance("cas-ov", exact=2, wildcard=1)
    domains = names("shop.example.com", "example.org", "*.example.com")
    csr = csr_for(domains)

    submitted = provider.submit(request_for("cas-ov", domains, ValidationMethod.DNS), domains, csr)

    assert submitted.stage is Stage.DOMAIN_VERIFICATION
    rows = {c.domain: c for c in submitted.domain_checks}
    assert set(rows) == {"shop.example.com", "example.org", "*.example.com"}
    assert rows["shop.example.com"].location == "_dnsauth.shop.example.com"
    assert rows["*.example.com"].location == "_dnsauth.example.com"
    assert all(c.record_type == "TXT" and c.status is CheckStatus.PENDING and c.value for c in rows.values())
    assert submitted.org_checks.email is CheckStatus.PENDING
    update = cas.params("UpdateInstance")[0]
    assert update["Domain"] == "shop.example.com,example.org,*.example.com"
    assert (update["GenerateCsrMethod"], update["Csr"]) == ("upload", csr)
    assert (update["KeyAlgorithm"], update["ValidationMethod"]) == ("ECC_256", "DNS")
    assert update["CompanyId"] == str(cas.companies[0]["CompanyId"])
    assert update["ContactIdList.1"] == str(cas.contacts[0]["ContactId"])
    assert cas.companies[0]["CompanyCode"] == COMPANY.registration_number
    assert cas.params("ApplyCertificate") == [{"InstanceId": "cas-ov"}]


def test_submit_reuses_company_and_contact_records(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-1")
    cas.add_instance("cas-2")

    submit(provider, "cas-1", "a.example.com")
    submit(provider, "cas-2", "b.example.com")

    assert cas.actions().count("CreateCompany") == 1
    assert cas.actions().count("CreateContact") == 1
    assert cas.params("UpdateInstance")[1]["CompanyId"] == str(cas.companies[0]["CompanyId"])


def test_http_validation_reports_the_file_to_serve(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-dv", cert_type="DV")
    submit(provider, "cas-dv", "www.example.net", method=ValidationMethod.HTTP)

    check = provider.application("cas-dv")

    assert check is not None
    [row] = check.domain_checks
    assert (row.method, row.record_type) == (ValidationMethod.HTTP, "FILE")
    assert row.location == "http://www.example.net/.well-known/pki-validation/fileauth.txt"
    assert row.value == cas.instances["cas-dv"]["DomainValidationList"][0]["ValidationValue"]
    assert "CreateCompany" not in cas.actions()  # DV needs no company profile


def test_review_through_to_issue_brings_back_the_certificate(
    cas: CasEndpoint, provider: AlibabaCasProvider, clock: FixedClock
) -> None:
    cas.add_instance("cas-ov", exact=2)
    submit(provider, "cas-ov", "shop.example.com", "example.org")

    cas.pass_domain_validation("cas-ov")
    organisation = provider.application("cas-ov")
    issued_record = cas.issue("cas-ov", now=clock.now())
    issued = provider.application("cas-ov")

    assert organisation is not None and organisation.stage is Stage.ORGANISATION_VERIFICATION
    assert issued is not None and issued.stage is Stage.ISSUED
    certificate = issued.certificate
    assert certificate is not None
    leaf = x509.load_pem_x509_certificate(certificate.cert_pem.encode())
    assert certificate.serial == format(leaf.serial_number, "x")
    assert certificate.sans == ["shop.example.com", "example.org"]
    assert certificate.key_algorithm is KeyAlgorithm.ECC_256
    assert certificate.not_before == clock.now()
    assert certificate.cert_pem + certificate.chain_pem == issued_record["Cert"]
    assert (
        "Fake CAS Issuing CA" in x509.load_pem_x509_certificate(certificate.chain_pem.encode()).subject.rfc4514_string()
    )
    assert issued.org_checks.email is CheckStatus.PASSED
    assert cas.params("GetUserCertificateDetail")[-1]["CertFilter"].lower() == "false"
    [instance] = provider.list_instances()
    assert instance.status is InstanceStatus.ISSUED and instance.service_start == clock.now().date()


def test_rejection_carries_the_ca_reason(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-ov")
    submit(provider, "cas-ov", "shop.example.com")

    cas.reject("cas-ov", "The business licence does not match the company name.")
    rejected = provider.application("cas-ov")

    assert rejected is not None and rejected.stage is Stage.REJECTED
    assert rejected.rejection_reason == "The business licence does not match the company name."
    [instance] = provider.list_instances()
    assert instance.status is InstanceStatus.VALIDATION_FAILED
    submit(provider, "cas-ov", "shop.example.com")  # fixed and sent again
    again = provider.application("cas-ov")
    assert again is not None and again.stage is Stage.DOMAIN_VERIFICATION


def test_no_application_yet_is_none(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-ov")
    assert provider.application("cas-ov") is None


def test_a_second_application_in_progress_is_refused(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-ov")
    submit(provider, "cas-ov", "shop.example.com")

    with pytest.raises(ProviderError, match="already has an application under review"):
        submit(provider, "cas-ov", "shop.example.com")


def test_a_company_cas_lacks_needs_its_location(cas: CasEndpoint, clock: FixedClock) -> None:
    cas.add_instance("cas-ov")
    provider = provider_for(cas, clock, company=CasCompanyLocation())

    with pytest.raises(ProviderError, match="create it in the console's Information Management"):
        submit(provider, "cas-ov", "shop.example.com")
    assert "ApplyCertificate" not in cas.actions()


# -- failures ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after_ms", [None, 1000], ids=["400-throttling-code", "429-retry-after-header"])
def test_throttling_is_unavailable(cas: CasEndpoint, provider: AlibabaCasProvider, retry_after_ms: int | None) -> None:
    cas.add_instance("cas-1")
    cas.throttle(retry_after_ms=retry_after_ms)

    with pytest.raises(ProviderUnavailable, match=r"Throttling\.User: Request was denied due to user flow control"):
        provider.list_instances()
    assert [i.id for i in provider.list_instances()] == ["cas-1"]  # the next call goes through


def test_server_errors_are_unavailable(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-1")
    cas.fail(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")

    with pytest.raises(ProviderUnavailable, match="ServiceUnavailable"):
        provider.application("cas-1")


def test_an_unreachable_service_is_unavailable(cas: CasEndpoint, clock: FixedClock) -> None:
    with CasEndpoint() as gone:
        endpoint = gone.endpoint
    provider = provider_for(cas, clock, endpoint=endpoint)

    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        provider.list_instances()


def test_a_refusal_carries_the_service_code_and_message(cas: CasEndpoint, provider: AlibabaCasProvider) -> None:
    cas.add_instance("cas-ov", exact=1)

    with pytest.raises(ProviderError) as refused:
        submit(provider, "cas-ov", "a.example.com", "b.example.com")

    assert type(refused.value) is ProviderError
    assert "InvalidParameter.DomainCount: The instance binds 1 exact and 0 wildcard" in str(refused.value)
    assert "request id" in str(refused.value)


def test_a_wrong_access_key_is_a_refusal_not_an_unknown_instance(cas: CasEndpoint, clock: FixedClock) -> None:
    cas.add_instance("cas-1")
    provider = provider_for(cas, clock, access_key_id="LTAI-someone-else")

    with pytest.raises(ProviderError, match=r"InvalidAccessKeyId\.NotFound") as refused:
        provider.application("cas-1")
    assert type(refused.value) is ProviderError


def test_unknown_instances_are_not_found(provider: AlibabaCasProvider, cas: CasEndpoint) -> None:
    domains = names("shop.example.com")
    with pytest.raises(NotFound, match="cas-nope"):
        provider.application("cas-nope")
    with pytest.raises(NotFound):
        provider.submit(request_for("cas-nope", domains, ValidationMethod.DNS), domains, csr_for(domains))
    assert "UpdateInstance" not in cas.actions()


def test_missing_credentials_are_a_refusal_before_any_request(cas: CasEndpoint, clock: FixedClock) -> None:
    provider = provider_for(cas, clock, access_key_secret="")

    with pytest.raises(ProviderError, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        provider.list_instances()
    assert cas.calls == []


def test_an_endpoint_url_sets_the_protocol(cas: CasEndpoint, clock: FixedClock) -> None:
    cas.add_instance("cas-1")
    provider = provider_for(cas, clock, endpoint=f"http://{cas.endpoint}", protocol="https")

    assert [i.id for i in provider.list_instances()] == ["cas-1"]
