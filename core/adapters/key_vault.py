"""Private keys generated for users (A7), kept as unencrypted PKCS8 PEM files readable by the owner only.

Also home to the X.509 name helpers the sandbox CA shares, so a CSR and the certificate issued for it
spell the domains the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from filelock import FileLock

from core.adapters.files import atomic_write_bytes
from core.errors import StoreCorrupted
from core.model import DomainName, KeyAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_RSA_BITS = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_SAFE_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
_CN_MAX = 64  # RFC 5280 upper bound for commonName


def generate_key(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm is KeyAlgorithm.ECC_256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[algorithm])


def key_algorithm_of(public_key: object) -> KeyAlgorithm | None:
    """The KeyAlgorithm a public key is, or None when certops does not support it."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return next((alg for alg, bits in _RSA_BITS.items() if bits == public_key.key_size), None)
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return KeyAlgorithm.ECC_256
    return None


def subject_for(domains: Sequence[DomainName]) -> x509.Name:
    """CN = the first domain's ASCII form; an empty subject when it is too long for a CN (SAN carries it)."""
    if not domains or len(domains[0].ascii) > _CN_MAX:
        return x509.Name([])
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0].ascii)])


def san_for(domains: Sequence[DomainName]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(d.ascii)) if d.ip else x509.DNSName(d.ascii) for d in domains
    ]
    return x509.SubjectAlternativeName(names)


def san_is_critical(subject: x509.Name) -> bool:
    # RFC 5280 §4.2.1.6: with an empty subject the SAN extension must be critical.
    return len(subject) == 0


def build_csr(key: PrivateKey, domains: Sequence[DomainName]) -> str:
    if not domains:
        raise ValueError("a CSR needs at least one domain")
    subject = subject_for(domains)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(san_for(domains), critical=san_is_critical(subject))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


class FileKeyVault:
    """Keys at `directory/<key_id>.key.pem` (mode 0600) in a directory created with mode 0700."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def create_key_and_csr(self, key_id: str, algorithm: KeyAlgorithm, domains: Sequence[DomainName]) -> str:
        """A CSR for the key `key_id`, generating the key first if there is none yet.

        Raises ValueError for an unsafe key_id, or when the existing key is not `algorithm`.
        """
        path = self._path(key_id)
        self._ensure_directory()
        # Two processes creating the same key must not each return a CSR for a key the other overwrote.
        with FileLock(self.directory / ".keys.lock"):
            key = self._load(path) if path.exists() else self._create(path, algorithm)
        existing = key_algorithm_of(key.public_key())
        if existing is not algorithm:
            raise ValueError(f"key {key_id!r} exists as {existing}, not {algorithm}; use a new key id")
        return build_csr(key, domains)

    def private_key_pem(self, key_id: str) -> bytes | None:
        path = self._path(key_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _path(self, key_id: str) -> Path:
        if not _SAFE_KEY_ID.fullmatch(key_id):
            raise ValueError(
                f"unsafe key id {key_id!r}: use letters, digits and . _ : @ + - (no path separators), "
                "starting with a letter or digit, at most 128 characters"
            )
        return self.directory / f"{key_id}.key.pem"

    def _ensure_directory(self) -> None:
        if not self.directory.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # mkdir's mode is filtered by the umask

    @staticmethod
    def _create(path: Path, algorithm: KeyAlgorithm) -> PrivateKey:
        key = generate_key(algorithm)
        atomic_write_bytes(path, private_key_bytes(key), mode=0o600)
        return key

    @staticmethod
    def _load(path: Path) -> PrivateKey:
        return load_private_key(path)


def load_private_key(path: Path) -> PrivateKey:
    """An RSA or EC private key from an unencrypted PEM file; StoreCorrupted when it is anything else."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise StoreCorrupted(f"{path} is not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise StoreCorrupted(f"{path} holds a {type(key).__name__}, not an RSA or EC key")
    return key


def private_key_bytes(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
