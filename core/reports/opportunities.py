"""Combination opportunities: instances of one brand and type that core.rules.combine lets be combined today."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from core.model import CertType, Instance, Quota
from core.rules.combine import combination_reasons, instance_reasons


@dataclass(frozen=True)
class Opportunity:
    """Instances of one brand and type that could be combined today (C1–C8 all hold for the whole group)."""

    brand: str
    cert_type: CertType
    instances: list[Instance]

    @property
    def quota(self) -> Quota:
        return sum((i.quota for i in self.instances), start=Quota(exact=0, wildcard=0))

    @property
    def applications_saved(self) -> int:
        return len(self.instances) - 1


def combination_opportunities(instances: Iterable[Instance]) -> list[Opportunity]:
    """Groups of ≥ 2 instances of one brand (case-insensitive) and type that core.rules.combine lets be combined
    together today; combining a group of n saves n − 1 CA applications."""
    groups: dict[tuple[str, CertType], list[Instance]] = defaultdict(list)
    for instance in instances:
        if not instance_reasons(instance, instance):
            groups[(instance.brand.casefold(), instance.cert_type)].append(instance)
    found = []
    for members in groups.values():
        members.sort(key=lambda i: i.id)
        if len(members) >= 2 and not combination_reasons(members[0], members[1:]):
            found.append(Opportunity(brand=members[0].brand, cert_type=members[0].cert_type, instances=members))
    return sorted(found, key=lambda o: (-o.applications_saved, o.brand.casefold(), o.cert_type.value))
