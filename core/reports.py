"""Read models behind the ops reports (merge audit, backlog) and the service functions that load them.

`load_merge_audit(ports, ...)` and `load_backlog(ports, ...)` read the store and the audit log through `Ports`;
the `build_*` functions and everything else here are pure. Rules are never decided here: combinations are
re-checked with core.rules.combine, the review window is V1's. The notebooks in notebooks/ only render these
models; `merge_audit_summary` / `backlog_summary` give the JSON sidecar that the CLI and chat quote, and
`summary_lines` its headline.

Time: `as_of` is an instant (the clock port's now); `since` and `until` are local days in the calendar's time
zone, both included. The store keeps current state only, so an earlier `as_of` moves the report's "now" (elapsed
business days, the end of the period) but not the instances' statuses.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from core.calendar import BusinessCalendar
from core.errors import InvalidInput, StoreCorrupted
from core.model import (
    COMBINED_NAME_PREFIX,
    WAIVER_TEXT,
    Application,
    AuditEvent,
    CertType,
    CheckStatus,
    Combination,
    Instance,
    InstanceStatus,
    Quota,
    Reason,
    SourceSnapshot,
    Stage,
    ValidationMethod,
)
from core.ports import AuditLog
from core.rules.combine import combination_reasons, instance_reasons
from core.services.context import Ports
from core.services.review import REVIEW_WINDOW_BUSINESS_DAYS

DV_REVIEW_WINDOW = (1, 2)  # V1: DV review takes 1–2 business days, OV/EV 3–7
WEEKLY_AFTER_DAYS = 92  # a period longer than this is charted per week, not per day
REVIEW_STAGES = (Stage.DOMAIN_VERIFICATION, Stage.ORGANISATION_VERIFICATION, Stage.CA_REVIEW)
AGE_BUCKETS = ((0, 2), (3, 7), (8, 20), (21, 60))  # business days; anything above the last is "> 60"
NAMED_CHECKS = 3  # how many open domain checks a next action names before "and N more"

WindowState = Literal["before window", "in window", "overdue", "rejected"]


# ---- parameters: the period, the filters --------------------------------------------------------------------------


def parse_day(text: str | None, what: str) -> date | None:
    """A local day such as 2026-12-07; empty means none. Raises InvalidInput naming `what` (e.g. "--since")."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(f"{what} {text!r} is not a day such as 2026-12-07") from exc


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last microsecond of local `day`, in UTC."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return (next_midnight - timedelta(microseconds=1)).astimezone(UTC)


def parse_instant(text: str | None, zone: tzinfo, what: str = "--as-of") -> datetime | None:
    """An ISO-8601 time (without an offset: local to `zone`) or a day (its end, local to `zone`), in UTC."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        return end_of_day(date.fromisoformat(text), zone)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} {text!r} is not a day or a time such as 2026-12-07T18:00:00+08:00") from exc
    return (at if at.tzinfo is not None else at.replace(tzinfo=zone)).astimezone(UTC)


def resolve_as_of(as_of: str | None, until: str | None, zone: tzinfo, now: datetime) -> datetime:
    """The instant a report is taken at: `as_of` when given, else the end of `until` (never later than now),
    else now."""
    explicit = parse_instant(as_of, zone)
    if explicit is not None:
        return explicit
    last_day = parse_day(until, "--until")
    if last_day is not None:
        return min(end_of_day(last_day, zone), now.astimezone(UTC))
    return now.astimezone(UTC)


@dataclass(frozen=True)
class Period:
    as_of: datetime  # UTC
    since: date | None  # first local day included; None: from the beginning
    until: date  # last local day included

    def contains(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and day <= self.until


def report_period(calendar: BusinessCalendar, as_of: datetime, *, since: date | None, until: date | None) -> Period:
    """The period ends at `until`, or as_of's local day if that is earlier (a report does not see the future)."""
    last = calendar.local(as_of).date()
    until = last if until is None else min(until, last)
    if since is not None and since > until:
        raise InvalidInput(f"the period is empty: --since {since} is after --until {until} (or after --as-of)")
    return Period(as_of=as_of.astimezone(UTC), since=since, until=until)


@dataclass(frozen=True)
class Filters:
    brand: str | None = None  # compared case-insensitively, as the store does
    cert_type: CertType | None = None

    @classmethod
    def parse(cls, brand: str | None, cert_type: str | None) -> Filters:
        kind = (cert_type or "").strip().upper()
        if kind and kind not in CertType.__members__:
            raise InvalidInput(f"certificate type {cert_type!r} is not one of DV, OV, EV")
        return cls(brand=(brand or "").strip() or None, cert_type=CertType(kind) if kind else None)

    def matches(self, brand: str, cert_type: CertType) -> bool:
        brand_ok = self.brand is None or brand.casefold() == self.brand.casefold()
        return brand_ok and (self.cert_type is None or cert_type is self.cert_type)

    def as_json(self) -> dict[str, str | None]:
        return {"brand": self.brand, "cert_type": None if self.cert_type is None else self.cert_type.value}


def _period_json(period: Period) -> dict[str, str | None]:
    return {
        "as_of": period.as_of.isoformat(),
        "since": None if period.since is None else period.since.isoformat(),
        "until": period.until.isoformat(),
    }


class BusinessDaysTo:
    """Business days from a local day (exclusive) up to as_of's local day (inclusive): the same count as
    `BusinessCalendar.business_days_between`, computed once per calendar day for thousands of rows."""

    def __init__(self, calendar: BusinessCalendar, as_of: datetime) -> None:
        self._calendar = calendar
        self._end = calendar.local(as_of).date()
        self._lowest = self._end
        self._running = 0
        self._counts: dict[date, int] = {self._end: 0}

    def since_day(self, day: date) -> int:
        if day >= self._end:
            return 0
        while self._lowest > day:  # extend the running count backwards, one day at a time, once
            self._running += self._calendar.is_business_day(self._lowest)
            self._lowest -= timedelta(days=1)
            self._counts[self._lowest] = self._running
        return self._counts[day]

    def since(self, at: datetime) -> int:
        return self.since_day(self._calendar.local(at).date())


@dataclass(frozen=True)
class Series:
    """Counts per day, or per week (keyed by its Monday) for long periods."""

    unit: Literal["day", "week"]
    points: list[tuple[date, int]]


def count_series(days: Iterable[date], first: date, last: date) -> Series:
    """How many of `days` fall on each day (or week) from `first` to `last`, zeros included."""
    if last < first:
        first = last
    unit: Literal["day", "week"] = "week" if (last - first).days > WEEKLY_AFTER_DAYS else "day"

    def key(day: date) -> date:
        return day - timedelta(days=day.weekday()) if unit == "week" else day

    counts = Counter(key(day) for day in days if first <= day <= last)
    step = timedelta(days=7 if unit == "week" else 1)
    points: list[tuple[date, int]] = []
    current = key(first)
    while current <= last:
        points.append((current, counts.get(current, 0)))
        current += step
    return Series(unit=unit, points=points)


# ---- merge audit --------------------------------------------------------------------------------------------------


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


def snapshot_instance(snapshot: SourceSnapshot) -> Instance:
    """The source as it was recorded when it was combined, as an Instance the combine rules can check.

    Built without validation: a recorded status of "combined" has no merged_into to go with it, and a damaged
    record must still be checkable. Hosting was not recorded, so it reads as not hosted.
    """
    return Instance.model_construct(
        id=snapshot.id,
        name=snapshot.name,
        brand=snapshot.brand,
        cert_type=snapshot.cert_type,
        status=snapshot.status,
        validity_years=snapshot.validity_years,
        exact_quota=snapshot.exact_quota,
        wildcard_quota=snapshot.wildcard_quota,
        refundable=snapshot.refundable,
        hosted=False,
        merged_into=None,
        merged_from=[],
        service_start=None,
        service_end=None,
    )


def recheck_combination(
    combination: Combination,
    *,
    audit_entries: Sequence[AuditEvent],
    combined_into: Mapping[str, Sequence[str]],
    current: Mapping[str, Instance | None],
    latest_applications: Mapping[str, Application | None],
) -> list[Reason]:
    """Every rule of C1–C8 the recorded combination breaks, judged from its source snapshots (C1–C4, C8 through
    core.rules.combine), its record (C5, C6), its audit entry (C7) and what became of its sources (C8)."""
    sources = [snapshot_instance(s) for s in combination.sources]
    reasons = combination_reasons(sources[0], sources[1:]) if sources else [_no_sources(combination)]
    reasons += _quota_reasons(combination)
    reasons += _name_reasons(combination)
    reasons += _waiver_reasons(combination, audit_entries)
    reasons += _afterwards_reasons(combination, combined_into, current, latest_applications)
    return reasons


def _reason(rule: str, combination: Combination, message: str) -> Reason:
    return Reason(rule=rule, subject=combination.id, message=message)


def _no_sources(combination: Combination) -> Reason:
    return _reason("C8", combination, f"Combination {combination.id} records no source instances.")


def _quota_reasons(combination: Combination) -> list[Reason]:
    expected = (
        sum(s.exact_quota for s in combination.sources),
        sum(s.wildcard_quota for s in combination.sources),
    )
    got = combination.quota.exact, combination.quota.wildcard
    if got == expected:
        return []
    return [
        _reason(
            "C5",
            combination,
            f"{combination.result_id} has a quota of {got[0]} exact + {got[1]} wildcard, but its sources add up "
            f"to {expected[0]} exact + {expected[1]} wildcard.",
        )
    ]


def _name_reasons(combination: Combination) -> list[Reason]:
    if combination.result_name.startswith(COMBINED_NAME_PREFIX):
        return []
    message = f"{combination.result_id} is named {combination.result_name!r}, not {COMBINED_NAME_PREFIX}…."
    return [_reason("C6", combination, message)]


def _waiver_reasons(combination: Combination, entries: Sequence[AuditEvent]) -> list[Reason]:
    """C7: the refund waiver was confirmed with the exact text, and the audit log records who, when and what."""
    reasons: list[Reason] = []
    if combination.waiver_text != WAIVER_TEXT:
        reasons.append(_reason("C7", combination, f"The confirmed text {combination.waiver_text!r} is not the waiver."))
    if not entries:
        message = f"The audit log has no combine entry for {combination.result_id}: the confirmation is not recorded."
        return [*reasons, _reason("C7", combination, message)]
    entry = entries[0]
    if entry.actor != combination.actor:
        message = f"The audit log names {entry.actor} as the actor, the store {combination.actor}."
        reasons.append(_reason("C7", combination, message))
    if entry.details.get("waiver_text") != WAIVER_TEXT:
        reasons.append(_reason("C7", combination, "The audit entry does not record the confirmed waiver text."))
    recorded = entry.details.get("sources")
    if not isinstance(recorded, list) or sorted(map(str, recorded)) != sorted(combination.source_ids):
        message = f"The audit entry lists the instances {recorded}, the store {combination.source_ids}."
        reasons.append(_reason("C7", combination, message))
    if len(entries) > 1:
        reasons.append(_reason("C8", combination, f"The audit log records {len(entries)} combinations into it."))
    return reasons


def _afterwards_reasons(
    combination: Combination,
    combined_into: Mapping[str, Sequence[str]],
    current: Mapping[str, Instance | None],
    latest_applications: Mapping[str, Application | None],
) -> list[Reason]:
    """C8 (and C7's "no refund") after the fact: each source combined once, never applied for again."""
    reasons: list[Reason] = []
    for source_id in combination.source_ids:
        for other in combined_into.get(source_id, ()):
            if other != combination.result_id:
                message = f"Instance {source_id} was also combined into {other}; an instance is combined at most once."
                reasons.append(_reason("C8", combination, message))
        now = current.get(source_id)
        if now is None:
            reasons.append(_reason("C8", combination, f"Source {source_id} is no longer in the store."))
        elif now.merged_into != combination.result_id or now.status is not InstanceStatus.COMBINED:
            message = (
                f"Source {source_id} is now {now.status.value}"
                + (f" (merged into {now.merged_into})" if now.merged_into else "")
                + f" instead of combined into {combination.result_id}."
            )
            reasons.append(_reason("C8", combination, message))
        elif now.refundable:
            reasons.append(_reason("C7", combination, f"Source {source_id} is still marked refundable."))
        applied = latest_applications.get(source_id)
        if applied is not None and applied.submitted_at > combination.at:
            message = f"Source {source_id} was applied for ({applied.id}) after it was combined."
            reasons.append(_reason("C8", combination, message))
    return reasons


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


def merge_audit_summary(audit: MergeAudit) -> dict[str, Any]:
    """The figures the JSON sidecar carries (and that the chat message and the CLI quote)."""
    quota = audit.quota
    return {
        "report": "merge-audit",
        **_period_json(audit.period),
        "filters": audit.filters.as_json(),
        "combinations": len(audit.combinations),
        "sources_combined": audit.sources_combined,
        "applications_saved": audit.applications_saved,
        "quota": {"exact": quota.exact, "wildcard": quota.wildcard},
        "actors": audit.by_actor(),
        "by_kind": audit.by_kind(),
        "flagged": len(audit.flagged),
        "violations": [
            {"combination": c.combination.id, "rule": r.rule, "subject": r.subject, "message": r.message}
            for c in audit.flagged
            for r in c.violations
        ],
        "audit_chain": {
            "entries": audit.chain.entries,
            "intact": audit.chain.intact,
            "first_bad": audit.chain.first_bad,
            "problem": audit.chain.problem,
        },
    }


# ---- backlog ------------------------------------------------------------------------------------------------------


def review_window(cert_type: CertType) -> tuple[int, int]:
    """V1: business days the CA usually takes, (fewest, most)."""
    return DV_REVIEW_WINDOW if cert_type is CertType.DV else REVIEW_WINDOW_BUSINESS_DAYS


@dataclass(frozen=True)
class Waiting:
    """An instance in pending application. It has no purchase date in general, so its wait counts from its
    service start when the provider reported one, and is unknown otherwise."""

    instance: Instance
    business_days: int | None


@dataclass(frozen=True)
class ReviewRow:
    """An instance's latest application: in review, or rejected and not yet resubmitted."""

    application: Application
    instance: Instance
    business_days: int  # in review: since submission; rejected: since the rejection
    window: tuple[int, int]
    next_action: str

    @property
    def owner(self) -> str:
        return self.application.actor

    @property
    def state(self) -> WindowState:
        if self.application.stage is Stage.REJECTED:
            return "rejected"
        fewest, most = self.window
        if self.business_days > most:
            return "overdue"
        return "in window" if self.business_days >= fewest else "before window"

    @property
    def stalled(self) -> bool:
        return self.state in ("overdue", "rejected")

    @property
    def escalated(self) -> bool:
        return self.application.escalation_level > 0


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    count: int
    before_window: int
    in_window: int
    overdue: int
    median_days: float | None
    max_days: int | None


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


@dataclass(frozen=True)
class Activity:
    """What happened in the period: applications submitted, issued, rejected; combinations made."""

    submitted: int = 0
    issued: int = 0
    rejected: int = 0
    combined: int = 0


@dataclass(frozen=True)
class Backlog:
    period: Period
    filters: Filters
    instances: int
    by_status: dict[str, int]
    by_brand: dict[str, int]
    by_type: dict[str, int]
    waiting: list[Waiting]  # longest wait first, unknown last
    in_review: list[ReviewRow]  # longest in review first
    rejected: list[ReviewRow]
    opportunities: list[Opportunity]  # most applications saved first
    activity: Activity

    @property
    def stalled(self) -> list[ReviewRow]:
        return [r for r in self.in_review if r.stalled] + self.rejected

    @property
    def escalated(self) -> list[ReviewRow]:
        return [r for r in [*self.in_review, *self.rejected] if r.escalated]

    def stages(self) -> list[StageRow]:
        rows = []
        for stage in REVIEW_STAGES:
            members = [r for r in self.in_review if r.application.stage is stage]
            states = Counter(r.state for r in members)
            days = [r.business_days for r in members]
            rows.append(
                StageRow(
                    stage=stage,
                    count=len(members),
                    before_window=states["before window"],
                    in_window=states["in window"],
                    overdue=states["overdue"],
                    median_days=statistics.median(days) if days else None,
                    max_days=max(days, default=None),
                )
            )
        return rows

    def waiting_ages(self) -> list[tuple[str, int]]:
        """How many pending instances waited how long (business days), in buckets; unknown last."""
        labels = [f"{low}–{high}" for low, high in AGE_BUCKETS] + [f"> {AGE_BUCKETS[-1][1]}", "unknown"]
        counts = Counter(_age_bucket(w.business_days) for w in self.waiting)
        return [(label, counts.get(index, 0)) for index, label in enumerate(labels)]


def _age_bucket(days: int | None) -> int:
    if days is None:
        return len(AGE_BUCKETS) + 1
    return next((n for n, (_, high) in enumerate(AGE_BUCKETS) if days <= high), len(AGE_BUCKETS))


def next_action(application: Application) -> str:
    """What would move the application on: the open checks, or the CA's reason for a rejection. Names the contact
    but never their phone number or email (reports are posted to a channel)."""
    if application.stage is Stage.REJECTED:
        reason = application.rejection_reason or "no reason given"
        return f"fix what the CA names ({reason}) and apply again on {application.instance_id}"
    todo = []
    pending = [c.domain for c in application.domain_checks if c.status is CheckStatus.PENDING]
    if pending:
        what = "DNS record" if application.validation_method is ValidationMethod.DNS else "verification file"
        named = ", ".join(pending[:NAMED_CHECKS]) + (
            f" and {len(pending) - NAMED_CHECKS} more" if len(pending) > NAMED_CHECKS else ""
        )
        todo.append(f"publish the {what}s for {named}")
    contact = application.contact.name
    if application.org_checks.email is CheckStatus.PENDING:
        todo.append(f"{contact} answers the CA's verification email")
    if application.org_checks.phone is CheckStatus.PENDING:
        todo.append(f"{contact} takes (or returns) the CA's verification call")
    return "; ".join(todo) or "nothing open on our side: the CA is reviewing (ask the CA if overdue)"


def review_row(application: Application, instance: Instance, days: BusinessDaysTo) -> ReviewRow:
    if application.stage is Stage.REJECTED and application.stage_history:
        elapsed = days.since(application.stage_history[-1].at)
    else:
        elapsed = days.since(application.submitted_at)
    return ReviewRow(
        application=application,
        instance=instance,
        business_days=elapsed,
        window=review_window(instance.cert_type),
        next_action=next_action(application),
    )


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


def _counts_by_brand(instances: Sequence[Instance]) -> dict[str, int]:
    spelling: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for instance in instances:
        key = instance.brand.casefold()
        spelling.setdefault(key, instance.brand)
        counts[key] += 1
    return {spelling[key]: n for key, n in counts.most_common()}


def _activity(
    applications: Iterable[Application], combinations: Iterable[Combination], calendar: BusinessCalendar, period: Period
) -> Activity:
    def inside(at: datetime) -> bool:
        return at <= period.as_of and period.contains(calendar.local(at).date())

    submitted = issued = rejected = 0
    for application in applications:
        submitted += inside(application.submitted_at)
        for change in application.stage_history:
            if inside(change.at):
                issued += change.stage is Stage.ISSUED
                rejected += change.stage is Stage.REJECTED
    combined = sum(inside(c.at) for c in combinations)
    return Activity(submitted=submitted, issued=issued, rejected=rejected, combined=combined)


def build_backlog(
    instances: Sequence[Instance],
    applications: Sequence[Application],
    combinations: Sequence[Combination],
    *,
    calendar: BusinessCalendar,
    period: Period,
    filters: Filters,
) -> Backlog:
    chosen = [i for i in instances if filters.matches(i.brand, i.cert_type)]
    by_id = {i.id: i for i in chosen}
    days = BusinessDaysTo(calendar, period.as_of)
    latest: dict[str, Application] = {}
    for application in sorted(applications, key=lambda a: (a.submitted_at, a.id)):
        if application.instance_id in by_id:
            latest[application.instance_id] = application
    in_review, rejected = [], []
    for instance_id, application in latest.items():
        instance = by_id[instance_id]
        if application.in_progress:
            in_review.append(review_row(application, instance, days))
        elif application.stage is Stage.REJECTED and instance.status is InstanceStatus.VALIDATION_FAILED:
            rejected.append(review_row(application, instance, days))
    waiting = [
        Waiting(instance=i, business_days=None if i.service_start is None else days.since_day(i.service_start))
        for i in chosen
        if i.status is InstanceStatus.PENDING_APPLICATION
    ]
    statuses = Counter(i.status for i in chosen)
    types = Counter(i.cert_type for i in chosen)
    return Backlog(
        period=period,
        filters=filters,
        instances=len(chosen),
        by_status={s.value: statuses.get(s, 0) for s in InstanceStatus},
        by_brand=_counts_by_brand(chosen),
        by_type={t.value: types.get(t, 0) for t in CertType},
        waiting=sorted(waiting, key=lambda w: (w.business_days is None, -(w.business_days or 0), w.instance.id)),
        in_review=sorted(in_review, key=lambda r: (-r.business_days, r.application.id)),
        rejected=sorted(rejected, key=lambda r: (-r.business_days, r.application.id)),
        opportunities=combination_opportunities(chosen),
        activity=_activity(
            [a for a in applications if a.instance_id in by_id],
            [c for c in combinations if filters.matches(c.brand, c.cert_type)],
            calendar,
            period,
        ),
    )


def load_backlog(
    ports: Ports, *, since: date | None = None, until: date | None = None, filters: Filters | None = None
) -> Backlog:
    """The backlog as of the clock's now; `since` / `until` bound only the period's activity counts."""
    filters = filters or Filters()
    period = report_period(ports.calendar, ports.clock.now(), since=since, until=until)
    with ports.unit_of_work(read_only=True) as uow:
        instances = uow.instances.list()
        applications = uow.applications.list()
        combinations = uow.combinations.list()
    return build_backlog(instances, applications, combinations, calendar=ports.calendar, period=period, filters=filters)


def backlog_summary(backlog: Backlog) -> dict[str, Any]:
    """The figures the JSON sidecar carries (and that the chat message and the CLI quote)."""
    known = [w.business_days for w in backlog.waiting if w.business_days is not None]
    states = Counter(r.state for r in backlog.in_review)
    escalated = backlog.escalated
    return {
        "report": "backlog",
        **_period_json(backlog.period),
        "filters": backlog.filters.as_json(),
        "instances": backlog.instances,
        "by_status": backlog.by_status,
        "by_brand": backlog.by_brand,
        "by_type": backlog.by_type,
        "waiting": {
            "count": len(backlog.waiting),
            "known": len(known),
            "unknown": len(backlog.waiting) - len(known),
            "max_business_days": max(known, default=None),
            "median_business_days": statistics.median(known) if known else None,
        },
        "in_review": {
            "count": len(backlog.in_review),
            "by_stage": {row.stage.value: row.count for row in backlog.stages()},
            "before_window": states["before window"],
            "in_window": states["in window"],
            "overdue": states["overdue"],
        },
        "stalled": len(backlog.stalled),
        "rejected": len(backlog.rejected),
        "escalated": len(escalated),
        "escalated_unacknowledged": sum(r.application.acknowledged is None for r in escalated),
        "opportunities": {
            "groups": len(backlog.opportunities),
            "instances": sum(len(o.instances) for o in backlog.opportunities),
            "applications_saved": sum(o.applications_saved for o in backlog.opportunities),
        },
        "activity": {
            "submitted": backlog.activity.submitted,
            "issued": backlog.activity.issued,
            "rejected": backlog.activity.rejected,
            "combined": backlog.activity.combined,
        },
    }


# ---- headline -----------------------------------------------------------------------------------------------------


def _as_of_text(summary: Mapping[str, Any]) -> str:
    return datetime.fromisoformat(summary["as_of"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span_text(summary: Mapping[str, Any]) -> str:
    since = summary.get("since")
    return f"{since} to {summary['until']}" if since else f"up to {summary['until']}"


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The headline figures of a report's JSON summary, one sentence a line (CLI output, chat message)."""
    if summary.get("report") == "merge-audit":
        return _merge_audit_lines(summary)
    if summary.get("report") == "backlog":
        return _backlog_lines(summary)
    raise ValueError(f"not a report summary: {summary.get('report')!r}")


def _merge_audit_lines(s: Mapping[str, Any]) -> list[str]:
    quota, chain = s["quota"], s["audit_chain"]
    lines = [
        f"Merge audit {_span_text(s)} (as of {_as_of_text(s)}): {s['combinations']} combination(s) of "
        f"{s['sources_combined']} instance(s) by {len(s['actors'])} person(s), saving {s['applications_saved']} CA "
        f"application(s); combined quota {quota['exact']} exact + {quota['wildcard']} wildcard.",
    ]
    if s["flagged"]:
        rules = sorted({v["rule"] for v in s["violations"]})
        lines.append(f"Rule re-check: {s['flagged']} combination(s) break {', '.join(rules)}; see the report.")
    else:
        lines.append("Rule re-check: every combination holds C1–C8.")
    if chain["intact"]:
        lines.append(f"Audit log: {chain['entries']} entries, hash chain intact.")
    else:
        lines.append(f"Audit log: hash chain BROKEN at entry {chain['first_bad']}: {chain['problem']}.")
    return lines


def _waiting_text(waiting: Mapping[str, Any]) -> str:
    if not waiting["count"]:
        return "none pending application"
    if not waiting["known"]:
        return f"{waiting['count']} pending application (waiting time unknown: no service start recorded)"
    unknown = f", {waiting['unknown']} without a service start" if waiting["unknown"] else ""
    return (
        f"{waiting['count']} pending application (longest waiting {waiting['max_business_days']} business "
        f"day(s){unknown})"
    )


def _backlog_lines(s: Mapping[str, Any]) -> list[str]:
    review, chances, activity = s["in_review"], s["opportunities"], s["activity"]
    return [
        f"Backlog as of {_as_of_text(s)}: {s['instances']} instance(s); {_waiting_text(s['waiting'])}.",
        f"In review: {review['count']} ({review['overdue']} past the review window); stalled {s['stalled']} "
        f"(rejected {s['rejected']}); escalated {s['escalated']} ({s['escalated_unacknowledged']} not acknowledged).",
        f"Could be combined today: {chances['instances']} instance(s) in {chances['groups']} group(s), "
        f"saving {chances['applications_saved']} CA application(s).",
        f"In the period {_span_text(s)}: {activity['submitted']} application(s) submitted, {activity['issued']} "
        f"issued, {activity['rejected']} rejected; {activity['combined']} combination(s).",
    ]
