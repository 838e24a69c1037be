"""Applying for a certificate: rules A1–A10 of docs/domain.md (domain names, quota, application form, CSR).

Pure functions. Uploaded CSRs are checked in `core.rules.csr`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import idna

from core.model import (
    Application,
    ApplicationRequest,
    CertType,
    DomainName,
    Instance,
    InstanceStatus,
    Reason,
    ValidationMethod,
)

MAX_NAMES = 250  # A9
MAX_NAME_LENGTH = 253  # A5
MAX_LABEL_LENGTH = 63  # A5
WWW_COMPLIMENTARY_BRANDS: frozenset[str] = frozenset({"digicert", "globalsign", "alibaba"})  # A6, casefolded

_LDH_LABEL = re.compile(r"[a-z0-9-]+")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_PHONE = re.compile(r"\+?[0-9 ()-]+")
_MIN_PHONE_DIGITS = 6
_MAX_PHONE_DIGITS = 20

# A10: (first issuance day of the period, maximum lifetime in days), newest first.
_LIFETIME_STEPS: tuple[tuple[date, int], ...] = (
    (date(2029, 3, 15), 47),
    (date(2027, 3, 15), 100),
    (date(2026, 3, 15), 200),
)
_LIFETIME_BEFORE_2026 = 398


def reason(rule: str, subject: str, message: str) -> Reason:
    return Reason(rule=rule, subject=subject, message=message)


# ----------------------------------------------------------------------------------------------------
# Names (A3, A5)


def _ascii_name_problem(name: str) -> str | None:
    """Why a lowercase ASCII name breaks A5, as a clause, or None when it is valid."""
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name)} characters long and a name may have at most {MAX_NAME_LENGTH}"
    labels = name.split(".")
    if len(labels) < 2:
        return "a name needs at least two labels, such as example.com"
    for label in labels:
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL_LENGTH:
            return f"the label '{label}' is longer than {MAX_LABEL_LENGTH} characters"
        if not _LDH_LABEL.fullmatch(label):
            return f"the label '{label}' may contain only letters, digits and hyphens"
        if label.startswith("-") or label.endswith("-"):
            return f"the label '{label}' starts or ends with a hyphen"
    if labels[-1].isdigit():
        return f"the top-level label '{labels[-1]}' is all digits"
    return None


def _label_forms(label: str) -> tuple[str, str]:
    """(ascii, unicode) of one label; raises idna.IDNAError or UnicodeError for an invalid IDN label."""
    if not label.isascii():
        ascii_label = idna.alabel(label).decode("ascii")
        return ascii_label, idna.ulabel(ascii_label)
    ascii_label = label.lower()
    if ascii_label.startswith("xn--"):
        return ascii_label, idna.ulabel(ascii_label)
    return ascii_label, ascii_label


def _name(text: str) -> tuple[str, str] | str:
    """(ascii, unicode) forms of a host name without wildcard, or the clause saying why it is invalid.

    Internationalised labels go through IDNA 2008 with the UTS #46 mapping (which also lowercases and maps
    ideographic full stops to dots); plain ASCII labels are only lowercased, and the result is checked by A5.
    """
    try:
        if not text.isascii():
            text = idna.uts46_remap(text, std3_rules=False, transitional=False)
        forms = [_label_forms(label) if label else ("", "") for label in text.split(".")]
    except (idna.IDNAError, UnicodeError) as exc:
        return f"it is not a valid internationalised domain name ({exc})"
    ascii_name = ".".join(a for a, _ in forms)
    problem = _ascii_name_problem(ascii_name)
    if problem:
        return problem
    return ascii_name, ".".join(u for _, u in forms)


def _ip(text: str) -> DomainName | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return DomainName(ascii=address.compressed, unicode=address.compressed, ip=True)


def _invalid(rule: str, shown: str, why: str) -> Reason:
    return reason(rule, shown, f"'{shown}' is not a valid domain name: {why}; correct it or remove it.")


def parse_domain(raw: str) -> DomainName | Reason:
    """One name as typed: an exact name, a wildcard (`*.example.com`) or an IP address; else a Reason."""
    text = raw.strip()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        message = "An empty domain name was entered; enter a name such as example.com or remove the entry."
        return reason("A5", text, message)
    ip = _ip(text)
    if ip is not None:
        return ip
    if text.startswith("*"):
        if not text.startswith("*."):
            return _invalid("A3", text, "a wildcard must be '*.' followed by a name, such as *.example.com")
        rest = text[2:]
        if "*" in rest:
            return _invalid("A3", text, "a wildcard may have only one '*', as the whole leftmost label")
        parsed = _name(rest)
        if isinstance(parsed, str):
            return _invalid("A3", text, f"after '*.' must come a valid name, but {parsed}")
        return DomainName(ascii=f"*.{parsed[0]}", unicode=f"*.{parsed[1]}", wildcard=True)
    if "*" in text:
        return _invalid("A3", text, "'*' may only stand as the whole leftmost label, as in *.example.com")
    parsed = _name(text)
    if isinstance(parsed, str):
        return _invalid("A5", text, parsed)
    return DomainName(ascii=parsed[0], unicode=parsed[1])


# ----------------------------------------------------------------------------------------------------
# Quota (A1, A6)


@dataclass(frozen=True)
class QuotaUse:
    """How a list of names uses an instance's quota. `*_left` is negative when over quota."""

    exact_used: int
    wildcard_used: int
    exact_left: int
    wildcard_left: int
    complimentary: list[tuple[DomainName, DomainName]]  # (free name, the listed name that covers it)


def _coverer(name: DomainName, by_ascii: dict[str, DomainName], www_free: bool) -> DomainName | None:
    """The listed name that makes `name` complimentary (A6), if any."""
    if name.wildcard or name.ip:
        return None
    wildcard = by_ascii.get(f"*.{name.ascii}")
    if wildcard is not None:
        return wildcard
    if www_free and name.ascii.startswith("www."):
        parent = by_ascii.get(name.ascii[4:])
        if parent is not None and not parent.wildcard and not parent.ip:
            return parent
    return None


def quota_use(instance: Instance, names: Sequence[DomainName]) -> QuotaUse:
    """A1 with A6: listed names counted against the exact and wildcard quota (IPs count as exact)."""
    by_ascii = {name.ascii: name for name in names}
    www_free = instance.brand.casefold() in WWW_COMPLIMENTARY_BRANDS
    exact_used = wildcard_used = 0
    complimentary: list[tuple[DomainName, DomainName]] = []
    for name in by_ascii.values():
        coverer = _coverer(name, by_ascii, www_free)
        if coverer is not None:
            complimentary.append((name, coverer))
        elif name.wildcard:
            wildcard_used += 1
        else:
            exact_used += 1
    return QuotaUse(
        exact_used=exact_used,
        wildcard_used=wildcard_used,
        exact_left=instance.exact_quota - exact_used,
        wildcard_left=instance.wildcard_quota - wildcard_used,
        complimentary=complimentary,
    )


def remaining_message(use: QuotaUse) -> str:
    """The console's "You can enter N more domain(s)" line; never negative (A1 reasons give the excess)."""
    return (
        f"You can enter {max(use.exact_left, 0)} more domain(s) "
        f"and {max(use.wildcard_left, 0)} more wildcard domain(s)."
    )


# ----------------------------------------------------------------------------------------------------
# Domains of an application (A1, A4, A5, A9)


def _over_quota_reasons(instance: Instance, use: QuotaUse) -> list[Reason]:
    reasons: list[Reason] = []
    for kind, left, quota in (
        ("exact", use.exact_left, instance.exact_quota),
        ("wildcard", use.wildcard_left, instance.wildcard_quota),
    ):
        if left < 0:
            message = (
                f"Instance {instance.id} allows {quota} {kind} domain(s) but {quota - left} are entered, "
                f"{-left} too many; remove {-left} {kind} domain(s) or combine more instances into it."
            )
            reasons.append(reason("A1", instance.id, message))
    return reasons


def domain_reasons(instance: Instance, raw_domains: Sequence[str]) -> tuple[list[DomainName], list[Reason]]:
    """Parse and check the names to bind: the valid names (first occurrence, input order) and every reason.

    Blank entries (an empty line in a list) are skipped rather than reported.
    """
    entries = [raw for raw in raw_domains if raw.strip()]
    if not entries:
        message = f"No domain was given for instance {instance.id}; enter at least one domain to bind."
        return [], [reason("A1", instance.id, message)]
    names: list[DomainName] = []
    reasons: list[Reason] = []
    seen: set[str] = set()
    reported_twice: set[str] = set()
    for raw in entries:
        parsed = parse_domain(raw)
        if isinstance(parsed, Reason):
            reasons.append(parsed)
        elif parsed.ascii not in seen:
            seen.add(parsed.ascii)
            names.append(parsed)
        elif parsed.ascii not in reported_twice:
            reported_twice.add(parsed.ascii)
            message = (
                f"The domain {parsed} is listed more than once (names compare case-insensitively and "
                "punycode equals its Unicode form); remove the duplicate."
            )
            reasons.append(reason("A5", parsed.ascii, message))
    if instance.cert_type is CertType.EV:
        reasons.extend(_ev_reasons(instance, names))
    if len(names) > MAX_NAMES:
        message = (
            f"{len(names)} domains were entered for instance {instance.id} but a certificate carries at most "
            f"{MAX_NAMES} names; remove {len(names) - MAX_NAMES} of them."
        )
        reasons.append(reason("A9", instance.id, message))
    reasons.extend(_over_quota_reasons(instance, quota_use(instance, names)))
    return names, reasons


def _ev_reasons(instance: Instance, names: Sequence[DomainName]) -> list[Reason]:
    reasons: list[Reason] = []
    for name in names:
        if name.wildcard or name.ip:
            kind = "wildcard names" if name.wildcard else "IP addresses"
            message = (
                f"{name} cannot be on instance {instance.id}: EV certificates never contain {kind}; "
                "remove it or apply for it on an OV instance."
            )
            reasons.append(reason("A4", name.ascii, message))
    return reasons


# ----------------------------------------------------------------------------------------------------
# The whole application (A2, A7, A8, state)


def _state_reasons(instance: Instance, open_application: Application | None) -> list[Reason]:
    iid = instance.id
    status = instance.status
    if status is InstanceStatus.COMBINED or instance.merged_into is not None:
        into = f" into {instance.merged_into}" if instance.merged_into else ""
        message = (
            f"Instance {iid} was combined{into} and can never be applied for; "
            f"apply on the combined instance{into} instead."
        )
        return [reason("C8", iid, message)]
    if status is InstanceStatus.NOT_ACTIVATED:
        message = f"Instance {iid} is not activated yet; run `certops instances activate {iid}` first."
        return [reason("STATE", iid, message)]
    if status is InstanceStatus.REVIEWING or (open_application is not None and open_application.in_progress):
        message = (
            f"Instance {iid} already has an application in progress with the CA; "
            "wait for it to be issued or rejected before applying again."
        )
        return [reason("A8", iid, message)]
    if status not in (InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED):
        message = (
            f"Instance {iid} is {status} and can no longer be applied for; "
            "use an instance that is pending application or whose validation failed."
        )
        return [reason("STATE", iid, message)]
    return []


def can_apply(instance: Instance) -> bool:
    """Whether the instance's state allows an application now (the console's "Apply for Certificate")."""
    return not _state_reasons(instance, None)


def phone_is_valid(phone: str) -> bool:
    """6–20 digits; an optional leading '+', spaces, hyphens and parentheses are allowed."""
    text = phone.strip()
    digits = sum(char.isdigit() for char in text)
    return bool(_PHONE.fullmatch(text)) and _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS


def email_is_valid(email: str) -> bool:
    """`local@domain`: a dot-atom local part of at most 64 characters and a domain that is a valid name."""
    local, at, domain = email.strip().rpartition("@")
    if not at or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        return False
    parsed = parse_domain(domain)
    return isinstance(parsed, DomainName) and not parsed.wildcard and not parsed.ip


def _blank(instance_id: str, what: str) -> Reason:
    message = f"The application for instance {instance_id} needs the {what}; fill it in."
    return reason("A7", instance_id, message)


def _bad_phone(instance_id: str, what: str, phone: str) -> Reason:
    message = (
        f"The {what} '{phone}' for instance {instance_id} is not a valid phone number; "
        "enter 6 to 20 digits, optionally with a leading +, spaces, hyphens or parentheses."
    )
    return reason("A7", instance_id, message)


def _form_reasons(instance: Instance, request: ApplicationRequest) -> list[Reason]:
    """A7: the company profile (OV/EV only) and the contact the CA emails and calls."""
    iid = instance.id
    reasons: list[Reason] = []
    if instance.cert_type in (CertType.OV, CertType.EV):
        company = request.company
        for what, value in (
            ("company name", company.name),
            ("company phone", company.phone),
            ("company address", company.address),
            ("company registration number", company.registration_number),
        ):
            if not value.strip():
                reasons.append(_blank(iid, what))
        if company.phone.strip() and not phone_is_valid(company.phone):
            reasons.append(_bad_phone(iid, "company phone", company.phone))
    contact = request.contact
    if not contact.name.strip():
        reasons.append(_blank(iid, "contact name"))
    if not contact.email.strip():
        reasons.append(_blank(iid, "contact email"))
    elif not email_is_valid(contact.email):
        message = (
            f"The contact email '{contact.email}' for instance {iid} is not a valid address; "
            "the CA emails this person, so enter an address such as name@example.com."
        )
        reasons.append(reason("A7", iid, message))
    if not contact.phone.strip():
        reasons.append(_blank(iid, "contact mobile number"))
    elif not phone_is_valid(contact.phone):
        reasons.append(_bad_phone(iid, "contact mobile number", contact.phone))
    return reasons


def _http_wildcard_reasons(request: ApplicationRequest, names: Sequence[DomainName]) -> list[Reason]:
    if request.validation_method is not ValidationMethod.HTTP:
        return []
    return [
        reason(
            "A7",
            name.ascii,
            f"The wildcard {name} cannot be validated with an HTTP file; "
            "choose DNS validation for this application or remove the wildcard.",
        )
        for name in names
        if name.wildcard
    ]


def application_reasons(
    instance: Instance, request: ApplicationRequest, open_application: Application | None
) -> tuple[list[DomainName], list[Reason]]:
    """Everything that stands against `request` on `instance`, all reasons at once, and the parsed names.

    Raises ValueError when `request` is for another instance (a caller's mistake, not the user's).
    """
    if request.instance_id != instance.id:
        raise ValueError(f"request is for instance {request.instance_id}, not {instance.id}")
    reasons = _state_reasons(instance, open_application)
    if request.validity_years != 1:
        message = (
            f"The application for instance {instance.id} asks for {request.validity_years} years; "
            "the validity period must be 1 year, so set it to 1."
        )
        reasons.append(reason("A2", instance.id, message))
    names, name_reasons = domain_reasons(instance, request.domains)
    reasons.extend(name_reasons)
    reasons.extend(_form_reasons(instance, request))
    reasons.extend(_http_wildcard_reasons(request, names))
    if request.csr_pem is not None:
        from core.rules.csr import csr_reasons  # cryptography is loaded only when a CSR is uploaded

        reasons.extend(csr_reasons(request.csr_pem, names, request.key_algorithm, subject=instance.id))
    return names, reasons


# ----------------------------------------------------------------------------------------------------
# Uploaded CSR (A7)


def max_lifetime_days(issued_on: date) -> int:
    """A10 (CA/B Forum BR §6.3.2): the longest lifetime a certificate issued on `issued_on` may have."""
    for start, days in _LIFETIME_STEPS:
        if issued_on >= start:
            return days
    return _LIFETIME_BEFORE_2026
