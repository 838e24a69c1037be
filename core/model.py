"""The certops domain model: instances, combinations, applications, review stages, audit events.

Plain pydantic v2 models with no I/O. Field names are the public JSON schema: `certops instances list --json`
prints them and `certops instances import` reads them back.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

WAIVER_TEXT = "I confirm that the combined certificates are not eligible for refunds"
COMBINED_NAME_PREFIX = "cas-merge"


class CertType(StrEnum):
    DV = "DV"
    OV = "OV"
    EV = "EV"


class InstanceStatus(StrEnum):
    NOT_ACTIVATED = "not_activated"
    PENDING_APPLICATION = "pending_application"
    REVIEWING = "reviewing"
    VALIDATION_FAILED = "validation_failed"
    ISSUED = "issued"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REFUNDED = "refunded"
    COMBINED = "combined"


class ValidationMethod(StrEnum):
    DNS = "dns"
    HTTP = "http"


class KeyAlgorithm(StrEnum):
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    ECC_256 = "ECC_256"


class Stage(StrEnum):
    """Where an application stands with the CA (rule V2)."""

    DOMAIN_VERIFICATION = "domain_verification"
    ORGANISATION_VERIFICATION = "organisation_verification"
    CA_REVIEW = "ca_review"
    ISSUED = "issued"
    REJECTED = "rejected"


class CheckStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"


class Reason(BaseModel):
    """Why something is not allowed: the rule id and a sentence naming what is at fault."""

    model_config = ConfigDict(frozen=True)

    rule: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class Quota(BaseModel):
    model_config = ConfigDict(frozen=True)

    exact: int = Field(ge=0)
    wildcard: int = Field(ge=0)

    def __add__(self, other: Quota) -> Quota:
        return Quota(exact=self.exact + other.exact, wildcard=self.wildcard + other.wildcard)


class Instance(BaseModel):
    """A purchased entitlement to one certificate application."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    name: str = Field(min_length=1, max_length=200)
    brand: str = Field(min_length=1, max_length=64)
    cert_type: CertType
    status: InstanceStatus = InstanceStatus.NOT_ACTIVATED
    validity_years: int = Field(ge=1, le=10)
    exact_quota: int = Field(ge=0, le=1000)
    wildcard_quota: int = Field(ge=0, le=1000)
    refundable: bool = True
    hosted: bool = False
    merged_into: str | None = None
    merged_from: list[str] = Field(default_factory=list)
    service_start: date | None = None
    service_end: date | None = None

    @property
    def quota(self) -> Quota:
        return Quota(exact=self.exact_quota, wildcard=self.wildcard_quota)

    @model_validator(mode="after")
    def _combined_is_consistent(self) -> Instance:
        if (self.status is InstanceStatus.COMBINED) != (self.merged_into is not None):
            raise ValueError("status 'combined' and merged_into go together: set both or neither")
        if self.exact_quota + self.wildcard_quota == 0:
            raise ValueError("an instance needs a domain quota: exact_quota + wildcard_quota must be at least 1")
        return self


class SourceSnapshot(BaseModel):
    """A source instance as it was at the moment of combining (for the merge audit)."""

    id: str
    name: str
    brand: str
    cert_type: CertType
    status: InstanceStatus
    validity_years: int
    exact_quota: int
    wildcard_quota: int
    refundable: bool


class CombinePlan(BaseModel):
    """What a combination will do (rules C5, C6, C7): computed before anything changes."""

    current_id: str
    source_ids: list[str]
    brand: str
    cert_type: CertType
    quota: Quota
    name: str
    refund_waived: bool = True


class Combination(BaseModel):
    """A performed combination with its recorded refund waiver (C7)."""

    id: str
    request_key: str
    result_id: str
    result_name: str
    source_ids: list[str]
    sources: list[SourceSnapshot]
    brand: str
    cert_type: CertType
    quota: Quota
    actor: str
    at: datetime
    waiver_text: str


class Handover(BaseModel):
    """A combination confirmed in certops (waiver included) that a person must finish in the provider's console,
    because the provider has no API for it (CAS). `certops sync` turns it into a Combination once it sees the
    new cas-merge… instance."""

    request_key: str
    plan: CombinePlan
    sources: list[SourceSnapshot]
    actor: str
    at: datetime
    waiver_text: str
    steps: str  # what the person must do, as the provider said it


class DomainName(BaseModel):
    """A validated name to bind: its ASCII (punycode) form, how it reads, and its kind."""

    model_config = ConfigDict(frozen=True)

    ascii: str
    unicode: str
    wildcard: bool = False
    ip: bool = False

    def __str__(self) -> str:
        if self.unicode != self.ascii:
            return f"{self.unicode} ({self.ascii})"
        return self.ascii


class CompanyProfile(BaseModel):
    name: str
    phone: str
    address: str
    registration_number: str


class Contact(BaseModel):
    name: str
    email: str
    phone: str


class DomainCheck(BaseModel):
    """One domain's verification row: what to place where, and whether the CA saw it."""

    domain: str
    method: ValidationMethod
    record_type: str  # "TXT" for DNS, "FILE" for HTTP
    location: str  # the DNS record name, or the URL the file must be served at
    value: str  # the TXT value, or the file's content
    status: CheckStatus = CheckStatus.PENDING


class OrgChecks(BaseModel):
    email: CheckStatus = CheckStatus.PENDING
    phone: CheckStatus = CheckStatus.PENDING


class IssuedCertificate(BaseModel):
    serial: str
    not_before: datetime
    not_after: datetime
    sans: list[str]
    key_algorithm: KeyAlgorithm
    cert_pem: str
    chain_pem: str


class ApplicationRequest(BaseModel):
    """An application as the user asks for it, before validation."""

    instance_id: str
    domains: list[str]
    company: CompanyProfile
    contact: Contact
    validation_method: ValidationMethod = ValidationMethod.DNS
    key_algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048
    csr_pem: str | None = None
    validity_years: int = 1


class ProviderApplication(BaseModel):
    """An application as the certificate provider reports it."""

    instance_id: str
    stage: Stage
    domain_checks: list[DomainCheck]
    org_checks: OrgChecks
    rejection_reason: str | None = None
    certificate: IssuedCertificate | None = None


class StageChange(BaseModel):
    stage: Stage
    at: datetime


class ChatThread(BaseModel):
    """Where an application's conversation lives in chat (the channel and the parent message)."""

    channel: str
    ts: str


class DeployCheck(BaseModel):
    """One TLS handshake with a host that should serve the issued certificate (V6)."""

    domain: str
    host: str
    port: int
    checked_at: datetime
    served_serial: str | None = None
    serves_issued: bool = False  # the host presented the issued certificate (same serial)
    names_match: bool = False  # the served certificate's SANs cover the domain
    chain_valid: bool = False  # the presented chain verifies to the issuing root
    error: str | None = None  # why the handshake or a check failed, for a person to act on

    @property
    def ok(self) -> bool:
        return self.serves_issued and self.names_match and self.chain_valid


class Deployment(BaseModel):
    """A bound domain's installation: marked by a person, and/or checked over TLS."""

    domain: str
    installed_by: str | None = None
    installed_at: datetime | None = None
    last_check: DeployCheck | None = None


class Acknowledgement(BaseModel):
    by: str
    at: datetime


class Application(BaseModel):
    """certops's record of one application attempt (attempts are never rewritten into one another)."""

    id: str
    instance_id: str
    domains: list[DomainName]
    company: CompanyProfile
    contact: Contact
    validation_method: ValidationMethod
    key_algorithm: KeyAlgorithm
    csr_pem: str
    key_generated: bool
    validity_years: int = 1
    actor: str
    submitted_at: datetime
    stage: Stage
    stage_history: list[StageChange] = Field(default_factory=list)
    domain_checks: list[DomainCheck] = Field(default_factory=list)
    org_checks: OrgChecks = Field(default_factory=OrgChecks)
    rejection_reason: str | None = None
    certificate: IssuedCertificate | None = None
    synced_at: datetime | None = None
    request_key: str | None = None  # the submission that created it: a repeat returns this application
    thread: ChatThread | None = None
    escalation_level: int = 0  # the highest escalation level that fired (V5)
    acknowledged: Acknowledgement | None = None  # who stopped further escalation, and when
    deployments: list[Deployment] = Field(default_factory=list)

    @property
    def in_progress(self) -> bool:
        return self.stage not in (Stage.ISSUED, Stage.REJECTED)


class AuditEvent(BaseModel):
    """One line of the hash-chained audit log. Frozen: its fields are what the hash covers."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, object] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class Notice(BaseModel):
    """A message to deliver about an application: a stage change, a nudge, an escalation, a reminder.

    The key is the dedupe key (one notice per key, ever), so repeated ticks, restarts and two workers
    never notify twice; the text never carries volatile values such as request ids or "now".
    """

    key: str
    application_id: str
    code: str  # the reason code: STAGE, V3, V4, V5, V6, A10
    message: str
    due_at: datetime  # not before this instant (nudges wait for working hours)
    created_at: datetime
    level: int | None = None  # escalation level (V5)
    audience: str | None = None  # who else must hear it: a channel, user-group or user id
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    claimed_until: datetime | None = None  # a worker is sending it; others leave it alone until then
    withdrawn_at: datetime | None = None  # it stopped applying before it went out (e.g. issued before the nudge)
