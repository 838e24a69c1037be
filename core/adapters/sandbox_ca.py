"""The embedded sandbox CA: a stand-in for the certificate service and its CA staff (as Pebble is for ACME).

State lives in one directory: `state.json` (instances, applications, combinations done), the root and issuing
CA certificates and their keys. Every operation re-reads the state; writes take `state.json.lock`, so several
processes (CLI, bot, worker, tests) can share one sandbox.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from filelock import FileLock
from pydantic import BaseModel, Field, ValidationError

from core.adapters.files import atomic_write_bytes, read_json
from core.adapters.key_vault import (
    key_algorithm_of,
    load_private_key,
    private_key_bytes,
    san_for,
    san_is_critical,
    subject_for,
)
from core.errors import NotFound, NotInitialised, ProviderError, StoreCorrupted
from core.model import (
    ApplicationRequest,
    CertType,
    CheckStatus,
    CombinePlan,
    DomainCheck,
    DomainName,
    Instance,
    InstanceStatus,
    IssuedCertificate,
    OrgChecks,
    ProviderApplication,
    Stage,
    ValidationMethod,
)
from core.ports import Clock
from core.rules.combine import combination_reasons
from core.rules.csr import csr_reasons
from core.rules.domains import max_lifetime_days

ROOT_NAME = "certops Sandbox Root CA"
ISSUING_NAME = "certops Sandbox Issuing CA 1"
ROOT_LIFETIME = timedelta(days=3653)  # 10 years
ISSUING_LIFETIME = timedelta(days=1827)  # 5 years

_STATE = "state.json"
_ROOT_KEY = "root-ca.key.pem"
_ROOT_CERT = "root-ca.pem"
_ISSUING_KEY = "issuing-ca.key.pem"
_ISSUING_CERT = "issuing-ca.pem"
_CA_FILES = (_ROOT_KEY, _ROOT_CERT, _ISSUING_KEY, _ISSUING_CERT)

_APPLICABLE = frozenset({InstanceStatus.PENDING_APPLICATION, InstanceStatus.VALIDATION_FAILED})
_ACTIVATED = frozenset(
    {
        InstanceStatus.PENDING_APPLICATION,
        InstanceStatus.REVIEWING,
        InstanceStatus.VALIDATION_FAILED,
        InstanceStatus.ISSUED,
    }
)


class _SandboxApplication(ProviderApplication):
    """What the sandbox keeps per application beyond what the provider reports."""

    domains: list[DomainName]
    csr_pem: str
    submitted_at: datetime

    @property
    def in_progress(self) -> bool:
        return self.stage not in (Stage.ISSUED, Stage.REJECTED)

    def public(self) -> ProviderApplication:
        fields = set(ProviderApplication.model_fields)
        return ProviderApplication.model_validate(self.model_dump(include=fields))


class _State(BaseModel):
    version: int = 1
    instances: dict[str, Instance] = Field(default_factory=dict)
    applications: dict[str, list[_SandboxApplication]] = Field(default_factory=dict)  # oldest first
    combines: dict[str, str] = Field(default_factory=dict)  # request key -> combined instance id

    def instance(self, instance_id: str) -> Instance:
        try:
            return self.instances[instance_id]
        except KeyError:
            raise NotFound(f"the sandbox CA has no instance {instance_id}") from None

    def latest(self, instance_id: str) -> _SandboxApplication | None:
        attempts = self.applications.get(instance_id)
        return attempts[-1] if attempts else None

    def open_application(self, instance_id: str) -> _SandboxApplication:
        self.instance(instance_id)
        latest = self.latest(instance_id)
        if latest is None:
            raise ProviderError(f"instance {instance_id} has no application with the sandbox CA")
        if not latest.in_progress:
            raise ProviderError(f"the application on instance {instance_id} is {latest.stage}, not open")
        return latest


class SandboxCA:
    """The sandbox certificate provider, plus `verify` and `reject` for the CA staff's side."""

    name = "sandbox"

    def __init__(self, directory: Path, clock: Clock) -> None:
        self.directory = directory
        self.clock = clock

    # -- setup -----------------------------------------------------------------------------------------------

    def init(self) -> bool:
        """Create the directory, the root and issuing CA and an empty state. True when it created them."""
        if not self.directory.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        with FileLock(self._lock_path):
            if self._state_path.exists():
                self._require_ca_files()
                return False
            # No state yet: anything here is left over from an interrupted init, so start the CA afresh.
            self._create_ca(self._now())
            self._write_state(_State(), previous=None)
        return True

    def root_certificate_pem(self) -> str:
        self._require_initialised()
        return (self.directory / _ROOT_CERT).read_text("ascii")

    # -- CertificateProvider ---------------------------------------------------------------------------------

    def list_instances(self) -> list[Instance]:
        state = self._read_state()
        return [state.instances[key] for key in sorted(state.instances)]

    def add_instances(self, instances: Sequence[Instance]) -> None:
        with self._writing() as state:
            for instance in instances:
                existing = state.instances.get(instance.id)
                if existing is not None and existing != instance:
                    raise ProviderError(
                        f"the sandbox CA already has instance {instance.id} with different details; "
                        "use another id or leave it out"
                    )
                state.instances[instance.id] = instance

    def activate(self, instance_id: str) -> Instance:
        with self._writing() as state:
            instance = state.instance(instance_id)
            if instance.status in _ACTIVATED:
                return instance
            if instance.status is not InstanceStatus.NOT_ACTIVATED:
                raise ProviderError(f"instance {instance_id} is {instance.status} and cannot be activated")
            activated = instance.model_copy(update={"status": InstanceStatus.PENDING_APPLICATION})
            state.instances[instance_id] = activated
            return activated

    def combine(self, plan: CombinePlan, request_key: str) -> Instance:
        with self._writing() as state:
            done = state.combines.get(request_key)
            if done is not None:
                return state.instance(done)
            source_ids = _source_ids(plan)
            sources = [state.instance(source_id) for source_id in source_ids]
            _check_combinable(plan, sources)
            combined = _combined_instance(plan, source_ids, _combined_id(request_key))
            if combined.id in state.instances:
                raise ProviderError(f"instance {combined.id} exists already; use another request key")
            consumed = {"status": InstanceStatus.COMBINED, "merged_into": combined.id, "refundable": False}
            for source in sources:
                state.instances[source.id] = source.model_copy(update=consumed)
            state.instances[combined.id] = combined
            state.combines[request_key] = combined.id
            return combined

    def submit(
        self, application: ApplicationRequest, domains: Sequence[DomainName], csr_pem: str
    ) -> ProviderApplication:
        instance_id = application.instance_id
        if not domains:
            raise ProviderError(f"the application on instance {instance_id} binds no domains")
        refused = csr_reasons(csr_pem, domains, application.key_algorithm, subject=instance_id)
        if refused:
            raise ProviderError(f"the sandbox CA refused the CSR for {instance_id}: " + _joined(refused))
        with self._writing() as state:
            instance = state.instance(instance_id)
            _check_applicable(instance, state.latest(instance_id))
            record = _SandboxApplication(
                instance_id=instance_id,
                stage=Stage.DOMAIN_VERIFICATION,
                domain_checks=[_domain_check(domain, application.validation_method) for domain in domains],
                org_checks=_org_checks(instance.cert_type),
                domains=list(domains),
                csr_pem=csr_pem,
                submitted_at=self._now(),
            )
            state.applications.setdefault(instance_id, []).append(record)
            state.instances[instance_id] = instance.model_copy(update={"status": InstanceStatus.REVIEWING})
            return record.public()

    def application(self, instance_id: str) -> ProviderApplication | None:
        state = self._read_state()
        state.instance(instance_id)
        latest = state.latest(instance_id)
        return latest.public() if latest else None

    # -- the CA staff's side ---------------------------------------------------------------------------------

    def verify(
        self, instance_id: str, *, domain: str | None = None, email: bool = False, phone: bool = False
    ) -> ProviderApplication:
        """Pass checks: the named ones, or with no flags every open one. Issues once all have passed."""
        with self._writing() as state:
            record = state.open_application(instance_id)
            everything = domain is None and not email and not phone
            if everything:
                for check in record.domain_checks:
                    check.status = CheckStatus.PASSED
            elif domain is not None:
                _find_check(record, domain).status = CheckStatus.PASSED
            if everything or email:
                record.org_checks.email = CheckStatus.PASSED
            if everything or phone:
                record.org_checks.phone = CheckStatus.PASSED
            record.stage = _stage_of(record)
            if record.stage is Stage.CA_REVIEW:
                self._issue(state, record)
            return record.public()

    def reject(self, instance_id: str, reason: str) -> ProviderApplication:
        if not reason.strip():
            raise ValueError("a rejection needs a reason the applicant can act on")
        with self._writing() as state:
            record = state.open_application(instance_id)
            record.stage = Stage.REJECTED
            record.rejection_reason = reason.strip()
            instance = state.instance(instance_id)
            failed = instance.model_copy(update={"status": InstanceStatus.VALIDATION_FAILED})
            state.instances[instance_id] = failed
            return record.public()

    # -- issuing ---------------------------------------------------------------------------------------------

    def _issue(self, state: _State, record: _SandboxApplication) -> None:
        now = self._now()
        record.certificate = self._sign(record, now)
        record.stage = Stage.ISSUED
        instance = state.instance(record.instance_id)
        start = instance.service_start or now.date()
        end = instance.service_end or _add_years(now.date(), instance.validity_years)
        state.instances[instance.id] = instance.model_copy(
            update={"status": InstanceStatus.ISSUED, "service_start": start, "service_end": end}
        )

    def _sign(self, record: _SandboxApplication, now: datetime) -> IssuedCertificate:
        issuer_key = load_private_key(self.directory / _ISSUING_KEY)
        issuer = _load_certificate(self.directory / _ISSUING_CERT)
        public_key = x509.load_pem_x509_csr(record.csr_pem.encode("ascii")).public_key()
        algorithm = key_algorithm_of(public_key)
        if algorithm is None:  # submit refuses such CSRs; this guards a hand-edited state file
            raise ProviderError(f"the CSR on instance {record.instance_id} has an unsupported key")
        not_before = now
        # A10: the Baseline Requirements count both notBefore and notAfter, so N days end one second early.
        not_after = not_before + timedelta(days=max_lifetime_days(not_before.date())) - timedelta(seconds=1)
        subject = subject_for(record.domains)
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
            .add_extension(san_for(record.domains), critical=san_is_critical(subject))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(_authority_key_id(issuer), critical=False)
            .sign(issuer_key, hashes.SHA384())
        )
        return IssuedCertificate(
            serial=format(certificate.serial_number, "x"),
            not_before=not_before,
            not_after=not_after,
            sans=[domain.ascii for domain in record.domains],
            key_algorithm=algorithm,
            cert_pem=_pem(certificate),
            chain_pem=_pem(issuer) + (self.directory / _ROOT_CERT).read_text("ascii"),
        )

    # -- CA setup --------------------------------------------------------------------------------------------

    def _create_ca(self, now: datetime) -> None:
        root_key = ec.generate_private_key(ec.SECP384R1())
        root = _ca_certificate(ROOT_NAME, root_key, root_key, None, now, ROOT_LIFETIME, path_length=None)
        issuing_key = ec.generate_private_key(ec.SECP384R1())
        issuing = _ca_certificate(ISSUING_NAME, issuing_key, root_key, root, now, ISSUING_LIFETIME, path_length=0)
        atomic_write_bytes(self.directory / _ROOT_KEY, private_key_bytes(root_key), mode=0o600)
        atomic_write_bytes(self.directory / _ISSUING_KEY, private_key_bytes(issuing_key), mode=0o600)
        atomic_write_bytes(self.directory / _ROOT_CERT, _pem(root).encode("ascii"))
        atomic_write_bytes(self.directory / _ISSUING_CERT, _pem(issuing).encode("ascii"))

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.directory / _STATE

    @property
    def _lock_path(self) -> Path:
        return self.directory / f"{_STATE}.lock"

    def _now(self) -> datetime:
        # Certificates carry whole seconds; recording the same instant keeps records equal to certificates.
        return self.clock.now().astimezone(UTC).replace(microsecond=0)

    def _require_initialised(self) -> None:
        if not self._state_path.exists():
            raise NotInitialised(f"the sandbox CA at {self.directory} is not set up: run `certops init`")
        self._require_ca_files()

    def _require_ca_files(self) -> None:
        missing = [name for name in _CA_FILES if not (self.directory / name).exists()]
        if missing:
            raise StoreCorrupted(
                f"the sandbox CA at {self.directory} has state but lacks {', '.join(missing)}; "
                "restore them or move the directory away and run `certops init`"
            )

    def _read_state(self) -> _State:
        self._require_initialised()
        return self._parse_state(read_json(self._state_path))

    def _parse_state(self, raw: object) -> _State:
        try:
            return _State.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise StoreCorrupted(
                f"{self._state_path} is not sandbox CA state ({where}: {first['msg']}); nothing was changed"
            ) from exc

    @contextmanager
    def _writing(self) -> Iterator[_State]:
        """The state, fresh and locked; written back atomically if the block changed it and raised nothing."""
        self._require_initialised()
        with FileLock(self._lock_path):
            previous = self._state_path.read_bytes()
            state = self._parse_state(read_json(self._state_path))
            yield state
            self._write_state(state, previous)

    def _write_state(self, state: _State, previous: bytes | None) -> None:
        content = state.model_dump_json(indent=2).encode("utf-8")
        if content == previous:
            return
        if previous is not None:
            # read_json's corruption message points users at this copy.
            atomic_write_bytes(self.directory / f"{_STATE}.bak", previous, mode=0o600)
        atomic_write_bytes(self._state_path, content, mode=0o600)


# -- combining -----------------------------------------------------------------------------------------------


def _source_ids(plan: CombinePlan) -> list[str]:
    """Every instance the plan consumes; plans list the current instance among the sources."""
    if plan.current_id in plan.source_ids:
        return list(plan.source_ids)
    return [plan.current_id, *plan.source_ids]


def _combined_id(request_key: str) -> str:
    return f"cas-merge-{hashlib.sha256(request_key.encode('utf-8')).hexdigest()[:12]}"


def _check_combinable(plan: CombinePlan, sources: Sequence[Instance]) -> None:
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


def _combined_instance(plan: CombinePlan, source_ids: list[str], combined_id: str) -> Instance:
    return Instance(
        id=combined_id,
        name=plan.name,
        brand=plan.brand,
        cert_type=plan.cert_type,
        status=InstanceStatus.PENDING_APPLICATION,
        validity_years=1,
        exact_quota=plan.quota.exact,
        wildcard_quota=plan.quota.wildcard,
        refundable=False,
        merged_from=list(source_ids),
    )


# -- applications --------------------------------------------------------------------------------------------


def _check_applicable(instance: Instance, latest: _SandboxApplication | None) -> None:
    if latest is not None and latest.in_progress:
        raise ProviderError(f"instance {instance.id} already has an application in progress ({latest.stage})")
    if instance.status not in _APPLICABLE:
        hint = "; activate it first" if instance.status is InstanceStatus.NOT_ACTIVATED else ""
        raise ProviderError(
            f"instance {instance.id} is {instance.status}: only pending_application or validation_failed "
            f"instances can be applied for{hint}"
        )


def _domain_check(domain: DomainName, method: ValidationMethod) -> DomainCheck:
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


def _org_checks(cert_type: CertType) -> OrgChecks:
    if cert_type is CertType.DV:
        return OrgChecks(email=CheckStatus.PASSED, phone=CheckStatus.PASSED)
    return OrgChecks()


def _find_check(record: _SandboxApplication, domain: str) -> DomainCheck:
    wanted = domain.strip().rstrip(".").casefold()
    for check, name in zip(record.domain_checks, record.domains, strict=True):
        if wanted in (check.domain.casefold(), name.unicode.casefold()):
            return check
    valid = ", ".join(check.domain for check in record.domain_checks)
    raise ProviderError(f"{domain} is not bound to the application on instance {record.instance_id}; it binds {valid}")


def _stage_of(record: _SandboxApplication) -> Stage:
    """The stage the checks put the application in (V2); CA_REVIEW means every check has passed."""
    if any(check.status is CheckStatus.PENDING for check in record.domain_checks):
        return Stage.DOMAIN_VERIFICATION
    if CheckStatus.PENDING in (record.org_checks.email, record.org_checks.phone):
        return Stage.ORGANISATION_VERIFICATION
    return Stage.CA_REVIEW


# -- X.509 ---------------------------------------------------------------------------------------------------


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


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without one
        return day.replace(year=day.year + years, day=28)


def _joined(reasons: Sequence[object]) -> str:
    return "; ".join(str(reason) for reason in reasons)
