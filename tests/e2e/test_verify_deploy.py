"""V6 through the installed CLI: issue a certificate, serve it from loopback TLS servers, `certops verify-deploy`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.e2e.conftest import CONTACT, SAMPLE, Cli, domains_args
from tests.tls_servers import TlsServer, closed_port

INSTANCE = "cas-ov-1002"  # five exact names, pending application in the sample inventory
DOMAINS = ["shop.example.com", "api.example.com", "static.example.com"]


@dataclass(frozen=True)
class Issued:
    cli: Cli
    files: Path  # cert.pem, chain.pem, fullchain.pem, privkey.pem as `certops export` wrote them

    @property
    def serial(self) -> str:
        return format(x509.load_pem_x509_certificate((self.files / "cert.pem").read_bytes()).serial_number, "x")


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """A data directory where INSTANCE's certificate was issued by the sandbox CA, and its exported files."""
    root = tmp_path_factory.mktemp("verify-deploy")
    cli = Cli(root / "data")
    cli("init")
    cli("instances", "import", str(SAMPLE))
    cli("apply", INSTANCE, *domains_args(*DOMAINS), *CONTACT, "--key-algorithm", "ECC_256", "--actor", "U0ALICE")
    cli("sandbox", "verify", INSTANCE)
    cli("export", INSTANCE, "--out", str(root / "export"))
    return Issued(cli, root / "export")


@pytest.fixture(scope="module")
def fullchain(issued: Issued) -> Iterator[TlsServer]:
    with TlsServer(issued.files / "fullchain.pem", issued.files / "privkey.pem") as server:
        yield server


@pytest.fixture(scope="module")
def leaf_only(issued: Issued) -> Iterator[TlsServer]:
    with TlsServer(issued.files / "cert.pem", issued.files / "privkey.pem") as server:
        yield server


def test_verify_deploy_passes_only_when_every_host_serves_the_certificate(
    issued: Issued, fullchain: TlsServer, leaf_only: TlsServer
) -> None:
    certops = issued.cli
    good = certops("verify-deploy", INSTANCE, "--host", f"shop.example.com=127.0.0.1:{fullchain.port}")
    assert good.stdout.splitlines() == [
        f"OK    shop.example.com at 127.0.0.1:{fullchain.port}: serves the issued certificate "
        f"(serial {issued.serial}), chain verified",
        "1 of 1 host(s) serve the issued certificate correctly.",
    ]

    closed = closed_port()
    hosts = [
        f"--host=shop.example.com=127.0.0.1:{fullchain.port}",
        f"--host=api.example.com=127.0.0.1:{leaf_only.port}",
        f"--host=static.example.com=127.0.0.1:{closed}",
    ]
    bad = certops("verify-deploy", INSTANCE, *hosts, "--timeout", "2", check=False)
    assert (bad.returncode, bad.stderr) == (1, "")
    lines = bad.stdout.splitlines()
    assert lines[0].startswith("OK    shop.example.com")
    assert lines[1] == (
        f"FAIL  api.example.com at 127.0.0.1:{leaf_only.port}: chain does not verify to the issuing CA "
        "(the intermediate is missing): serve fullchain.pem, not cert.pem"
    )
    assert lines[2].startswith(f"FAIL  static.example.com at 127.0.0.1:{closed}: cannot connect to 127.0.0.1:{closed}")
    assert lines[3:] == ["1 of 3 host(s) serve the issued certificate correctly."]

    report = json.loads(certops("verify-deploy", INSTANCE, *hosts, "--json", check=False).stdout)
    assert report["instance"] == INSTANCE and report["ok"] is False
    assert [(c["domain"], c["ok"], c["chain_valid"]) for c in report["checks"]] == [
        ("shop.example.com", True, True),
        ("api.example.com", False, False),
        ("static.example.com", False, False),
    ]
    rows = certops.json("status", INSTANCE)["application"]["deployments"]
    assert [(row["domain"], row["last_check"]["chain_valid"]) for row in rows] == [
        ("shop.example.com", True),
        ("api.example.com", False),
        ("static.example.com", False),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "mail.example.com=127.0.0.1:443"], "certops: mail.example.com is not a domain of application "),
        (["--host", "shop.example.com=127.0.0.1:99999"], "certops: bad host 'shop.example.com=127.0.0.1:99999': "),
        (["--host", "shop.example.com=127.0.0.1:443", "--timeout", "0"], "usage: certops verify-deploy "),
    ],
    ids=["unknown-domain", "bad-port", "bad-timeout"],
)
def test_verify_deploy_refuses_bad_input_without_a_traceback(issued: Issued, args: list[str], message: str) -> None:
    refused = issued.cli("verify-deploy", INSTANCE, *args, check=False)
    assert refused.returncode in (1, 2)  # 2: argparse's own usage errors
    assert refused.stderr.startswith(message)
    assert "Traceback" not in refused.stderr
