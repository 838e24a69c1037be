"""What the sandbox CA checks and builds when it combines instances and takes and reviews applications."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from core.adapters.sandbox_state import SandboxApplication
from core.errors import ProviderError
from core.model import (
    ApplicationRequest,
    CertType,
    CheckStatus,
    CombinePlan,
    DomainCheck,
    DomainName,
    Instance,
    InstanceStatus,
    OrgChecks,
    Stage,
    ValidationMethod,
)
from core.rules.combine import combination_reasons
from core.rules.csr import csr_reasons

_APPLICABLE = frozenset({InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED})


# -- combining -----------------------------------------------------------------------------------------------


def source_ids(plan: CombinePlan) -> list[str]:
    """Every instance the plan consumes; plans list the current instance among the sources."""
    if plan.current_id in plan.source_ids:
        return list(plan.source_ids)
    return [plan.current_id, *plan.source_ids]


def combined_id(request_key: str) -> str:
    return f"cas-merge-{hashlib.sha256(request_key.encode('utf-8')).hexdigest()[:12]}"


def check_combinable(plan: CombinePlan, sources: Sequence[Instance]) -> None:
    at = [source.id for source in sources].index(plan.current_id)
    current, others = sources[at], [*sources[:at], *sources[at + 1 :]]
    reasons = combination_reasons(current, others)
    if reasons:
        raise ProviderError(f"the sandbox CA refused to combine {current.id}: " + _joined(reasons))
    quota = sum((other.quota for other in others), start=current.quota)
    if quota != plan.quota or (plan.brand, plan.cert_type) != (current.brand, current.cert_type):
        raise ProviderError(
            f"the combine plan for {current.id} does not match the instances (the CA counts {current.brand} "
            f"{current.cert_type}, quota {quota.exact} exact + {quota.wildcard} wildcard); plan it again"
        )


def combined_instance(plan: CombinePlan, consumed_ids: list[str], instance_id: str) -> Instance:
    return Instance(
        id=instance_id,
        name=plan.name,
        brand=plan.brand,
        cert_type=plan.cert_type,
        status=InstanceStatus.PENDING_APPLICATION,
        validity_years=1,
        exact_quota=plan.quota.exact,
        wildcard_quota=plan.quota.wildcard,
        refundable=False,
        merged_from=list(consumed_ids),
    )


# -- applications --------------------------------------------------------------------------------------------


def check_submission(application: ApplicationRequest, domains: Sequence[DomainName], csr_pem: str) -> None:
    """Refuse an application that binds no domains or whose CSR does not fit it."""
    instance_id = application.instance_id
    if not domains:
        raise ProviderError(f"the application on instance {instance_id} binds no domains")
    refused = csr_reasons(csr_pem, domains, application.key_algorithm, subject=instance_id)
    if refused:
        raise ProviderError(f"the sandbox CA refused the CSR for {instance_id}: " + _joined(refused))


def check_applicable(instance: Instance, latest: SandboxApplication | None) -> None:
    if latest is not None and latest.in_progress:
        raise ProviderError(f"instance {instance.id} already has an application in progress ({latest.stage})")
    if instance.status not in _APPLICABLE:
        hint = "; activate it first" if instance.status is InstanceStatus.NOT_ACTIVATED else ""
        raise ProviderError(
            f"instance {instance.id} is {instance.status}: only pending_application or validation_failed "
            f"instances can be applied for{hint}"
        )


def domain_check(domain: DomainName, method: ValidationMethod) -> DomainCheck:
    # An IP address has no DNS zone to put a record in and a wildcard cannot be proven by a file, so the CA
    # asks for the method that can work, whatever was requested.
    if domain.ip:
        method = ValidationMethod.HTTP
    elif domain.wildcard:
        method = ValidationMethod.DNS
    base = domain.ascii.removeprefix("*.")
    if method is ValidationMethod.DNS:
        return DomainCheck(
            domain=domain.ascii,
            method=method,
            record_type="TXT",
            location=f"_dnsauth.{base}",
            value=secrets.token_urlsafe(24),
        )
    host = f"[{base}]" if ":" in base else base
    return DomainCheck(
        domain=domain.ascii,
        method=method,
        record_type="FILE",
        location=f"http://{host}/.well-known/pki-validation/{secrets.token_hex(8)}.txt",
        value=secrets.token_urlsafe(24),
    )


def org_checks(cert_type: CertType) -> OrgChecks:
    if cert_type is CertType.DV:
        return OrgChecks(email=CheckStatus.PASSED, phone=CheckStatus.PASSED)
    return OrgChecks()


def find_check(record: SandboxApplication, domain: str) -> DomainCheck:
    wanted = domain.strip().rstrip(".").casefold()
    for check, name in zip(record.domain_checks, record.domains, strict=True):
        if wanted in (check.domain.casefold(), name.unicode.casefold()):
            return check
    valid = ", ".join(check.domain for check in record.domain_checks)
    raise ProviderError(f"{domain} is not bound to the application on instance {record.instance_id}; it binds {valid}")


def stage_of(record: SandboxApplication) -> Stage:
    """The stage the checks put the application in (V2); CA_REVIEW means every check has passed."""
    if any(check.status is CheckStatus.PENDING for check in record.domain_checks):
        return Stage.DOMAIN_VERIFICATION
    if CheckStatus.PENDING in (record.org_checks.email, record.org_checks.phone):
        return Stage.ORGANISATION_VERIFICATION
    return Stage.CA_REVIEW


def _joined(reasons: Sequence[object]) -> str:
    return "; ".join(str(reason) for reason in reasons)
