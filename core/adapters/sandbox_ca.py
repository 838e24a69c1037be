"""The embedded sandbox CA: a stand-in for the certificate service and its CA staff (as Pebble is for ACME).

State lives in one directory: `state.json` (instances, applications, combinations done), the root and issuing
CA certificates and their keys. Every operation re-reads the state; writes take `state.json.lock`, so several
processes (CLI, bot, worker, tests) can share one sandbox.

The persisted state is in `sandbox_state`, the X.509 work in `sandbox_pki` and the CA's checks in
`sandbox_rules`; this module holds the provider and CA staff operations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from core.adapters import sandbox_rules as rules
from core.adapters.sandbox_pki import (
    ISSUING_LIFETIME,
    ISSUING_NAME,
    ROOT_LIFETIME,
    ROOT_NAME,
    create_ca,
    missing_ca_files,
    root_certificate_pem,
    sign_leaf,
)
from core.adapters.sandbox_state import SandboxApplication, SandboxState, StateFile
from core.errors import NotInitialised, ProviderError, StoreCorrupted
from core.model import (
    ApplicationRequest,
    CheckStatus,
    CombinePlan,
    DomainName,
    Instance,
    InstanceStatus,
    ProviderApplication,
    Stage,
)
from core.ports import Clock

__all__ = ["ISSUING_LIFETIME", "ISSUING_NAME", "ROOT_LIFETIME", "ROOT_NAME", "SandboxCA"]

_ACTIVATED = frozenset(
    {
        InstanceStatus.PENDING_APPLICATION,
        InstanceStatus.REVIEWING,
        InstanceStatus.VALIDATION_FAILED,
        InstanceStatus.ISSUED,
    }
)


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
        state_file = self._state_file
        with state_file.lock():
            if state_file.exists():
                self._require_ca_files()
                return False
            # No state yet: anything here is left over from an interrupted init, so start the CA afresh.
            create_ca(self.directory, self._now())
            state_file.write(SandboxState(), previous=None)
        return True

    def root_certificate_pem(self) -> str:
        self._require_initialised()
        return root_certificate_pem(self.directory)

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
            source_ids = rules.source_ids(plan)
            sources = [state.instance(source_id) for source_id in source_ids]
            rules.check_combinable(plan, sources)
            combined = rules.combined_instance(plan, source_ids, rules.combined_id(request_key))
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
        rules.check_submission(application, domains, csr_pem)
        with self._writing() as state:
            instance = state.instance(instance_id)
            rules.check_applicable(instance, state.latest(instance_id))
            record = SandboxApplication(
                instance_id=instance_id,
                stage=Stage.DOMAIN_VERIFICATION,
                domain_checks=[rules.domain_check(domain, application.validation_method) for domain in domains],
                org_checks=rules.org_checks(instance.cert_type),
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
                rules.find_check(record, domain).status = CheckStatus.PASSED
            if everything or email:
                record.org_checks.email = CheckStatus.PASSED
            if everything or phone:
                record.org_checks.phone = CheckStatus.PASSED
            record.stage = rules.stage_of(record)
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

    def _issue(self, state: SandboxState, record: SandboxApplication) -> None:
        now = self._now()
        record.certificate = sign_leaf(self.directory, record.instance_id, record.domains, record.csr_pem, now)
        record.stage = Stage.ISSUED
        instance = state.instance(record.instance_id)
        start = instance.service_start or now.date()
        end = instance.service_end or _add_years(now.date(), instance.validity_years)
        state.instances[instance.id] = instance.model_copy(
            update={"status": InstanceStatus.ISSUED, "service_start": start, "service_end": end}
        )

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def _state_file(self) -> StateFile:
        return StateFile(self.directory)

    def _now(self) -> datetime:
        # Certificates carry whole seconds; recording the same instant keeps records equal to certificates.
        return self.clock.now().astimezone(UTC).replace(microsecond=0)

    def _require_initialised(self) -> None:
        if not self._state_file.exists():
            raise NotInitialised(f"the sandbox CA at {self.directory} is not set up: run `certops init`")
        self._require_ca_files()

    def _require_ca_files(self) -> None:
        missing = missing_ca_files(self.directory)
        if missing:
            raise StoreCorrupted(
                f"the sandbox CA at {self.directory} has state but lacks {', '.join(missing)}; "
                "restore them or move the directory away and run `certops init`"
            )

    def _read_state(self) -> SandboxState:
        self._require_initialised()
        return self._state_file.read()

    @contextmanager
    def _writing(self) -> Iterator[SandboxState]:
        """The state, fresh and locked; written back atomically if the block changed it and raised nothing."""
        self._require_initialised()
        with self._state_file.writing() as state:
            yield state


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without one
        return day.replace(year=day.year + years, day=28)
