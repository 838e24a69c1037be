"""A7 for uploaded CSRs: the key is strong enough, matches the chosen algorithm, and names exactly the bound domains.

Parsing a CSR with `cryptography` is computation only, so it belongs with the rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from core.model import DomainName, KeyAlgorithm, Reason
from core.rules.domains import reason

_RSA_SIZES: dict[KeyAlgorithm, int] = {
    KeyAlgorithm.RSA_2048: 2048,
    KeyAlgorithm.RSA_3072: 3072,
    KeyAlgorithm.RSA_4096: 4096,
}


def _key_problem(public_key: object, key_algorithm: KeyAlgorithm) -> str | None:
    """What is wrong with the CSR's key, as a sentence tail saying what to do, or None."""
    if isinstance(public_key, rsa.RSAPublicKey):
        size = public_key.key_size
        if size < 2048:
            return f"has an RSA {size}-bit key, which is too weak; generate a key of at least 2048 bits"
        if _RSA_SIZES.get(key_algorithm) != size:
            return (
                f"has an RSA {size}-bit key but the key algorithm chosen is {key_algorithm}; "
                "choose the algorithm that matches the key"
            )
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        if curve != "secp256r1":
            return f"has an EC key on curve {curve} and only P-256 is accepted; generate a P-256 key"
        if key_algorithm is not KeyAlgorithm.ECC_256:
            return f"has an ECC P-256 key but the key algorithm chosen is {key_algorithm}; choose ECC_256"
        return None
    return (
        f"has a {type(public_key).__name__} key and only RSA (2048 bits or more) and ECC P-256 keys are "
        "accepted; generate one of those"
    )


def _normalise_csr_name(name: str) -> str:
    text = name.strip().lower()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def _csr_names(csr: x509.CertificateSigningRequest) -> set[str]:
    names: set[str] = set()
    for attribute in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attribute.value
        names.add(_normalise_csr_name(value if isinstance(value, str) else value.decode("utf-8", "replace")))
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    names.update(_normalise_csr_name(dns) for dns in san.get_values_for_type(x509.DNSName))
    names.update(address.compressed for address in san.get_values_for_type(x509.IPAddress))
    return names


def csr_reasons(
    csr_pem: str, domains: Sequence[DomainName], key_algorithm: KeyAlgorithm, *, subject: str = "CSR"
) -> list[Reason]:
    """A7: an uploaded CSR must parse, carry a valid signature and an accepted key of `key_algorithm`,
    and name exactly the bound domains (CN and SANs against the ASCII forms).

    `subject` is whose CSR it is (application_reasons passes the instance id); it is the subject of
    reasons about the CSR as a whole, while a missing or extra name is the subject of its own reason.
    """
    ref = f"the uploaded CSR for {subject}"
    lead = f"The uploaded CSR for {subject}"
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
    except ValueError as exc:
        message = (
            f"{lead} cannot be read ({exc}); upload a PEM certificate signing request "
            "that starts with -----BEGIN CERTIFICATE REQUEST-----."
        )
        return [reason("A7", subject, message)]
    reasons: list[Reason] = []
    try:
        signature_ok = csr.is_signature_valid
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        signature_ok = False
    if not signature_ok:
        message = f"{lead} has an invalid signature; create it again with its private key."
        reasons.append(reason("A7", subject, message))
    try:
        key_problem = _key_problem(csr.public_key(), key_algorithm)
    except (UnsupportedAlgorithm, ValueError):
        key_problem = "has a key of an unsupported type; generate an RSA (2048 bits or more) or ECC P-256 key"
    if key_problem:
        reasons.append(reason("A7", subject, f"{lead} {key_problem}, then upload a matching CSR."))
    try:
        in_csr = _csr_names(csr)
    except (ValueError, UnicodeError) as exc:
        message = f"{lead} has names that cannot be read ({exc}); create it again."
        reasons.append(reason("A7", subject, message))
        return reasons
    bound = {domain.ascii for domain in domains}
    for missing in sorted(bound - in_csr):
        message = (
            f"The domain {missing} is bound but missing from {ref}; add it to the CSR or remove it from the domains."
        )
        reasons.append(reason("A7", missing, message))
    for extra in sorted(in_csr - bound):
        message = f"{lead} names {extra}, which is not among the bound domains; bind it too or create a CSR without it."
        reasons.append(reason("A7", extra, message))
    return reasons


# ----------------------------------------------------------------------------------------------------
# Lifetime (A10)
