"""V6: whether a host serves the issued certificate, and the `DOMAIN=HOST:PORT` targets a person names.

Parsing the served certificate with `cryptography` is computation only, so it belongs with the rules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from core.errors import InvalidInput
from core.model import DeployCheck, IssuedCertificate

DEFAULT_PORT = 443
TARGET_FORM = "DOMAIN=HOST:PORT (e.g. shop.example.com=10.0.0.5:443 or shop.example.com=[2001:db8::5]:443)"

_HOST = re.compile(r"[A-Za-z0-9_.-]+")
# OpenSSL's words when the served chain stops short of the trust anchor: the intermediate is missing.
_MISSING_ISSUER = ("unable to get local issuer certificate", "unable to get issuer certificate")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_text(host: str, port: int) -> str:
    """host:port as people write it: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- checking what a host serves -------------------------------------------------------------------------------


def check_served(
    domain: str,
    host: str,
    port: int,
    issued: IssuedCertificate,
    served_der: bytes | None,
    chain_valid: bool,
    error: str | None,
    at: datetime,
    *,
    instance_id: str | None = None,
) -> DeployCheck:
    """Judge one handshake's outcome: `error` is the prober's, `instance_id` names the export to install."""
    check = DeployCheck(domain=domain, host=host, port=port, checked_at=at)
    if served_der is None:
        return check.model_copy(update={"error": error or f"{address_text(host, port)} presented no certificate"})
    try:
        served = x509.load_der_x509_certificate(served_der)
    except ValueError as exc:
        unreadable = f"{address_text(host, port)} presented a certificate that cannot be read ({exc})"
        return check.model_copy(update={"error": f"{unreadable}: {_install_hint(instance_id)}"})
    served_serial = format(served.serial_number, "x")
    serves_issued = served.serial_number == int(issued.serial, 16)
    names = served_names(served)
    names_match = names_cover(names, domain)
    problems: list[str] = []
    if not serves_issued:
        wrong = f"host serves serial {served_serial}, not the issued {issued.serial}"
        problems.append(f"{wrong}: {_install_hint(instance_id)}")
    if not names_match:
        named = f"it names {_listed(names)}" if names else "it has no subjectAltName names"
        problems.append(f"served certificate does not name {domain} ({named})")
    # With the wrong certificate installed its chain is beside the point: installing fullchain.pem fixes both.
    if serves_issued and not chain_valid:
        problems.append(_chain_problem(error))
    update = {
        "served_serial": served_serial,
        "serves_issued": serves_issued,
        "names_match": names_match,
        "chain_valid": chain_valid,
        "error": "; ".join(problems) or None,
    }
    return check.model_copy(update=update)


def _listed(names: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _chain_problem(error: str | None) -> str:
    if error and any(words in error for words in _MISSING_ISSUER):
        error = "the intermediate is missing"
    detail = f" ({error})" if error else ""
    return f"chain does not verify to the issuing CA{detail}: serve fullchain.pem, not cert.pem"


def _install_hint(instance_id: str | None) -> str:
    command = f"certops export {instance_id}" if instance_id else "certops export INSTANCE"
    return f"install fullchain.pem from `{command}`"


def served_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses in the subjectAltName; browsers ignore the CN, and so does this check."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns = [name.lower() for name in san.get_values_for_type(x509.DNSName)]
    ips = [address.compressed for address in san.get_values_for_type(x509.IPAddress)]
    return dns + ips


def names_cover(names: Sequence[str], domain: str) -> bool:
    """Whether certificate names cover a domain: exactly (case-insensitively), or by a wildcard standing for one
    label. A wildcard domain is covered only by the same wildcard; an IP address only by the same address."""
    wanted = _normal(domain)
    wanted_ip = _ip(wanted)
    if wanted_ip is not None:
        return any(_ip(name) == wanted_ip for name in names)
    present = {_normal(name) for name in names}
    if wanted in present:
        return True
    if wanted.startswith("*."):
        return False
    label, _, parent = wanted.partition(".")
    return bool(label) and "." in parent and f"*.{parent}" in present


def _normal(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _ip(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def trust_anchor_pem(chain_pem: str) -> str:
    """The last certificate of an issued chain (the root) as PEM: what a handshake must verify to.

    Raises ValueError when the chain holds no certificate."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    return chain[-1].public_bytes(serialization.Encoding.PEM).decode("ascii")


# -- targets ----------------------------------------------------------------------------------------------------


def parse_targets(pairs: Sequence[str]) -> dict[str, tuple[str, int]]:
    """`DOMAIN=HOST[:PORT]` pairs (port 443 when left out; IPv6 as `[::1]:443`) -> {domain: (host, port)}.

    Domains are lowercased and kept in the order given. Raises InvalidInput naming the bad pair."""
    targets: dict[str, tuple[str, int]] = {}
    for pair in pairs:
        domain, host, port = _parse_pair(pair)
        if domain in targets:
            raise InvalidInput(f"{domain} is given twice (again in {pair!r}); give each domain one host")
        targets[domain] = (host, port)
    return targets


def _parse_pair(pair: str) -> tuple[str, str, int]:
    domain, sep, address = pair.partition("=")
    domain, address = domain.strip().lower(), address.strip()
    if not sep or not domain or not address:
        raise InvalidInput(f"bad host {pair!r}: write {TARGET_FORM}")
    host, port_text = _split_address(address, pair)
    return domain, host, _port(port_text, pair)


def _split_address(address: str, pair: str) -> tuple[str, str | None]:
    if address.startswith("["):
        host, closed, rest = address[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")) or not isinstance(_ip(host), ipaddress.IPv6Address):
            raise InvalidInput(f"bad host {pair!r}: brackets hold an IPv6 address, as in [2001:db8::5]:443")
        return host, rest[1:] if rest else None
    if address.count(":") > 1:
        if _ip(address) is None:
            raise InvalidInput(f"bad host {pair!r}: put an IPv6 address in brackets, as in [2001:db8::5]:443")
        return address, None
    host, colon, port_text = address.partition(":")
    if not _HOST.fullmatch(host):
        raise InvalidInput(f"bad host {pair!r}: {host!r} is not a host name or IP address; write {TARGET_FORM}")
    return host, port_text if colon else None


def _port(text: str | None, pair: str) -> int:
    if text is None:
        return DEFAULT_PORT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"bad host {pair!r}: the port must be a number from 1 to 65535, not {text!r}")
    return int(text)
