"""V6 against real TLS servers on loopback: the prober, and verifying deployments of a sandbox-issued certificate."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest
from cryptography import x509

from bot.wiring import build_ports, sandbox_ca
from core.adapters.audit_log import JsonlAuditLog
from core.adapters.tinydb_store import LOCK_FILE, init_store
from core.adapters.tls_probe import SocketTlsProber
from core.config import Settings
from core.errors import CertopsError, InvalidInput
from core.model import ApplicationRequest, CompanyProfile, Contact, IssuedCertificate, KeyAlgorithm
from core.rules.deploy import trust_anchor_pem
from core.services.apply import apply
from core.services.context import Ports
from core.services.deploy import deployment_rows, mark_installed, verify_deployment
from core.services.instances import import_instances
from core.services.review import export_bundle, sync
from tests.tls_servers import LoopbackServer, TlsServer, closed_port, self_signed

INSTANCE = "cas-ov-2001"
DOMAINS = ["shop.example.com", "api.example.com", "*.example.net", "static.example.org"]
FAST = 2.0  # seconds: loopback answers at once, so a probe that waits this long has gone wrong


# -- an issued certificate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    data_dir: Path
    files: Path  # cert.pem, chain.pem, fullchain.pem, privkey.pem as `certops export` writes them
    certificate: IssuedCertificate

    @property
    def trust_pem(self) -> str:
        return trust_anchor_pem(self.certificate.chain_pem)


def _request() -> ApplicationRequest:
    return ApplicationRequest(
        instance_id=INSTANCE,
        domains=DOMAINS,
        company=CompanyProfile(
            name="Example Trading Ltd", phone="+86 571 8502 2088", address="969 West Wen Yi Road, Hangzhou",
            registration_number="91330100MA27XXXX1X",
        ),
        contact=Contact(name="Alice Chen", email="alice@example.com", phone="+86 138 0000 0000"),
        key_algorithm=KeyAlgorithm.ECC_256,
    )  # fmt: skip


def _stocked_ports(data_dir: Path) -> Ports:
    settings = Settings(data_dir=data_dir)
    init_store(data_dir)
    JsonlAuditLog(data_dir).init()
    ports = build_ports(settings)
    sandbox_ca(settings, ports.clock).init()
    record = {
        "id": INSTANCE, "name": "web-multi", "brand": "DigiCert", "cert_type": "OV",
        "status": "pending_application", "validity_years": 1, "exact_quota": 3, "wildcard_quota": 1,
    }  # fmt: skip
    import_instances(ports, [record], "setup")
    return ports


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """A certificate for DOMAINS issued by the sandbox CA (real clock: handshakes check validity dates)."""
    root = tmp_path_factory.mktemp("deploy")
    ports = _stocked_ports(root / "data")
    apply(ports, _request(), "U0ALICE")
    sandbox_ca(Settings(data_dir=root / "data"), ports.clock).verify(INSTANCE)
    sync(ports)
    files = root / "export"
    files.mkdir()
    for item in export_bundle(ports, INSTANCE):
        (files / item.name).write_bytes(item.content)
    with ports.unit_of_work(read_only=True) as uow:
        application = uow.applications.latest_for_instance(INSTANCE)
    assert application is not None and application.certificate is not None
    return Issued(root / "data", files, application.certificate)


@pytest.fixture
def ports(issued: Issued, tmp_path: Path) -> Ports:
    """Ports on a private copy of the issued data directory, so tests may record checks freely."""
    data_dir = tmp_path / "data"
    shutil.copytree(issued.data_dir, data_dir)
    return build_ports(Settings(data_dir=data_dir))


@pytest.fixture(scope="module")
def fullchain_server(issued: Issued) -> Iterator[TlsServer]:
    with TlsServer(issued.files / "fullchain.pem", issued.files / "privkey.pem") as server:
        yield server


@pytest.fixture(scope="module")
def leaf_only_server(issued: Issued) -> Iterator[TlsServer]:
    with TlsServer(issued.files / "cert.pem", issued.files / "privkey.pem") as server:
        yield server


@pytest.fixture(scope="module")
def other_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    cert, key = self_signed(tmp_path_factory.mktemp("other"), DOMAINS)
    with TlsServer(cert, key) as server:
        yield server


def _serial(der: bytes | None) -> str:
    assert der is not None
    return format(x509.load_der_x509_certificate(der).serial_number, "x")


# -- the prober ----------------------------------------------------------------------------------------------


def test_probe_of_a_host_serving_the_full_chain_verifies_it(issued: Issued, fullchain_server: TlsServer) -> None:
    der, chain_valid, error = SocketTlsProber().probe(
        fullchain_server.host, fullchain_server.port, "shop.example.com", issued.trust_pem
    )
    assert (chain_valid, error) == (True, None)
    assert _serial(der) == issued.certificate.serial


def test_probe_without_the_intermediate_still_returns_the_leaf(issued: Issued, leaf_only_server: TlsServer) -> None:
    der, chain_valid, error = SocketTlsProber().probe(
        leaf_only_server.host, leaf_only_server.port, "shop.example.com", issued.trust_pem
    )
    assert chain_valid is False
    assert error == "certificate verify failed: unable to get local issuer certificate"
    assert _serial(der) == issued.certificate.serial


def test_probe_of_a_foreign_certificate_returns_it_unverified(issued: Issued, other_server: TlsServer) -> None:
    der, chain_valid, error = SocketTlsProber().probe(
        other_server.host, other_server.port, "shop.example.com", issued.trust_pem
    )
    assert chain_valid is False
    assert error is not None and error.startswith("certificate verify failed: self")
    assert _serial(der) != issued.certificate.serial


@pytest.mark.parametrize(
    ("domain", "sent"),
    [
        ("shop.example.com", "shop.example.com"),
        ("*.example.net", "certops-check.example.net"),
        ("127.0.0.1", None),  # RFC 6066: SNI carries host names only
    ],
    ids=["exact-name", "wildcard-gets-a-concrete-label", "ip-address-sends-none"],
)
def test_probe_sends_the_domain_as_sni(
    issued: Issued, fullchain_server: TlsServer, domain: str, sent: str | None
) -> None:
    fullchain_server.server_names.clear()
    SocketTlsProber().probe(fullchain_server.host, fullchain_server.port, domain, issued.trust_pem)
    assert fullchain_server.server_names == [sent]


def test_probe_over_ipv6(issued: Issued) -> None:
    try:
        server = TlsServer(issued.files / "fullchain.pem", issued.files / "privkey.pem", host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with server:
        der, chain_valid, error = SocketTlsProber().probe("::1", server.port, "api.example.com", issued.trust_pem)
    assert (chain_valid, error) == (True, None)
    assert _serial(der) == issued.certificate.serial


def _not_tls(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def _silent(connection: socket.socket) -> None:
    connection.recv(4096)  # the ClientHello, never answered
    connection.recv(1)  # until the client gives up


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        (None, "cannot connect to 127.0.0.1:{port}: Connection refused"),
        (_not_tls, "TLS handshake with 127.0.0.1:{port} failed: "),
        (_silent, "TLS handshake with 127.0.0.1:{port} failed: no answer within 0.3 s"),
    ],
    ids=["closed-port", "not-tls", "no-answer"],
)
def test_probe_reports_failures_without_raising(
    issued: Issued, respond: Callable[[socket.socket], None] | None, expected: str
) -> None:
    prober = SocketTlsProber(timeout=0.3)
    if respond is None:
        port = closed_port()
        result = prober.probe("127.0.0.1", port, "shop.example.com", issued.trust_pem)
    else:
        with LoopbackServer(respond) as server:
            port = server.port
            result = prober.probe("127.0.0.1", port, "shop.example.com", issued.trust_pem)
    der, chain_valid, error = result
    assert (der, chain_valid) == (None, False)
    assert error is not None and error.startswith(expected.format(port=port))


def test_probe_of_an_unknown_host_name_reports_it(issued: Issued) -> None:
    der, chain_valid, error = SocketTlsProber(timeout=FAST).probe(
        "certops-no-such-host.invalid", 443, "shop.example.com", issued.trust_pem
    )
    assert (der, chain_valid) == (None, False)
    assert error is not None and error.startswith("cannot connect to certops-no-such-host.invalid:443: ")


# -- verifying a deployment ----------------------------------------------------------------------------------


def test_verify_deployment_judges_each_host_and_records_the_checks(
    issued: Issued,
    ports: Ports,
    fullchain_server: TlsServer,
    leaf_only_server: TlsServer,
    other_server: TlsServer,
) -> None:
    closed = closed_port()
    targets = {
        "shop.example.com": ("127.0.0.1", fullchain_server.port),
        "API.example.com": ("127.0.0.1", leaf_only_server.port),
        "*.example.net": ("127.0.0.1", other_server.port),
        "static.example.org": ("127.0.0.1", closed),
    }
    checks = verify_deployment(ports, SocketTlsProber(timeout=FAST), INSTANCE, targets)

    serial = issued.certificate.serial
    assert [c.domain for c in checks] == ["shop.example.com", "api.example.com", "*.example.net", "static.example.org"]
    assert [c.ok for c in checks] == [True, False, False, False]
    shop, api, net, static = checks
    assert (shop.served_serial, shop.error) == (serial, None)
    assert (api.serves_issued, api.names_match, api.chain_valid) == (True, True, False)
    assert api.error is not None and "serve fullchain.pem, not cert.pem" in api.error
    assert (net.serves_issued, net.names_match) == (False, True)
    assert net.error == (
        f"host serves serial {net.served_serial}, not the issued {serial}: "
        f"install fullchain.pem from `certops export {INSTANCE}`"
    )
    assert static.error is not None and static.error.startswith(f"cannot connect to 127.0.0.1:{closed}: ")

    with ports.unit_of_work(read_only=True) as uow:
        application = uow.applications.latest_for_instance(INSTANCE)
    assert application is not None
    assert [row.last_check for row in application.deployments] == checks


def test_a_new_check_keeps_who_marked_the_domain_installed(
    issued: Issued, ports: Ports, fullchain_server: TlsServer
) -> None:
    marked = mark_installed(ports, f"{INSTANCE}-a1", "shop.example.com", "U0BOB")
    again = mark_installed(ports, f"{INSTANCE}-a1", "SHOP.example.com", "U0CAROL")
    assert again.deployments == marked.deployments  # the first mark stands
    verify_deployment(
        ports, SocketTlsProber(timeout=FAST), INSTANCE, {"shop.example.com": ("127.0.0.1", fullchain_server.port)}
    )
    with ports.unit_of_work(read_only=True) as uow:
        application = uow.applications.get(f"{INSTANCE}-a1")
    assert application is not None
    rows = deployment_rows(application)
    assert [row.domain for row in rows] == DOMAINS
    shop = rows[0]
    assert shop.installed_by == "U0BOB" and shop.last_check is not None and shop.last_check.ok
    assert all(row.installed_by is None and row.last_check is None for row in rows[1:])
    audited = [e for e in ports.audit.entries() if e.action == "deploy.installed"]
    assert [(e.actor, e.details["domain"]) for e in audited] == [("U0BOB", "shop.example.com")]


class LockCheckingProber(SocketTlsProber):
    """Probes for real, after checking that nobody holds the store's write lock meanwhile."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(timeout=FAST)
        self.lock = filelock.FileLock(data_dir / LOCK_FILE, timeout=0)

    def probe(self, host: str, port: int, server_name: str, trust_pem: str) -> tuple[bytes | None, bool, str | None]:
        with self.lock:  # raises filelock.Timeout if the store is locked
            pass
        return super().probe(host, port, server_name, trust_pem)


def test_hosts_are_probed_without_holding_the_store_lock(
    issued: Issued, tmp_path: Path, ports: Ports, fullchain_server: TlsServer
) -> None:
    prober = LockCheckingProber(tmp_path / "data")
    checks = verify_deployment(ports, prober, INSTANCE, {"shop.example.com": ("127.0.0.1", fullchain_server.port)})
    assert [check.ok for check in checks] == [True]


def test_verify_deployment_refuses_a_domain_the_certificate_does_not_carry(ports: Ports) -> None:
    with pytest.raises(InvalidInput, match=r"mail\.example\.com is not a domain of .*: shop\.example\.com, "):
        verify_deployment(ports, SocketTlsProber(), INSTANCE, {"mail.example.com": ("127.0.0.1", 443)})


def test_mark_installed_refuses_a_domain_the_certificate_does_not_carry(ports: Ports) -> None:
    with pytest.raises(InvalidInput, match=r"www\.example\.org is not a domain"):
        mark_installed(ports, f"{INSTANCE}-a1", "www.example.org", "U0BOB")


def test_verify_deployment_before_issuance_names_the_stage(tmp_path: Path) -> None:
    ports = _stocked_ports(tmp_path / "data")
    apply(ports, _request(), "U0ALICE")
    with pytest.raises(CertopsError, match=r"no issued certificate .* stage domain_verification"):
        verify_deployment(ports, SocketTlsProber(), INSTANCE, {"shop.example.com": ("127.0.0.1", 443)})
