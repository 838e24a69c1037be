"""Importing, listing and activating purchased instances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.errors import InvalidInput, NotFound
from core.model import CertType, Instance, InstanceStatus
from core.ports import UnitOfWork
from core.services.context import Ports, require_actor


@dataclass(frozen=True)
class ImportResult:
    added: list[str]
    unchanged: list[str]


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "record"
    return f"{where}: {first['msg']}"


def parse_records(records: Any) -> list[Instance]:
    """Validate a whole import file; the first bad record rejects it, named by position and id."""
    if not isinstance(records, list):
        raise InvalidInput("an import file holds a JSON list of instance records")
    instances: list[Instance] = []
    seen: set[str] = set()
    for position, record in enumerate(records, start=1):
        label = f"record {position}" + (f" (id {record.get('id')!r})" if isinstance(record, dict) else "")
        if not isinstance(record, dict):
            raise InvalidInput(f"{label} is not a JSON object; nothing was imported")
        try:
            instance = Instance.model_validate(record)
        except ValidationError as exc:
            raise InvalidInput(f"{label} is invalid: {_describe(exc)}; nothing was imported") from exc
        if instance.id in seen:
            raise InvalidInput(f"{label}: id {instance.id} appears twice in the file; nothing was imported")
        seen.add(instance.id)
        instances.append(instance)
    return instances


def import_instances(ports: Ports, records: Any, actor: str) -> ImportResult:
    actor = require_actor(actor)
    instances = parse_records(records)
    with ports.unit_of_work() as uow:
        added, unchanged = _split_known(uow, instances)
        if added:
            ports.provider.add_instances(added)
            for instance in added:
                uow.instances.put(instance)
            ports.audit.append(
                at=ports.clock.now(),
                actor=actor,
                action="instances.import",
                subject=f"{len(added)} instance(s)",
                details={"ids": [i.id for i in added]},
            )
            uow.commit()
    return ImportResult(added=[i.id for i in added], unchanged=[i.id for i in unchanged])


def _split_known(uow: UnitOfWork, instances: Sequence[Instance]) -> tuple[list[Instance], list[Instance]]:
    added: list[Instance] = []
    unchanged: list[Instance] = []
    for instance in instances:
        known = uow.instances.get(instance.id)
        if known is None:
            added.append(instance)
        elif known == instance:
            unchanged.append(instance)
        else:
            raise InvalidInput(
                f"instance {instance.id} already exists with different data; nothing was imported "
                "(certops keeps the provider's state: run `certops sync` instead of re-importing changes)"
            )
    return added, unchanged


def list_instances(
    ports: Ports,
    *,
    status: InstanceStatus | None = None,
    brand: str | None = None,
    cert_type: CertType | None = None,
) -> list[Instance]:
    with ports.unit_of_work(read_only=True) as uow:
        return uow.instances.list(status=status, brand=brand, cert_type=cert_type)


def get_instance(uow: UnitOfWork, instance_id: str) -> Instance:
    instance = uow.instances.get(instance_id)
    if instance is None:
        raise NotFound(f"no instance {instance_id}: `certops instances list` shows the ids")
    return instance


def activate(ports: Ports, instance_id: str, actor: str) -> Instance:
    """Not activated -> pending application (the console's "Apply for Certificate" above the list)."""
    actor = require_actor(actor)
    with ports.unit_of_work() as uow:
        before = get_instance(uow, instance_id)
        if before.status is InstanceStatus.PENDING_APPLICATION:
            return before  # already activated: asking again changes nothing
        if before.status is not InstanceStatus.NOT_ACTIVATED:
            raise InvalidInput(
                f"instance {instance_id} is {before.status.value}; only a not-activated instance is activated"
            )
        after = ports.provider.activate(instance_id)
        ports.audit.append(
            at=ports.clock.now(), actor=actor, action="instance.activate", subject=instance_id, details={}
        )
        uow.instances.put(after)
        uow.commit()
        return after
