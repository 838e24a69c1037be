"""FileKeyVault against real files: key files, modes, CSR contents, key reuse."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from core.adapters.key_vault import FileKeyVault
from core.model import DomainName, KeyAlgorithm
from core.rules.csr import csr_reasons
from core.rules.domains import parse_domain


def names(*raw: str) -> list[DomainName]:
    parsed = [parse_domain(text) for text in raw]
    assert all(isinstance(name, DomainName) for name in parsed), parsed
    return [name for name in parsed if isinstance(name, DomainName)]


DOMAINS = names("shop.example.com", "*.example.com", "bücher.example", "192.0.2.10")


@pytest.fixture
def vault(tmp_path: Path) -> FileKeyVault:
    return FileKeyVault(tmp_path / "keys")


def load_csr(pem: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(pem.encode("ascii"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_file_is_pkcs8_pem_readable_by_owner_only(vault: FileKeyVault) -> None:
    vault.create_key_and_csr("app-1", KeyAlgorithm.ECC_256, DOMAINS)

    key_file = vault.directory / "app-1.key.pem"
    assert mode(vault.directory) == 0o700
    assert mode(key_file) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert vault.private_key_pem("app-1") == key_file.read_bytes()


def test_csr_names_every_domain_and_is_signed_by_the_stored_key(vault: FileKeyVault) -> None:
    csr = load_csr(vault.create_key_and_csr("app-1", KeyAlgorithm.ECC_256, DOMAINS))

    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name.ascii for name in DOMAINS[:3]]
    assert DOMAINS[2].ascii == "xn--bcher-kva.example"
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.10")]
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "shop.example.com"
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    stored = serialization.load_pem_private_key(vault.private_key_pem("app-1") or b"", password=None)
    assert csr.public_key() == stored.public_key()
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    assert csr_reasons(pem, DOMAINS, KeyAlgorithm.ECC_256) == []  # what the application rules accept (A7)


@pytest.mark.parametrize(
    ("algorithm", "bits"),
    [
        (KeyAlgorithm.RSA_2048, 2048),
        (KeyAlgorithm.RSA_3072, 3072),
        pytest.param(KeyAlgorithm.RSA_4096, 4096, marks=pytest.mark.slow),
    ],
)
def test_rsa_keys_have_the_requested_size(vault: FileKeyVault, algorithm: KeyAlgorithm, bits: int) -> None:
    key = load_csr(vault.create_key_and_csr("rsa", algorithm, DOMAINS[:1])).public_key()

    assert isinstance(key, rsa.RSAPublicKey)
    assert (key.key_size, key.public_numbers().e) == (bits, 65537)


def test_ecc_key_is_p256(vault: FileKeyVault) -> None:
    key = load_csr(vault.create_key_and_csr("ec", KeyAlgorithm.ECC_256, DOMAINS[:1])).public_key()

    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_same_key_id_reuses_the_key(vault: FileKeyVault) -> None:
    first = load_csr(vault.create_key_and_csr("app-1", KeyAlgorithm.ECC_256, DOMAINS))
    stored = vault.private_key_pem("app-1")
    second = load_csr(vault.create_key_and_csr("app-1", KeyAlgorithm.ECC_256, DOMAINS[:2]))

    assert vault.private_key_pem("app-1") == stored
    assert second.public_key() == first.public_key()
    assert len(second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == 2


def test_same_key_id_with_another_algorithm_is_refused(vault: FileKeyVault) -> None:
    vault.create_key_and_csr("app-1", KeyAlgorithm.ECC_256, DOMAINS)

    with pytest.raises(ValueError, match="app-1"):
        vault.create_key_and_csr("app-1", KeyAlgorithm.RSA_2048, DOMAINS)


def test_first_name_too_long_for_a_common_name_goes_in_the_san_only(vault: FileKeyVault) -> None:
    long_name = names(f"{'a' * 60}.{'b' * 60}.example.com")

    csr = load_csr(vault.create_key_and_csr("long", KeyAlgorithm.ECC_256, long_name))

    assert len(csr.subject) == 0
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == [long_name[0].ascii]


@pytest.mark.parametrize("key_id", ["../escape", "a/b", "a\\b", "", ".hidden", "x" * 129, "a\x00b"])
def test_unsafe_key_ids_are_refused(vault: FileKeyVault, key_id: str) -> None:
    with pytest.raises(ValueError, match="unsafe key id"):
        vault.create_key_and_csr(key_id, KeyAlgorithm.ECC_256, DOMAINS)
    with pytest.raises(ValueError, match="unsafe key id"):
        vault.private_key_pem(key_id)


def test_unknown_key_has_no_pem(vault: FileKeyVault) -> None:
    assert vault.private_key_pem("never-made") is None
