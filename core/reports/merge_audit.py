"""The merge audit: the period's combinations, each re-checked against C1–C8, and the audit log's hash chain."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from core.calendar import BusinessCalendar
from core.errors import StoreCorrupted
from core.model import Application, AuditEvent, CertType, Combination, Instance, Quota, Reason
from core.ports import AuditLog
from core.reports.filters import Filters
from core.reports.merge_recheck import recheck_combination
from core.reports.period import Period, report_period
from core.reports.series import Series, count_series
from core.services.context import Ports


@dataclass(frozen=True)
class ChainCheck:
    """The audit log's hash chain: `entries` good entries, or broken at entry `entries` for `problem`."""

    entries: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def first_bad(self) -> int | None:
        return None if self.problem is None else self.entries


@dataclass(frozen=True)
class AuditedCombination:
    combination: Combination
    day: date  # local day it happened
    violations: list[Reason]

    @property
    def applications_saved(self) -> int:
        return max(len(self.combination.sources) - 1, 0)


@dataclass(frozen=True)
class MergeAudit:
    period: Period
    filters: Filters
    combinations: list[AuditedCombination]
    chain: ChainCheck

    @property
    def sources_combined(self) -> int:
        return sum(len(c.combination.sources) for c in self.combinations)

    @property
    def applications_saved(self) -> int:
        return sum(c.applications_saved for c in self.combinations)

    @property
    def quota(self) -> Quota:
        return sum((c.combination.quota for c in self.combinations), start=Quota(exact=0, wildcard=0))

    @property
    def flagged(self) -> list[AuditedCombination]:
        return [c for c in self.combinations if c.violations]

    def by_actor(self) -> dict[str, int]:
        return dict(Counter(c.combination.actor for c in self.combinations).most_common())

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(_kind(c.combination.brand, c.combination.cert_type) for c in self.combinations))

    def series(self) -> Series:
        days = [c.day for c in self.combinations]
        first = self.period.since or min(days, default=self.period.until)
        return count_series(days, first, self.period.until)


def _kind(brand: str, cert_type: CertType) -> str:
    return f"{brand} {cert_type.value}"


def build_merge_audit(
    combinations: Sequence[Combination],
    *,
    audit_entries: Mapping[str, Sequence[AuditEvent]],
    current: Mapping[str, Instance | None],
    latest_applications: Mapping[str, Application | None],
    chain: ChainCheck,
    calendar: BusinessCalendar,
    period: Period,
    filters: Filters,
) -> MergeAudit:
    """`combinations` is every combination in the store (to see a source combined twice); the audit covers those
    in the period that match the filters, oldest first."""
    combined_into: dict[str, list[str]] = defaultdict(list)
    for combination in combinations:
        for source_id in combination.source_ids:
            combined_into[source_id].append(combination.result_id)
    audited = []
    for combination in sorted(combinations, key=lambda c: (c.at, c.id)):
        day = calendar.local(combination.at).date()
        if combination.at > period.as_of or not period.contains(day):
            continue
        if not filters.matches(combination.brand, combination.cert_type):
            continue
        violations = recheck_combination(
            combination,
            audit_entries=audit_entries.get(combination.result_id, ()),
            combined_into=combined_into,
            current=current,
            latest_applications=latest_applications,
        )
        audited.append(AuditedCombination(combination=combination, day=day, violations=violations))
    return MergeAudit(period=period, filters=filters, combinations=audited, chain=chain)


def combine_entries(audit: AuditLog) -> dict[str, list[AuditEvent]]:
    """The log's `combine` entries by combined instance id. Stops at a line that is not an entry: the chain check
    reports where."""
    found: dict[str, list[AuditEvent]] = defaultdict(list)
    entries: Iterator[AuditEvent] = audit.entries()
    while True:
        try:
            entry = next(entries)
        except (StopIteration, StoreCorrupted):
            return found
        if entry.action == "combine":
            found[entry.subject].append(entry)


def load_merge_audit(
    ports: Ports, *, since: date | None = None, until: date | None = None, filters: Filters | None = None
) -> MergeAudit:
    """The merge audit as of the clock's now: every combination in the period, re-checked, and the hash chain."""
    filters = filters or Filters()
    period = report_period(ports.calendar, ports.clock.now(), since=since, until=until)
    with ports.unit_of_work(read_only=True) as uow:
        combinations = uow.combinations.list()
        source_ids = {s for c in combinations for s in c.source_ids if filters.matches(c.brand, c.cert_type)}
        current = {i: uow.instances.get(i) for i in source_ids}
        latest = {i: uow.applications.latest_for_instance(i) for i in source_ids}
    count, problem = ports.audit.verify()
    return build_merge_audit(
        combinations,
        audit_entries=combine_entries(ports.audit),
        current=current,
        latest_applications=latest,
        chain=ChainCheck(entries=count, problem=problem),
        calendar=ports.calendar,
        period=period,
        filters=filters,
    )
