"""The owner's whole flow through the installed CLI: combine → apply → verify → issue → export."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from core.rules.domains import max_lifetime_days
from tests.e2e.conftest import COMBINE_THREE, CONTACT, Cli, domains_args

DOMAINS = ["*.example.com", "example.com", "shop.example.com", "*.example.net", "bücher.example.de"]
EXPECTED_SANS = {
    "*.example.com",
    "example.com",
    "shop.example.com",
    "*.example.net",
    "xn--bcher-kva.example.de",
}


def _combine(cli: Cli) -> str:
    return str(cli.json(*COMBINE_THREE)["instance"]["id"])


@pytest.mark.parametrize(
    ("algorithm", "key_type", "bits"),
    [("ECC_256", ec.EllipticCurvePublicKey, 256), ("RSA_2048", rsa.RSAPublicKey, 2048)],
    ids=["ecc-256", "rsa-2048"],
)
def test_issued_certificate_matches_the_application(
    stocked: Cli, tmp_path: Path, algorithm: str, key_type: type, bits: int
) -> None:
    merged = _combine(stocked)
    applied = stocked.json(
        "apply", merged, *domains_args(*DOMAINS), *CONTACT, "--key-algorithm", algorithm, "--actor", "U0ALICE"
    )
    assert applied["stage"] == "domain_verification"
    assert {c["domain"] for c in applied["domain_checks"]} == EXPECTED_SANS
    assert all(c["location"] and c["value"] for c in applied["domain_checks"])

    stocked("sandbox", "verify", merged, "--domain", "*.example.com")
    assert stocked.json("status", merged)["application"]["stage"] == "domain_verification"
    stocked("sandbox", "verify", merged, "--email")
    stocked("sandbox", "verify", merged)
    status = stocked.json("status", merged)
    assert status["application"]["stage"] == "issued"
    assert status["instance"]["status"] == "issued"

    out = tmp_path / "export"
    stocked("export", merged, "--out", str(out))
    assert stat.S_IMODE((out / "privkey.pem").stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((out / "chain.pem").read_bytes())
    full = x509.load_pem_x509_certificates((out / "fullchain.pem").read_bytes())
    assert [c.serial_number for c in full] == [leaf.serial_number, *(c.serial_number for c in chain)]

    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == EXPECTED_SANS
    root = chain[-1]
    leaf.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    limit = timedelta(days=max_lifetime_days(datetime.now(UTC).date()))
    assert limit - timedelta(seconds=1) == lifetime  # A10 counts both ends inclusively

    public = leaf.public_key()
    assert isinstance(public, key_type) and public.key_size == bits
    key = serialization.load_pem_private_key((out / "privkey.pem").read_bytes(), password=None)
    assert key.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]

    assert "intact" in stocked("audit", "verify").stdout


def test_rejected_application_can_be_fixed_and_resubmitted(stocked: Cli) -> None:
    merged = _combine(stocked)
    stocked(
        "apply",
        merged,
        *domains_args("shop.example.com"),
        *CONTACT,
        "--key-algorithm",
        "ECC_256",
        "--actor",
        "U0ALICE",
    )
    again = stocked("apply", merged, *domains_args("shop.example.com"), *CONTACT, "--actor", "U0ALICE", check=False)
    assert again.returncode == 1 and "A8" in again.stderr
    stocked("sandbox", "reject", merged, "--reason", "Company name does not match the business licence")
    status = stocked.json("status", merged)
    assert status["application"]["stage"] == "rejected"
    assert status["instance"]["status"] == "validation_failed"
    assert "business licence" in status["application"]["rejection_reason"]
    second = stocked.json(
        "apply",
        merged,
        *domains_args("shop.example.com"),
        *CONTACT,
        "--key-algorithm",
        "ECC_256",
        "--actor",
        "U0ALICE",
    )
    assert second["id"].endswith("-a2")


def test_demo_ends_with_an_exported_certificate(tmp_path: Path, cli: Cli) -> None:
    done = cli("demo", "--dir", str(tmp_path / "demo"))
    assert "Combination Success" in done.stdout
    assert "signatures verified" in done.stdout
    assert (tmp_path / "demo" / "export" / "fullchain.pem").exists()
    rerun = cli("demo", "--dir", str(tmp_path / "demo"))
    assert rerun.returncode == 0
    foreign = tmp_path / "not-a-demo"
    foreign.mkdir()
    refused = cli("demo", "--dir", str(foreign), check=False)
    assert refused.returncode == 1 and "not made by" in refused.stderr
