"""Pure translation between Alibaba Cloud CAS wire records (2020-04-07, instance flow) and the certops model.

Inputs are wire dicts as the service sends them (`Model.to_map()` of the SDK's response bodies), so this module
needs neither the SDK nor a network. Where the API leaves a question open the choice is marked INFERRED here and
in /work/shared/docs/cas-api.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from cryptography import x509

from core.adapters.key_vault import key_algorithm_of
from core.errors import ProviderError
from core.model import (
    COMBINED_NAME_PREFIX,
    CertType,
    CheckStatus,
    CombinePlan,
    DomainCheck,
    Instance,
    InstanceStatus,
    IssuedCertificate,
    KeyAlgorithm,
    OrgChecks,
    ProviderApplication,
    Stage,
    ValidationMethod,
)

Wire = Mapping[str, Any]

# ListUserCertificateOrder statuses that tell apart what the instance API calls `inactive` (domain.md).
ORDER_NOT_ACTIVATED = "NOTACTIVATED"
ORDER_CHECK_FAILED = "CHECKED_FAIL"

_ISSUED_STATUSES = frozenset({"normal", "willExpire", "expired"})
_CERTIFICATE_TYPES = {t.value: t for t in CertType}
_WIRE_VALIDATION = {ValidationMethod.DNS: "DNS", ValidationMethod.HTTP: "HTTP"}
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_MAX_QUOTA = 1000
_MAX_NAME = 200


# -- instances -----------------------------------------------------------------------------------------------


def instance_status(status: str | None, certificate_status: str | None, order_status: str | None) -> InstanceStatus:
    """The certops status of an instance; `order_status` is the order API's view of the same instance, if any."""
    match status:
        case "inactive":
            if order_status == ORDER_NOT_ACTIVATED:
                return InstanceStatus.NOT_ACTIVATED
            if order_status == ORDER_CHECK_FAILED:
                return InstanceStatus.VALIDATION_FAILED
            return InstanceStatus.PENDING_APPLICATION
        case "pending":
            return InstanceStatus.REVIEWING
        case "normal" | "willExpire":
            return InstanceStatus.REVOKED if certificate_status == "revoked" else InstanceStatus.ISSUED
        case "expired":
            return InstanceStatus.EXPIRED
        case "refund":
            return InstanceStatus.REFUNDED
        case "closed":
            # "Shut down and unavailable": nothing can be applied for any more. INFERRED: no closer status exists.
            return InstanceStatus.EXPIRED
    raise ValueError(f"unknown CAS instance status {status!r}")


def epoch_date(value: object) -> date | None:
    """A CAS timestamp as a UTC date; the instance API sends seconds, the order API milliseconds."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    seconds = value / 1000 if value > 10**11 else value  # no instance starts after the year 5138
    return datetime.fromtimestamp(seconds, UTC).date()


def validity_years(start: date | None, end: date | None) -> int:
    """Whole years between the service dates, 1 to 10; 1 when CAS leaves them empty (nothing issued yet)."""
    if start is None or end is None or end <= start:
        return 1
    return max(1, min(10, round((end - start).days / 365.25)))


def instance_from_wire(item: Wire, order_status: str | None = None) -> Instance:
    """An instance from a ListInstances item or a GetInstanceDetail body. Raises ValueError for records certops
    cannot hold (an unknown status or certificate type)."""
    instance_id = str(item.get("InstanceId") or "")
    cert_type = _CERTIFICATE_TYPES.get(str(item.get("CertificateType") or "").upper())
    if cert_type is None:
        raise ValueError(f"CAS instance {instance_id} has certificate type {item.get('CertificateType')!r}")
    status = instance_status(item.get("Status"), item.get("CertificateStatus"), order_status)
    name = str(item.get("CertificateName") or "").strip()
    combined = name.startswith(COMBINED_NAME_PREFIX)
    if not combined:
        name = (name or instance_id)[:_MAX_NAME]
    start, end = epoch_date(item.get("InstanceStartTime")), epoch_date(item.get("InstanceEndTime"))
    exact, wildcard = _quota(item.get("FullDomainCount")), _quota(item.get("WildcardDomainCount"))
    return Instance(
        id=instance_id,
        name=name,
        brand=str(item.get("Brand") or "unknown"),
        cert_type=cert_type,
        status=status,
        validity_years=validity_years(start, end),
        # INFERRED: an instance CAS reports without any quota still binds its one name.
        exact_quota=exact if exact + wildcard else 1,
        wildcard_quota=wildcard,
        # CAS exposes no refund eligibility; combined instances never are (C7), gone ones cannot be.
        refundable=not combined and status not in (InstanceStatus.REFUNDED, InstanceStatus.EXPIRED),
        hosted=item.get("AutoReissue") == "enable",
        service_start=start,
        service_end=end,
    )


def _quota(value: object) -> int:
    return max(0, min(_MAX_QUOTA, value)) if isinstance(value, int) and not isinstance(value, bool) else 0


# -- applications --------------------------------------------------------------------------------------------


def wire_validation_method(method: ValidationMethod) -> str:
    return _WIRE_VALIDATION[method]


def is_issued(detail: Wire) -> bool:
    """Whether GetInstanceDetail shows an issued certificate (and no newer application under review)."""
    return (
        detail.get("Status") != "pending"
        and bool(detail.get("CertificateId"))
        and (detail.get("Status") in _ISSUED_STATUSES or bool(detail.get("CertificateStatus")))
    )


def application_stage(detail: Wire, *, just_submitted: bool = False) -> Stage | None:
    """The stage of the latest application on an instance, or None when it has none.

    INFERRED: DomainValidationList holds only checks the CA still waits for; an `inactive` instance whose
    PendingResult carries a CA message was rejected. `just_submitted` covers an instance CAS still reports as
    inactive right after ApplyCertificate.
    """
    status = detail.get("Status")
    if status == "pending" or (just_submitted and status == "inactive"):
        if detail.get("DomainValidationList"):
            return Stage.DOMAIN_VERIFICATION
        if detail.get("CertificateType") == CertType.DV.value:
            return Stage.CA_REVIEW
        return Stage.ORGANISATION_VERIFICATION
    if is_issued(detail):
        return Stage.ISSUED
    if status == "inactive" and str(detail.get("PendingResult") or "").strip():
        return Stage.REJECTED
    return None


def application_from_detail(
    detail: Wire, certificate: IssuedCertificate | None = None, *, just_submitted: bool = False
) -> ProviderApplication | None:
    stage = application_stage(detail, just_submitted=just_submitted)
    if stage is None:
        return None
    issued = stage is Stage.ISSUED
    settled = issued or detail.get("CertificateType") == CertType.DV.value
    org = CheckStatus.PASSED if settled else CheckStatus.PENDING
    rows = detail.get("DomainValidationList") or []
    fallback = ValidationMethod.HTTP if detail.get("ValidationMethod") == "HTTP" else ValidationMethod.DNS
    return ProviderApplication(
        instance_id=str(detail.get("InstanceId") or ""),
        stage=stage,
        domain_checks=[domain_check(row, fallback, passed=issued) for row in rows],
        org_checks=OrgChecks(email=org, phone=org),
        rejection_reason=str(detail["PendingResult"]).strip() if stage is Stage.REJECTED else None,
        certificate=certificate if issued else None,
    )


def domain_check(row: Wire, fallback: ValidationMethod, *, passed: bool = False) -> DomainCheck:
    """One DomainValidationList row: a TXT or CNAME record (ValidationKey is the host record under RootDomain)
    or an HTTP file (ValidationKey is its path, ValidationValue its content)."""
    domain = str(row.get("Domain") or "")
    kind = str(row.get("ValidationType") or "").upper()
    key = str(row.get("ValidationKey") or row.get("CnameKey") or "")
    value = str(row.get("ValidationValue") or row.get("Cname") or "")
    status = CheckStatus.PASSED if passed else CheckStatus.PENDING
    if kind == "HTTP" or (not kind and fallback is ValidationMethod.HTTP):
        return DomainCheck(
            domain=domain,
            method=ValidationMethod.HTTP,
            record_type="FILE",
            location=_file_url(domain, key),
            value=value,
            status=status,
        )
    return DomainCheck(
        domain=domain,
        method=ValidationMethod.DNS,
        record_type="CNAME" if kind == "CNAME" else "TXT",
        location=_record_name(key, str(row.get("RootDomain") or "")),
        value=value,
        status=status,
    )


def _record_name(host_record: str, root: str) -> str:
    """The fully qualified record name; CAS gives the host record relative to the root domain (INFERRED)."""
    host_record, root = host_record.rstrip("."), root.rstrip(".")
    if not root or host_record == root or host_record.endswith("." + root):
        return host_record
    if host_record in ("", "@"):
        return root
    return f"{host_record}.{root}"


def _file_url(domain: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    host = domain.removeprefix("*.")
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}/{path.lstrip('/')}"


def issued_certificate(bundle_pem: str, algorithm_hint: str | None = None) -> IssuedCertificate:
    """The certificate from GetUserCertificateDetail's `Cert`: the leaf first, then the chain (INFERRED)."""
    blocks = _PEM_BLOCK.findall(bundle_pem or "")
    if not blocks:
        raise ProviderError("Alibaba Cloud CAS reported an issued certificate but sent no PEM certificate")
    leaf = x509.load_pem_x509_certificate(blocks[0].encode("ascii"))
    algorithm = key_algorithm_of(leaf.public_key()) or _algorithm(algorithm_hint)
    if algorithm is None:
        raise ProviderError(f"the issued certificate's key ({algorithm_hint or 'unknown'}) is not one certops handles")
    return IssuedCertificate(
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        sans=_sans(leaf),
        key_algorithm=algorithm,
        cert_pem=blocks[0] + "\n",
        chain_pem="".join(block + "\n" for block in blocks[1:]),
    )


def _algorithm(hint: str | None) -> KeyAlgorithm | None:
    try:
        return KeyAlgorithm(hint) if hint else None
    except ValueError:
        return None


def _sans(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


# -- errors --------------------------------------------------------------------------------------------------


class ErrorKind(StrEnum):
    UNAVAILABLE = "unavailable"  # try again later
    NOT_FOUND = "not_found"  # the instance id names nothing in the account
    REFUSED = "refused"  # the service said no; retrying the same call will not help


# Codes about the caller or the call itself, never the instance, whatever they end with.
_CALL_CODES = (
    "invalidaccesskeyid",
    "invalidsecuritytoken",
    "signature",
    "forbidden",
    "nopermission",
    "invalidcred",
    "invalidaction",
    "invalidversion",
    "missing",
)
_MISSING_WORDS = ("notfound", "notexist", "nonexist")
_BUSY_CODES = ("throttling", "serviceunavailable", "internalerror", "timeout", "flowcontrol")


def classify_error(status_code: int | None, code: str | None, *, about_instance: bool) -> ErrorKind:
    """How to treat an error answer. INFERRED: CAS documents no code for an unknown instance id, so any 404 or
    NotFound/NotExist code on a call naming an instance means that, except codes about the caller or the call
    such as InvalidAccessKeyId.NotFound."""
    folded = (code or "").replace(".", "").replace("_", "").lower()
    if status_code is not None and (status_code == 429 or status_code >= 500):
        return ErrorKind.UNAVAILABLE
    if folded.startswith(_BUSY_CODES):
        return ErrorKind.UNAVAILABLE
    if folded.startswith(_CALL_CODES) or status_code in (401, 403):
        return ErrorKind.REFUSED
    if about_instance and (status_code == 404 or any(word in folded for word in _MISSING_WORDS)):
        return ErrorKind.NOT_FOUND
    return ErrorKind.REFUSED


# -- hand-overs to the console -------------------------------------------------------------------------------


def combine_handover(plan: CombinePlan) -> str:
    """The console steps that perform `plan` (the seed text), for a person: CAS has no combine API."""
    others = [source for source in plan.source_ids if source != plan.current_id]
    return (
        "Alibaba Cloud CAS has no API for combining certificate instances; combine them in the console: "
        "1) log on to the SSL Certificates Service console and, on the Manage Certificates tab of the SSL "
        "Certificates page, select Pending Application from the status drop-down list above the certificate list; "
        f"2) find instance {plan.current_id} and click Combine Certificates in the Actions column; "
        f"3) in the Combine Certificates dialog box select {_joined(others)}, select Confirm that the combined "
        "certificates are not eligible for refunds, and click Combine Certificates; "
        f"4) in the Combination Success message click OK. The new {plan.brand} {plan.cert_type} instance's name starts "
        f"with {COMBINED_NAME_PREFIX} and binds {plan.quota.exact} exact and {plan.quota.wildcard} wildcard name(s). "
        "Then run `certops sync`; certops records the combination it finds."
    )


def activation_handover(instance_id: str) -> str:
    return (
        f"Alibaba Cloud CAS has no API for activating instance {instance_id}: in the SSL Certificates Service "
        "console, click Apply for Certificate above the certificate list, so that the instance appears in the "
        "list in the Pending Application state. Then run `certops sync`."
    )


def _joined(ids: Sequence[str]) -> str:
    if len(ids) <= 1:
        return "".join(ids) or "the other instances"
    return ", ".join(ids[:-1]) + " and " + ids[-1]
