"""The sandbox CA's persisted state: instances, applications and combinations done, kept in `state.json`.

`StateFile` reads the file fresh each time and writes it back under `state.json.lock`, keeping the previous
content as `state.json.bak`, so several processes can share one sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, Field, ValidationError

from core.adapters.files import atomic_write_bytes, read_json
from core.errors import NotFound, ProviderError, StoreCorrupted
from core.model import DomainName, Instance, ProviderApplication, Stage

_STATE = "state.json"


class SandboxApplication(ProviderApplication):
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


class SandboxState(BaseModel):
    version: int = 1
    instances: dict[str, Instance] = Field(default_factory=dict)
    applications: dict[str, list[SandboxApplication]] = Field(default_factory=dict)  # oldest first
    combines: dict[str, str] = Field(default_factory=dict)  # request key -> combined instance id

    def instance(self, instance_id: str) -> Instance:
        try:
            return self.instances[instance_id]
        except KeyError:
            raise NotFound(f"the sandbox CA has no instance {instance_id}") from None

    def latest(self, instance_id: str) -> SandboxApplication | None:
        attempts = self.applications.get(instance_id)
        return attempts[-1] if attempts else None

    def open_application(self, instance_id: str) -> SandboxApplication:
        self.instance(instance_id)
        latest = self.latest(instance_id)
        if latest is None:
            raise ProviderError(f"instance {instance_id} has no application with the sandbox CA")
        if not latest.in_progress:
            raise ProviderError(f"the application on instance {instance_id} is {latest.stage}, not open")
        return latest


class StateFile:
    """`state.json` in a sandbox directory, with its lock and its backup copy."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def path(self) -> Path:
        return self.directory / _STATE

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{_STATE}.lock"

    def exists(self) -> bool:
        return self.path.exists()

    def lock(self) -> FileLock:
        return FileLock(self.lock_path)

    def read(self) -> SandboxState:
        return self._parse(read_json(self.path))

    @contextmanager
    def writing(self) -> Iterator[SandboxState]:
        """The state, fresh and locked; written back atomically if the block changed it and raised nothing."""
        with self.lock():
            previous = self.path.read_bytes()
            state = self._parse(read_json(self.path))
            yield state
            self.write(state, previous)

    def write(self, state: SandboxState, previous: bytes | None) -> None:
        """Write `state` unless it serialises to `previous`; callers hold the lock."""
        content = state.model_dump_json(indent=2).encode("utf-8")
        if content == previous:
            return
        if previous is not None:
            # read_json's corruption message points users at this copy.
            atomic_write_bytes(self.directory / f"{_STATE}.bak", previous, mode=0o600)
        atomic_write_bytes(self.path, content, mode=0o600)

    def _parse(self, raw: object) -> SandboxState:
        try:
            return SandboxState.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise StoreCorrupted(
                f"{self.path} is not sandbox CA state ({where}: {first['msg']}); nothing was changed"
            ) from exc
