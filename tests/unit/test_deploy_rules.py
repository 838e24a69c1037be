"""V6: judging what a host serves (check_served, names_cover) and reading DOMAIN=HOST:PORT targets (parse_targets)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import InvalidInput
from core.model import DeployCheck, IssuedCertificate, KeyAlgorithm
from core.rules.deploy import check_served, names_cover, parse_targets, trust_anchor_pem

AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
ISSUED_SERIAL = 0x5EED0001
SANS = ["shop.example.com", "*.example.net", "192.0.2.7"]
MISSING_INTERMEDIATE = "certificate verify failed: unable to get local issuer certificate"


@cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    serial: int = ISSUED_SERIAL, sans: tuple[str, ...] = tuple(SANS), cn: str = "shop.example.com"
) -> bytes:
    """A DER certificate; self-signed, since these rules read it and never verify signatures."""
    names: list[x509.GeneralName] = []
    for name in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_key().public_key())
        .serial_number(serial)
        .not_valid_before(AT - timedelta(days=1))
        .not_valid_after(AT + timedelta(days=90))
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(_key(), hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def issued(serial: str = format(ISSUED_SERIAL, "x")) -> IssuedCertificate:
    pem = x509.load_der_x509_certificate(certificate()).public_bytes(serialization.Encoding.PEM).decode()
    return IssuedCertificate(
        serial=serial,
        not_before=AT - timedelta(days=1),
        not_after=AT + timedelta(days=90),
        sans=SANS,
        key_algorithm=KeyAlgorithm.ECC_256,
        cert_pem=pem,
        chain_pem=pem,
    )


def judge(
    served: bytes | None,
    *,
    domain: str = "shop.example.com",
    chain_valid: bool = True,
    error: str | None = None,
    serial: str = format(ISSUED_SERIAL, "x"),
) -> DeployCheck:
    return check_served(
        domain, "10.0.0.5", 443, issued(serial), served, chain_valid, error, AT, instance_id="cas-merge-1"
    )


# -- check_served ------------------------------------------------------------------------------------------------


def test_the_issued_certificate_with_a_verified_chain_passes() -> None:
    check = judge(certificate())
    assert check.ok and check.error is None
    assert check.served_serial == "5eed0001"
    assert (check.domain, check.host, check.port, check.checked_at) == ("shop.example.com", "10.0.0.5", 443, AT)


@pytest.mark.parametrize(
    "serial",
    ["5eed0001", "5EED0001", "005eed0001"],
    ids=["lowercase", "uppercase", "leading-zeros"],
)
def test_serials_compare_as_numbers(serial: str) -> None:
    assert judge(certificate(), serial=serial).serves_issued


@pytest.mark.parametrize(
    ("served", "chain_valid", "error", "flags", "expected"),
    [
        pytest.param(
            certificate(serial=0xBAD),
            False,
            "certificate verify failed: self-signed certificate",
            (False, True, False),
            "host serves serial bad, not the issued 5eed0001: install fullchain.pem from `certops export cas-merge-1`",
            id="another-certificate",
        ),
        pytest.param(
            certificate(),
            False,
            MISSING_INTERMEDIATE,
            (True, True, False),
            "chain does not verify to the issuing CA (the intermediate is missing): serve fullchain.pem, not cert.pem",
            id="leaf-without-intermediate",
        ),
        pytest.param(
            certificate(),
            False,
            "certificate verify failed: certificate has expired",
            (True, True, False),
            "chain does not verify to the issuing CA (certificate verify failed: certificate has expired): "
            "serve fullchain.pem, not cert.pem",
            id="chain-fails-otherwise",
        ),
        pytest.param(
            certificate(),
            False,
            None,
            (True, True, False),
            "chain does not verify to the issuing CA: serve fullchain.pem, not cert.pem",
            id="chain-fails-without-a-reason",
        ),
        pytest.param(
            certificate(serial=0xBAD, sans=("www.example.org",), cn="shop.example.com"),
            True,
            None,
            (False, False, True),
            "host serves serial bad, not the issued 5eed0001: install fullchain.pem from `certops export cas-merge-1`; "
            "served certificate does not name shop.example.com (it names www.example.org)",
            id="other-site-certificate",
        ),
        pytest.param(
            certificate(serial=0xBAD, sans=(), cn="shop.example.com"),
            True,
            None,
            (False, False, True),
            "host serves serial bad, not the issued 5eed0001: install fullchain.pem from `certops export cas-merge-1`; "
            "served certificate does not name shop.example.com (it has no subjectAltName names)",
            id="common-name-only-does-not-count",
        ),
    ],
)
def test_what_is_wrong_is_said_with_what_to_do(
    served: bytes, chain_valid: bool, error: str | None, flags: tuple[bool, bool, bool], expected: str
) -> None:
    check = judge(served, chain_valid=chain_valid, error=error)
    assert (check.serves_issued, check.names_match, check.chain_valid) == flags
    assert not check.ok
    assert check.error == expected


def test_a_long_name_list_is_shortened_in_the_message() -> None:
    others = tuple(f"host{n}.example.org" for n in range(8))
    check = judge(certificate(serial=0xBAD, sans=others))
    assert check.error is not None
    assert "(it names host0.example.org, host1.example.org, host2.example.org, host3.example.org, " in check.error
    assert "host4.example.org and 3 more)" in check.error


def test_no_handshake_passes_the_probe_error_on() -> None:
    check = judge(None, chain_valid=False, error="cannot connect to 10.0.0.5:443: Connection refused")
    assert not (check.serves_issued or check.names_match or check.chain_valid)
    assert check.served_serial is None
    assert check.error == "cannot connect to 10.0.0.5:443: Connection refused"


def test_an_unreadable_certificate_is_reported() -> None:
    check = judge(b"not a certificate", chain_valid=False)
    assert not check.ok
    assert check.error is not None
    assert check.error.startswith("10.0.0.5:443 presented a certificate that cannot be read")
    assert check.error.endswith("install fullchain.pem from `certops export cas-merge-1`")


def test_without_an_instance_the_export_hint_names_a_placeholder() -> None:
    check = check_served("shop.example.com", "h", 443, issued(), certificate(serial=2), True, None, AT)
    assert check.error is not None and check.error.endswith("`certops export INSTANCE`")


# -- names_cover -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "domain", "covered"),
    [
        (["shop.example.com"], "shop.example.com", True),
        (["SHOP.Example.com"], "shop.EXAMPLE.com", True),
        (["shop.example.com"], "shop.example.com.", True),
        (["*.example.com"], "shop.example.com", True),
        (["*.example.com"], "a.shop.example.com", False),
        (["*.example.com"], "example.com", False),
        (["*.com"], "example.com", False),
        (["*.example.com"], "*.example.com", True),
        (["shop.example.com", "www.example.com"], "*.example.com", False),
        (["*.example.org"], "*.example.com", False),
        (["example.com"], "www.example.com", False),
        (["192.0.2.7"], "192.0.2.7", True),
        (["2001:db8::7"], "2001:DB8:0:0:0:0:0:7", True),
        (["192.0.2.8"], "192.0.2.7", False),
        (["*.2.7"], "192.0.2.7", False),
        ([], "shop.example.com", False),
    ],
    ids=[
        "exact",
        "case-insensitive",
        "trailing-dot",
        "wildcard-one-label",
        "wildcard-not-two-labels",
        "wildcard-not-the-apex",
        "wildcard-not-directly-under-a-tld",
        "wildcard-domain-same-wildcard",
        "wildcard-domain-not-by-exact-names",
        "wildcard-domain-other-wildcard",
        "exact-covers-only-itself",
        "ip-exact",
        "ipv6-any-spelling",
        "ip-other",
        "ip-never-by-wildcard",
        "no-names",
    ],
)
def test_names_cover(names: list[str], domain: str, covered: bool) -> None:
    assert names_cover(names, domain) is covered


# -- parse_targets -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["shop.example.com=10.0.0.5:8443"], {"shop.example.com": ("10.0.0.5", 8443)}),
        (["Shop.Example.COM=web1.internal"], {"shop.example.com": ("web1.internal", 443)}),
        ([" *.example.net = lb.example.net:443 "], {"*.example.net": ("lb.example.net", 443)}),
        (["shop.example.com=[::1]:8443"], {"shop.example.com": ("::1", 8443)}),
        (["shop.example.com=[2001:db8::5]"], {"shop.example.com": ("2001:db8::5", 443)}),
        (["shop.example.com=2001:db8::5"], {"shop.example.com": ("2001:db8::5", 443)}),
        (["bücher.example.de=10.0.0.6"], {"bücher.example.de": ("10.0.0.6", 443)}),
        (
            ["b.example.com=h2:2", "a.example.com=h1:1"],
            {"b.example.com": ("h2", 2), "a.example.com": ("h1", 1)},
        ),
    ],
    ids=[
        "host-and-port",
        "default-port-and-lowercase",
        "spaces-and-wildcard",
        "ipv6-in-brackets",
        "ipv6-in-brackets-default-port",
        "bare-ipv6-default-port",
        "unicode-domain",
        "order-kept",
    ],
)
def test_parse_targets(pairs: list[str], expected: dict[str, tuple[str, int]]) -> None:
    targets = parse_targets(pairs)
    assert targets == expected
    assert list(targets) == list(expected)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["shop.example.com"], r"bad host 'shop\.example\.com': write DOMAIN=HOST:PORT"),
        (["=10.0.0.5:443"], r"bad host '=10\.0\.0\.5:443'"),
        (["shop.example.com="], r"bad host 'shop\.example\.com='"),
        (["a.example.com=h:0"], r"bad host 'a\.example\.com=h:0': the port must be a number from 1 to 65535"),
        (["a.example.com=h:65536"], r"not '65536'"),
        (["a.example.com=h:https"], r"not 'https'"),
        (["a.example.com=h:"], r"not ''"),
        (["a.example.com=[::1"], r"brackets hold an IPv6 address"),
        (["a.example.com=[10.0.0.5]:443"], r"brackets hold an IPv6 address"),
        (["a.example.com=[::1]443"], r"brackets hold an IPv6 address"),
        (["a.example.com=2001:db8::zz"], r"put an IPv6 address in brackets"),
        (["a.example.com=web 1:443"], r"'web 1' is not a host name or IP address"),
        (["a.example.com=h1", "A.example.com=h2"], r"a\.example\.com is given twice \(again in 'A\.example\.com=h2'\)"),
    ],
    ids=[
        "no-equals",
        "no-domain",
        "no-host",
        "port-zero",
        "port-too-high",
        "port-not-a-number",
        "port-empty",
        "unclosed-bracket",
        "ipv4-in-brackets",
        "junk-after-bracket",
        "bad-bare-ipv6",
        "space-in-host",
        "domain-twice",
    ],
)
def test_parse_targets_names_the_bad_pair(pairs: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_targets(pairs)


# -- trust anchor ------------------------------------------------------------------------------------------------


def test_the_trust_anchor_is_the_last_certificate_of_the_chain() -> None:
    first = x509.load_der_x509_certificate(certificate(serial=1)).public_bytes(serialization.Encoding.PEM).decode()
    last = x509.load_der_x509_certificate(certificate(serial=2)).public_bytes(serialization.Encoding.PEM).decode()
    assert trust_anchor_pem(first + last) == last


def test_an_empty_chain_has_no_trust_anchor() -> None:
    with pytest.raises(ValueError):
        trust_anchor_pem("")
