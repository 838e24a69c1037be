"""The sandbox CA against real files: setup, instances, combining, applications, review and issuance."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from core.adapters.clock import FixedClock
from core.adapters.key_vault import FileKeyVault
from core.adapters.sandbox_ca import SandboxCA
from core.errors import NotFound, NotInitialised, ProviderError, StoreCorrupted
from core.model import (
    ApplicationRequest,
    CertType,
    CheckStatus,
    CombinePlan,
    CompanyProfile,
    Contact,
    DomainName,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    ProviderApplication,
    Quota,
    Stage,
    ValidationMethod,
)
from core.rules.combine import plan_combination
from core.rules.domains import parse_domain
from tests.conftest import InstanceFactory

REPO = Path(__file__).resolve().parents[2]
PUNYCODE = "xn--bcher-kva.example"  # bücher.example


# -- helpers -------------------------------------------------------------------------------------------------


def names(*raw: str) -> list[DomainName]:
    parsed = [parse_domain(text) for text in raw]
    assert all(isinstance(name, DomainName) for name in parsed), parsed
    return [name for name in parsed if isinstance(name, DomainName)]


def request(
    instance_id: str,
    domains: list[DomainName],
    method: ValidationMethod = ValidationMethod.DNS,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECC_256,
) -> ApplicationRequest:
    return ApplicationRequest(
        instance_id=instance_id,
        domains=[name.unicode for name in domains],
        company=CompanyProfile(
            name="Example Trading Ltd",
            phone="+86 10 6000 0000",
            address="1 Example Road, Beijing",
            registration_number="91110000MA00000000",
        ),
        contact=Contact(name="Li Lei", email="li.lei@example.com", phone="+86 138 0000 0000"),
        validation_method=method,
        key_algorithm=algorithm,
    )


def submit(
    ca: SandboxCA,
    vault: FileKeyVault,
    instance_id: str,
    *raw: str,
    method: ValidationMethod = ValidationMethod.DNS,
    algorithm: KeyAlgorithm = KeyAlgorithm.ECC_256,
) -> ProviderApplication:
    domains = names(*raw)
    csr = vault.create_key_and_csr(uuid.uuid4().hex, algorithm, domains)
    return ca.submit(request(instance_id, domains, method, algorithm), domains, csr)


def leaf_and_chain(application: ProviderApplication) -> tuple[x509.Certificate, list[x509.Certificate]]:
    assert application.certificate is not None
    leaf = x509.load_pem_x509_certificate(application.certificate.cert_pem.encode())
    chain = x509.load_pem_x509_certificates(application.certificate.chain_pem.encode())
    return leaf, chain


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca(tmp_path: Path, clock: FixedClock) -> SandboxCA:
    sandbox = SandboxCA(tmp_path / "sandbox-ca", clock)
    sandbox.init()
    return sandbox


@pytest.fixture
def vault(tmp_path: Path) -> FileKeyVault:
    return FileKeyVault(tmp_path / "keys")


@pytest.fixture
def pending(ca: SandboxCA, instance_factory: InstanceFactory) -> Instance:
    """An OV instance in pending application with room for 5 exact and 2 wildcard names."""
    instance = instance_factory(exact_quota=5, wildcard_quota=2)
    ca.add_instances([instance])
    return instance


# -- setup ---------------------------------------------------------------------------------------------------


def test_init_creates_the_ca_once_with_private_keys(tmp_path: Path, clock: FixedClock) -> None:
    sandbox = SandboxCA(tmp_path / "sandbox-ca", clock)

    assert sandbox.init() is True
    root_pem = sandbox.root_certificate_pem()
    assert sandbox.init() is False
    assert sandbox.root_certificate_pem() == root_pem

    directory = tmp_path / "sandbox-ca"
    assert mode(directory) == 0o700
    keys = sorted(directory.glob("*.key.pem"))
    assert len(keys) == 2
    assert all(mode(key) == 0o600 for key in keys)
    root = x509.load_pem_x509_certificate(root_pem.encode())
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "certops Sandbox Root CA"
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root_key = root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert root_key.curve.name == "secp384r1"
    assert root.not_valid_after_utc - root.not_valid_before_utc >= timedelta(days=3652)
    root.verify_directly_issued_by(root)


@pytest.mark.parametrize(
    "call",
    [
        lambda ca: ca.list_instances(),
        lambda ca: ca.activate("inst-001"),
        lambda ca: ca.application("inst-001"),
        lambda ca: ca.verify("inst-001"),
        lambda ca: ca.root_certificate_pem(),
    ],
)
def test_every_operation_needs_init(tmp_path: Path, clock: FixedClock, call: Callable[[SandboxCA], object]) -> None:
    with pytest.raises(NotInitialised, match="certops init"):
        call(SandboxCA(tmp_path / "nowhere", clock))


def test_corrupted_state_is_reported_not_replaced(ca: SandboxCA) -> None:
    (ca.directory / "state.json").write_text('{"instances": {"x": 1}}')

    with pytest.raises(StoreCorrupted, match=r"state\.json"):
        ca.list_instances()
    assert ca.init() is False
    assert (ca.directory / "state.json").read_text() == '{"instances": {"x": 1}}'


# -- instances -----------------------------------------------------------------------------------------------


def test_add_activate_and_list(ca: SandboxCA, instance_factory: InstanceFactory) -> None:
    second = instance_factory(id="inst-b", status=InstanceStatus.NOT_ACTIVATED)
    first = instance_factory(id="inst-a", status=InstanceStatus.NOT_ACTIVATED)

    ca.add_instances([second, first])
    ca.add_instances([first])  # the same record again changes nothing

    assert [instance.id for instance in ca.list_instances()] == ["inst-a", "inst-b"]
    activated = ca.activate("inst-a")
    assert activated.status is InstanceStatus.PENDING_APPLICATION
    assert ca.activate("inst-a") == activated
    assert {i.id: i.status for i in ca.list_instances()} == {
        "inst-a": InstanceStatus.PENDING_APPLICATION,
        "inst-b": InstanceStatus.NOT_ACTIVATED,
    }


def test_a_different_record_under_an_existing_id_is_refused(ca: SandboxCA, instance_factory: InstanceFactory) -> None:
    ca.add_instances([instance_factory(id="inst-a")])

    with pytest.raises(ProviderError, match="inst-a"):
        ca.add_instances([instance_factory(id="inst-new"), instance_factory(id="inst-a", exact_quota=9)])
    assert [instance.id for instance in ca.list_instances()] == ["inst-a"]


def test_activate_refuses_unknown_and_consumed_instances(ca: SandboxCA, instance_factory: InstanceFactory) -> None:
    ca.add_instances([instance_factory(id="gone", status=InstanceStatus.REFUNDED)])

    with pytest.raises(NotFound, match="missing"):
        ca.activate("missing")
    with pytest.raises(ProviderError, match="gone"):
        ca.activate("gone")


# -- combining -----------------------------------------------------------------------------------------------


@pytest.fixture
def three(ca: SandboxCA, instance_factory: InstanceFactory) -> list[Instance]:
    instances = [
        instance_factory(exact_quota=1, wildcard_quota=0),
        instance_factory(exact_quota=2, wildcard_quota=1, status=InstanceStatus.VALIDATION_FAILED),
        instance_factory(exact_quota=0, wildcard_quota=1),
    ]
    ca.add_instances(instances)
    return instances


def test_combine_creates_the_merged_instance_and_consumes_the_sources(ca: SandboxCA, three: list[Instance]) -> None:
    plan = plan_combination(three[0], three[1:], "view-1")

    combined = ca.combine(plan, "view-1")

    assert combined.id.startswith("cas-merge-")
    assert combined.name == plan.name
    assert (combined.brand, combined.cert_type) == ("DigiCert", CertType.OV)
    assert (combined.exact_quota, combined.wildcard_quota) == (3, 2)
    assert combined.status is InstanceStatus.PENDING_APPLICATION
    assert combined.validity_years == 1
    assert combined.refundable is False
    assert combined.merged_from == [instance.id for instance in three]
    listed = {instance.id: instance for instance in ca.list_instances()}
    assert listed[combined.id] == combined
    for source in three:
        assert listed[source.id].status is InstanceStatus.COMBINED
        assert listed[source.id].merged_into == combined.id
        assert listed[source.id].refundable is False


def test_repeating_a_combine_returns_the_same_instance_and_changes_nothing(
    ca: SandboxCA, three: list[Instance]
) -> None:
    plan = plan_combination(three[0], three[1:], "view-1")
    combined = ca.combine(plan, "view-1")
    state = (ca.directory / "state.json").read_bytes()

    assert ca.combine(plan, "view-1") == combined
    assert (ca.directory / "state.json").read_bytes() == state


def test_overlapping_combine_with_another_key_is_refused(ca: SandboxCA, three: list[Instance]) -> None:
    ca.combine(plan_combination(three[0], three[1:2], "view-1"), "view-1")
    state = (ca.directory / "state.json").read_bytes()
    stale = plan_combination(three[1], three[2:], "view-2")  # planned before view-1 consumed three[1]

    with pytest.raises(ProviderError, match=f"C8.*{three[1].id}"):
        ca.combine(stale, "view-2")
    assert (ca.directory / "state.json").read_bytes() == state


def test_combine_refuses_a_plan_that_does_not_add_up(ca: SandboxCA, three: list[Instance]) -> None:
    plan = plan_combination(three[0], three[1:], "view-1")
    inflated = plan.model_copy(update={"quota": Quota(exact=50, wildcard=2)})

    with pytest.raises(ProviderError, match="does not match"):
        ca.combine(inflated, "view-1")


def test_combine_refuses_what_the_rules_refuse(ca: SandboxCA, instance_factory: InstanceFactory) -> None:
    ov, dv = instance_factory(), instance_factory(cert_type=CertType.DV)
    ca.add_instances([ov, dv])
    plan = CombinePlan(
        current_id=ov.id,
        source_ids=[ov.id, dv.id],
        brand="DigiCert",
        cert_type=CertType.OV,
        quota=Quota(exact=2, wildcard=0),
        name="cas-merge-x",
    )

    with pytest.raises(ProviderError, match=r"C1.*C2"):
        ca.combine(plan, "view-1")


# -- applying ------------------------------------------------------------------------------------------------


def test_submit_with_dns_lists_a_txt_record_per_domain(ca: SandboxCA, vault: FileKeyVault, pending: Instance) -> None:
    application = submit(ca, vault, pending.id, "shop.example.com", "*.example.com")

    assert application.stage is Stage.DOMAIN_VERIFICATION
    rows = [(c.domain, c.method, c.record_type, c.location, c.status) for c in application.domain_checks]
    assert rows == [
        ("shop.example.com", ValidationMethod.DNS, "TXT", "_dnsauth.shop.example.com", CheckStatus.PENDING),
        ("*.example.com", ValidationMethod.DNS, "TXT", "_dnsauth.example.com", CheckStatus.PENDING),
    ]
    values = [check.value for check in application.domain_checks]
    assert len(set(values)) == 2 and all(len(value) >= 32 for value in values)
    assert (application.org_checks.email, application.org_checks.phone) == (CheckStatus.PENDING,) * 2
    assert ca.application(pending.id) == application
    assert ca.list_instances()[0].status is InstanceStatus.REVIEWING


def test_submit_with_http_lists_a_file_per_domain(ca: SandboxCA, vault: FileKeyVault, pending: Instance) -> None:
    application = submit(ca, vault, pending.id, "shop.example.com", "192.0.2.7", method=ValidationMethod.HTTP)

    for check, host in zip(application.domain_checks, ["shop.example.com", "192.0.2.7"], strict=True):
        assert (check.method, check.record_type) == (ValidationMethod.HTTP, "FILE")
        assert check.location.startswith(f"http://{host}/.well-known/pki-validation/")
        assert check.location.endswith(".txt")
        assert check.value


def test_only_one_application_at_a_time(ca: SandboxCA, vault: FileKeyVault, pending: Instance) -> None:
    submit(ca, vault, pending.id, "shop.example.com")

    with pytest.raises(ProviderError, match=f"{pending.id}.*in progress"):
        submit(ca, vault, pending.id, "shop.example.com")


def test_submit_refuses_unready_instances_and_bad_csrs(
    ca: SandboxCA, vault: FileKeyVault, instance_factory: InstanceFactory
) -> None:
    asleep = instance_factory(id="asleep", status=InstanceStatus.NOT_ACTIVATED)
    ca.add_instances([asleep, instance_factory(id="ok")])

    with pytest.raises(ProviderError, match=r"asleep.*activate"):
        submit(ca, vault, "asleep", "shop.example.com")
    with pytest.raises(NotFound, match="nobody"):
        submit(ca, vault, "nobody", "shop.example.com")
    csr = vault.create_key_and_csr("other", KeyAlgorithm.ECC_256, names("other.example.com"))
    domains = names("shop.example.com")
    with pytest.raises(ProviderError, match=r"ok.*shop\.example\.com"):
        ca.submit(request("ok", domains), domains, csr)
    assert ca.application("ok") is None


# -- review --------------------------------------------------------------------------------------------------


def test_verifying_one_check_at_a_time_walks_the_stages(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance, clock: FixedClock
) -> None:
    submit(ca, vault, pending.id, "shop.example.com", "api.example.com")

    assert ca.verify(pending.id, domain="shop.example.com").stage is Stage.DOMAIN_VERIFICATION
    assert ca.verify(pending.id, domain="shop.example.com").stage is Stage.DOMAIN_VERIFICATION  # a repeat
    assert ca.verify(pending.id, domain="API.Example.com").stage is Stage.ORGANISATION_VERIFICATION
    assert ca.verify(pending.id, email=True).stage is Stage.ORGANISATION_VERIFICATION
    issued = ca.verify(pending.id, phone=True)

    assert issued.stage is Stage.ISSUED
    assert issued.certificate is not None
    assert ca.application(pending.id) == issued
    instance = ca.list_instances()[0]
    assert instance.status is InstanceStatus.ISSUED
    today = clock.now().date()
    assert (instance.service_start, instance.service_end) == (today, today.replace(year=today.year + 1))


def test_verify_refuses_unknown_domains_and_closed_applications(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance
) -> None:
    with pytest.raises(ProviderError, match="no application"):
        ca.verify(pending.id)
    submit(ca, vault, pending.id, "shop.example.com", "api.example.com")

    with pytest.raises(ProviderError, match=re.escape("it binds shop.example.com, api.example.com")):
        ca.verify(pending.id, domain="www.example.com")
    ca.verify(pending.id)
    with pytest.raises(ProviderError, match="issued"):
        ca.verify(pending.id)


def test_dv_needs_no_organisation_verification(
    ca: SandboxCA, vault: FileKeyVault, instance_factory: InstanceFactory
) -> None:
    dv = instance_factory(cert_type=CertType.DV)
    ca.add_instances([dv])
    application = submit(ca, vault, dv.id, "shop.example.com")

    assert (application.org_checks.email, application.org_checks.phone) == (CheckStatus.PASSED,) * 2
    assert ca.verify(dv.id, domain="shop.example.com").stage is Stage.ISSUED


def test_rejected_application_can_be_fixed_and_resubmitted(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance
) -> None:
    first = submit(ca, vault, pending.id, "shop.example.com")
    with pytest.raises(ValueError):
        ca.reject(pending.id, "  ")

    rejected = ca.reject(pending.id, "Company name does not match the business licence")

    assert rejected.stage is Stage.REJECTED
    assert rejected.rejection_reason == "Company name does not match the business licence"
    assert ca.list_instances()[0].status is InstanceStatus.VALIDATION_FAILED
    with pytest.raises(ProviderError, match="rejected"):
        ca.reject(pending.id, "again")

    second = submit(ca, vault, pending.id, "shop.example.com")
    assert second.stage is Stage.DOMAIN_VERIFICATION
    assert second.domain_checks[0].value != first.domain_checks[0].value
    assert ca.list_instances()[0].status is InstanceStatus.REVIEWING
    assert ca.verify(pending.id).stage is Stage.ISSUED


# -- issuance ------------------------------------------------------------------------------------------------


def test_issued_certificate_names_exactly_the_domains_and_chains_to_the_root(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance, clock: FixedClock
) -> None:
    bound = ["shop.example.com", "*.example.com", "bücher.example", "192.0.2.7"]
    submit(ca, vault, pending.id, *bound)

    issued = ca.verify(pending.id)
    leaf, chain = leaf_and_chain(issued)

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["shop.example.com", "*.example.com", PUNYCODE]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.7")]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "shop.example.com"
    assert issued.certificate is not None
    assert issued.certificate.sans == ["shop.example.com", "*.example.com", PUNYCODE, "192.0.2.7"]
    assert issued.certificate.serial == format(leaf.serial_number, "x")

    intermediate, root = chain
    assert root == x509.load_pem_x509_certificate(ca.root_certificate_pem().encode())
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0

    store = Store([root])
    for host in ["shop.example.com", "www.example.com", PUNYCODE]:
        verifier = PolicyBuilder().store(store).time(clock.now()).build_server_verifier(x509.DNSName(host))
        assert verifier.verify(leaf, [intermediate])[-1] == root
    ip_verifier = (
        PolicyBuilder()
        .store(store)
        .time(clock.now())
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("192.0.2.7")))
    )
    ip_verifier.verify(leaf, [intermediate])


def test_lifetime_follows_a10_on_the_issue_date(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance, clock: FixedClock
) -> None:
    submit(ca, vault, pending.id, "shop.example.com")
    leaf, _ = leaf_and_chain(ca.verify(pending.id))

    assert leaf.not_valid_before_utc == clock.now()
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=200, seconds=-1)


def test_lifetime_is_100_days_from_march_2027(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance, clock: FixedClock
) -> None:
    submit(ca, vault, pending.id, "shop.example.com")
    clock.set(datetime(2027, 4, 1, 9, 30, 15, 123456, tzinfo=UTC))

    issued = ca.verify(pending.id)
    leaf, _ = leaf_and_chain(issued)

    assert issued.certificate is not None
    whole_second = datetime(2027, 4, 1, 9, 30, 15, tzinfo=UTC)
    assert issued.certificate.not_before == leaf.not_valid_before_utc == whole_second
    assert issued.certificate.not_after - issued.certificate.not_before == timedelta(days=100, seconds=-1)
    assert leaf.not_valid_after_utc == issued.certificate.not_after


@pytest.mark.parametrize(
    ("algorithm", "key_type", "encipherment"),
    [
        (KeyAlgorithm.ECC_256, ec.EllipticCurvePublicKey, False),
        (KeyAlgorithm.RSA_2048, rsa.RSAPublicKey, True),
        pytest.param(KeyAlgorithm.RSA_4096, rsa.RSAPublicKey, True, marks=pytest.mark.slow),
    ],
)
def test_certificate_carries_the_csr_key(
    ca: SandboxCA,
    vault: FileKeyVault,
    pending: Instance,
    algorithm: KeyAlgorithm,
    key_type: type,
    encipherment: bool,
) -> None:
    submit(ca, vault, pending.id, "shop.example.com", algorithm=algorithm)
    issued = ca.verify(pending.id)
    leaf, _ = leaf_and_chain(issued)

    assert issued.certificate is not None
    assert issued.certificate.key_algorithm is algorithm
    assert isinstance(leaf.public_key(), key_type)
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment is encipherment
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_state_survives_a_new_sandbox_object(
    ca: SandboxCA, vault: FileKeyVault, pending: Instance, clock: FixedClock
) -> None:
    submit(ca, vault, pending.id, "shop.example.com")
    issued = ca.verify(pending.id)

    reopened = SandboxCA(ca.directory, clock)

    assert reopened.init() is False
    assert reopened.application(pending.id) == issued
    assert reopened.list_instances() == ca.list_instances()
    assert reopened.root_certificate_pem() == ca.root_certificate_pem()


# -- several processes ---------------------------------------------------------------------------------------

_VERIFIER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from core.adapters.clock import FixedClock
from core.adapters.sandbox_ca import SandboxCA

directory, instance_id, ready, go, *checks = sys.argv[1:]
ca = SandboxCA(Path(directory), FixedClock(datetime(2026, 12, 7, 2, tzinfo=UTC)))
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.005)
for check in checks:
    if check in ("email", "phone"):
        ca.verify(instance_id, **{check: True})
    else:
        ca.verify(instance_id, domain=check)
"""


@pytest.mark.slow
def test_two_processes_verifying_at_once_lose_no_update(
    ca: SandboxCA, vault: FileKeyVault, instance_factory: InstanceFactory, tmp_path: Path
) -> None:
    instance = instance_factory(exact_quota=24)
    ca.add_instances([instance])
    domains = [f"host{i}.example.com" for i in range(24)]
    submit(ca, vault, instance.id, *domains)
    go, readies = tmp_path / "go", [tmp_path / "ready-a", tmp_path / "ready-b"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    halves = [[*domains[0::2], "email"], [*domains[1::2], "phone"]]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _VERIFIER, str(ca.directory), instance.id, str(ready), str(go), *half],
            cwd=REPO,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready, half in zip(readies, halves, strict=True)
    ]
    deadline = time.monotonic() + 30
    while not all(ready.exists() for ready in readies) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both interpreters are up: start them together so their verify calls overlap
    errors = [process.communicate(timeout=60)[1] for process in processes]

    assert [process.returncode for process in processes] == [0, 0], errors
    application = ca.application(instance.id)
    assert application is not None
    assert all(check.status is CheckStatus.PASSED for check in application.domain_checks)
    assert application.stage is Stage.ISSUED
    assert application.certificate is not None and application.certificate.sans == domains
    json.loads((ca.directory / "state.json").read_text())
