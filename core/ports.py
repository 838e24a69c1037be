"""The ports core services talk through. Adapters implement them; tests use fakes or the real adapters.

Each method states what it raises and whether calling it twice is safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from core.model import (
    Application,
    ApplicationRequest,
    AuditEvent,
    CertType,
    ChatThread,
    Combination,
    CombinePlan,
    DomainName,
    Handover,
    Instance,
    InstanceStatus,
    KeyAlgorithm,
    Notice,
    ProviderApplication,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""


class InstanceRepository(Protocol):
    def get(self, instance_id: str) -> Instance | None: ...

    def list(
        self,
        *,
        status: InstanceStatus | None = None,
        brand: str | None = None,
        cert_type: CertType | None = None,
    ) -> list[Instance]:
        """Instances matching every given filter (brand compared case-insensitively), sorted by id."""

    def put(self, instance: Instance) -> None:
        """Insert or replace by id. Idempotent."""


class CombinationRepository(Protocol):
    def get_by_request_key(self, request_key: str) -> Combination | None: ...

    def get_by_result(self, result_id: str) -> Combination | None: ...

    def list(self) -> list[Combination]:
        """Every combination, oldest first."""

    def add(self, combination: Combination) -> None:
        """Raises ValueError if a combination with the same request key exists."""


class ApplicationRepository(Protocol):
    def get(self, application_id: str) -> Application | None: ...

    def latest_for_instance(self, instance_id: str) -> Application | None: ...

    def list(self, *, in_progress: bool | None = None) -> list[Application]: ...

    def put(self, application: Application) -> None:
        """Insert or replace by id. Idempotent."""


class HandoverRepository(Protocol):
    def get(self, request_key: str) -> Handover | None: ...

    def put(self, handover: Handover) -> None:
        """Insert or replace by request key. Idempotent."""

    def list(self) -> list[Handover]:
        """Open hand-overs, oldest first."""

    def remove(self, request_key: str) -> None: ...


class NoticeRepository(Protocol):
    def get(self, key: str) -> Notice | None: ...

    def add(self, notice: Notice) -> bool:
        """Store a new notice; False (and no change) if one with the same key exists. Idempotent."""

    def put(self, notice: Notice) -> None:
        """Replace a stored notice by key."""

    def unsent(self) -> list[Notice]:
        """Notices not delivered yet, oldest due first."""

    def for_application(self, application_id: str) -> list[Notice]: ...


class UnitOfWork(Protocol):
    """One consistent view of the store. Entering takes the cross-process write lock (unless read-only)
    and reads the data fresh; `commit` writes everything atomically; leaving without commit discards.

    Raises NotInitialised when the data directory was never set up and StoreCorrupted when a data file
    cannot be read. Never starts from an empty store by accident.
    """

    instances: InstanceRepository
    combinations: CombinationRepository
    applications: ApplicationRepository
    notices: NoticeRepository
    handovers: HandoverRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def seen(self, key: str) -> bool:
        """Whether an idempotency key was recorded (Slack event ids, notification keys)."""

    def remember(self, key: str, at: datetime) -> None:
        """Record an idempotency key; written with the next commit."""

    def forget(self, prefix: str, before: datetime) -> int:
        """Drop idempotency keys starting with `prefix` recorded before `before`; returns how many."""


class AuditLog(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, subject: str, details: dict[str, object]) -> AuditEvent:
        """Append one entry to the hash chain and flush it to disk before returning. Not idempotent:
        each call is one more entry. Raises CertopsError when the log cannot be written."""

    def entries(self) -> Iterator[AuditEvent]: ...

    def verify(self) -> tuple[int, str | None]:
        """(number of good entries, None) when the chain holds, else (index of the first bad entry, why)."""


class KeyVault(Protocol):
    """Private keys certops generates for users (A7: "generated for the user, the key is then held for them")."""

    def create_key_and_csr(self, key_id: str, algorithm: KeyAlgorithm, domains: Sequence[DomainName]) -> str:
        """Generate a key (stored with mode 0600) and return a PEM CSR for the domains. Calling it again
        with the same key_id replaces nothing and returns a CSR for the existing key."""

    def private_key_pem(self, key_id: str) -> bytes | None: ...


class CertificateProvider(Protocol):
    """The certificate service: the embedded sandbox CA, or Alibaba Cloud CAS."""

    name: str

    def list_instances(self) -> list[Instance]:
        """Every instance the account holds. Raises ProviderUnavailable."""

    def add_instances(self, instances: Sequence[Instance]) -> None:
        """Make purchased instances known to the provider (the sandbox's purchase). Idempotent per id.
        Raises OperationNotSupported where purchases happen elsewhere."""

    def activate(self, instance_id: str) -> Instance:
        """Not activated -> pending application. Idempotent. Raises ProviderError, ProviderUnavailable."""

    def combine(self, plan: CombinePlan, request_key: str) -> Instance:
        """Perform a combination and return the new instance. Idempotent per request_key: a repeated call
        returns the instance the first call made. Raises OperationNotSupported (CAS: console only),
        ProviderError when the provider refuses."""

    def submit(
        self, application: ApplicationRequest, domains: Sequence[DomainName], csr_pem: str
    ) -> ProviderApplication:
        """Send an application to the CA. Raises ProviderError (refused, or one already in progress)."""

    def application(self, instance_id: str) -> ProviderApplication | None:
        """The latest application on the instance as the CA sees it. Raises ProviderUnavailable."""


class TlsProber(Protocol):
    def probe(self, host: str, port: int, server_name: str, trust_pem: str) -> tuple[bytes | None, bool, str | None]:
        """Handshake with host:port using SNI `server_name`. Returns (the served leaf certificate as DER, or
        None if no handshake happened; whether the presented chain verified against `trust_pem`; the error a
        person should read, or None). Never raises for network or TLS failures; they come back as the error."""


class Notifier(Protocol):
    """Delivers notices to people (the team chat)."""

    def send(self, notice: Notice, application: Application, instance: Instance) -> ChatThread | None:
        """Post the notice in the application's thread (creating the thread when it has none yet, and then
        returning it), and to the notice's audience. Raises NotifierError when it could not be delivered;
        the caller retries later. Not idempotent: the caller's dedupe keys make it once-only."""
