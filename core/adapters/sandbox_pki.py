"""The sandbox CA's X.509 work: creating the root and issuing CA, and signing leaf certificates with it.

The CA lives in the sandbox directory as four PEM files: the root and issuing CA certificates and their keys.
Key and name helpers shared with CSRs come from `key_vault`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.adapters.files import atomic_write_bytes
from core.adapters.key_vault import (
    key_algorithm_of,
    load_private_key,
    private_key_bytes,
    san_for,
    san_is_critical,
    subject_for,
)
from core.errors import ProviderError
from core.model import DomainName, IssuedCertificate
from core.rules.domains import max_lifetime_days

ROOT_NAME = "certops Sandbox Root CA"
ISSUING_NAME = "certops Sandbox Issuing CA 1"
ROOT_LIFETIME = timedelta(days=3653)  # 10 years
ISSUING_LIFETIME = timedelta(days=1827)  # 5 years

_ROOT_KEY = "root-ca.key.pem"
_ROOT_CERT = "root-ca.pem"
_ISSUING_KEY = "issuing-ca.key.pem"
_ISSUING_CERT = "issuing-ca.pem"
_CA_FILES = (_ROOT_KEY, _ROOT_CERT, _ISSUING_KEY, _ISSUING_CERT)


def missing_ca_files(directory: Path) -> list[str]:
    """The names of the CA's files that `directory` lacks, in a fixed order."""
    return [name for name in _CA_FILES if not (directory / name).exists()]


def root_certificate_pem(directory: Path) -> str:
    return (directory / _ROOT_CERT).read_text("ascii")


def create_ca(directory: Path, now: datetime) -> None:
    """A fresh root and issuing CA in `directory`, replacing any there."""
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _ca_certificate(ROOT_NAME, root_key, root_key, None, now, ROOT_LIFETIME, path_length=None)
    issuing_key = ec.generate_private_key(ec.SECP384R1())
    issuing = _ca_certificate(ISSUING_NAME, issuing_key, root_key, root, now, ISSUING_LIFETIME, path_length=0)
    atomic_write_bytes(directory / _ROOT_KEY, private_key_bytes(root_key), mode=0o600)
    atomic_write_bytes(directory / _ISSUING_KEY, private_key_bytes(issuing_key), mode=0o600)
    atomic_write_bytes(directory / _ROOT_CERT, _pem(root).encode("ascii"))
    atomic_write_bytes(directory / _ISSUING_CERT, _pem(issuing).encode("ascii"))


def sign_leaf(
    directory: Path, instance_id: str, domains: Sequence[DomainName], csr_pem: str, now: datetime
) -> IssuedCertificate:
    """A server certificate for the CSR's key and `domains`, signed by the issuing CA in `directory`."""
    issuer_key = load_private_key(directory / _ISSUING_KEY)
    issuer = _load_certificate(directory / _ISSUING_CERT)
    public_key = x509.load_pem_x509_csr(csr_pem.encode("ascii")).public_key()
    algorithm = key_algorithm_of(public_key)
    if algorithm is None:  # submit refuses such CSRs; this guards a hand-edited state file
        raise ProviderError(f"the CSR on instance {instance_id} has an unsupported key")
    not_before = now
    # A10: the Baseline Requirements count both notBefore and notAfter, so N days end one second early.
    not_after = not_before + timedelta(days=max_lifetime_days(not_before.date())) - timedelta(seconds=1)
    subject = subject_for(domains)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(isinstance(public_key, rsa.RSAPublicKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san_for(domains), critical=san_is_critical(subject))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
        .sign(issuer_key, hashes.SHA384())
    )
    return IssuedCertificate(
        serial=format(certificate.serial_number, "x"),
        not_before=not_before,
        not_after=not_after,
        sans=[domain.ascii for domain in domains],
        key_algorithm=algorithm,
        cert_pem=_pem(certificate),
        chain_pem=_pem(issuer) + root_certificate_pem(directory),
    )


def _ca_certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    signer_key: ec.EllipticCurvePrivateKey,
    signer: x509.Certificate | None,
    now: datetime,
    lifetime: timedelta,
    *,
    path_length: int | None,
) -> x509.Certificate:
    """A CA certificate for `key`, self-signed when `signer` is None."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certops"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.subject if signer else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if signer is not None:
        builder = builder.add_extension(_authority_key_id(signer), critical=False)
    return builder.sign(signer_key, hashes.SHA384())


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
