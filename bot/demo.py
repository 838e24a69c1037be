"""`certops demo`: the owner's flow end to end on a sample inventory, through the real CLI commands."""

from __future__ import annotations

import shlex
import shutil
from datetime import timedelta
from importlib.resources import files
from pathlib import Path

from cryptography import x509

from core.adapters.clock import SystemClock
from core.adapters.sandbox_ca import SandboxCA
from core.config import Settings
from core.errors import CertopsError

MARKER = ".certops-demo"
ACTOR = "demo:alice"
COMBINED_WITH = ["cas-ov-1002", "cas-ov-1003"]
DOMAINS = [
    "*.example.com",
    "example.com",
    "shop.example.com",
    "*.example.net",
    "api.example.org",
    "bücher.example.de",
]


def _prepare(directory: Path) -> None:
    """The demo owns its directory: a previous demo run is cleared, anything else is left alone."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise CertopsError(
                f"{directory} exists and was not made by `certops demo`; choose another folder with --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by certops demo; removed and remade by the next demo run\n")


def _step(title: str, data_dir: Path, *argv: str, expect_failure: bool = False) -> None:
    from bot.cli import run

    print(f"\n== {title}")
    print("$ certops " + " ".join(shlex.quote(a) for a in argv))
    code = run(["--data-dir", str(data_dir), *argv])
    if (code != 0) != expect_failure:
        raise CertopsError(f"demo step failed: certops {' '.join(argv)} exited {code}")


def _show_certificate(out: Path, data_dir: Path) -> None:
    leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((out / "chain.pem").read_bytes())
    root = x509.load_pem_x509_certificate(
        SandboxCA(data_dir / "sandbox-ca", SystemClock()).root_certificate_pem().encode()
    )
    leaf.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(root)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc + timedelta(seconds=1)  # both ends count
    print("\n== The exported certificate, read back with cryptography")
    print(f"  subject   {leaf.subject.rfc4514_string()}")
    print(f"  issuer    {leaf.issuer.rfc4514_string()}")
    print(f"  SANs      {', '.join(str(v) for v in sans.get_values_for_type(x509.DNSName))}")
    print(
        f"  valid     {leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d} "
        f"({lifetime.days} days, CA/B Forum limit for this issue date, A10)"
    )
    print("  chain     leaf <- Sandbox Issuing CA 1 <- Sandbox Root CA: signatures verified")


def run_demo(directory: Path, settings: Settings) -> int:
    _prepare(directory)
    data = directory / "data"
    inventory = directory / "purchased-instances.json"
    inventory.write_bytes(files("bot").joinpath("sample_inventory.json").read_bytes())
    print(f"certops demo: sample data in {directory} (nothing outside it is touched)")
    _step("Set up the data directory and the sandbox CA", data, "init")
    _step("Import the purchased instances", data, "instances", "import", str(inventory), "--actor", ACTOR)
    _step("The DigiCert OV instances", data, "instances", "list", "--brand", "DigiCert", "--type", "OV")
    _step(
        "Activate an instance bought but not yet in the list",
        data,
        "instances",
        "activate",
        "cas-ov-1003",
        "--actor",
        ACTOR,
    )
    _step("What can be combined with cas-ov-1001?", data, "candidates", "cas-ov-1001")
    combine = ["combine", "cas-ov-1001", *[f"--with={i}" for i in COMBINED_WITH], "--actor", ACTOR]
    _step("Preview the combination", data, *combine, "--dry-run")
    _step("Combining without the refund waiver is refused", data, *combine, expect_failure=True)
    _step("Combine, confirming the waiver", data, *combine, "--accept-no-refund")
    merged = _merged_id(data)
    contact = [
        "--company",
        "Example Trading Ltd",
        "--company-phone",
        "+86 571 8502 2088",
        "--company-address",
        "969 West Wen Yi Road, Hangzhou",
        "--company-registration",
        "91330100MA27XXXX1X",
        "--contact-name",
        "Alice Chen",
        "--contact-email",
        "alice@example.com",
        "--contact-phone",
        "+86 138 0000 0000",
        "--actor",
        ACTOR,
    ]
    _step(
        "A bad domain list is refused with every rule it breaks",
        data,
        "apply",
        merged,
        "--domain",
        "*.*.example.com",
        "--domain",
        "shop.example.com",
        "--domain",
        "SHOP.example.com",
        *contact,
        expect_failure=True,
    )
    _step(
        "Apply for a hybrid certificate",
        data,
        "apply",
        merged,
        *[f"--domain={d}" for d in DOMAINS],
        "--key-algorithm",
        "RSA_2048",
        *contact,
    )
    _step("Status while the CA waits for the domain records", data, "status", merged)
    _step(
        "CA staff: the DNS record for *.example.com is seen",
        data,
        "sandbox",
        "verify",
        merged,
        "--domain",
        "*.example.com",
    )
    _step("CA staff: the contact answered the verification email", data, "sandbox", "verify", merged, "--email")
    _step("CA staff: every other check passes, so the sandbox issues", data, "sandbox", "verify", merged)
    _step("Status after issuance", data, "status", merged)
    out = directory / "export"
    _step("Export the certificate", data, "export", merged, "--out", str(out))
    _show_certificate(out, data)
    _step("Check the audit log", data, "audit", "verify")
    print(f"\nDone. The issued certificate and its key are in {out}.")
    return 0


def _merged_id(data: Path) -> str:
    from bot.wiring import build_ports
    from core.model import InstanceStatus
    from core.services.instances import list_instances

    ports = build_ports(Settings(data_dir=data))
    merged = [i for i in list_instances(ports, status=InstanceStatus.PENDING_APPLICATION) if i.merged_from]
    if len(merged) != 1:
        raise CertopsError("demo: expected exactly one combined instance")
    return merged[0].id
