"""Plain-text views of core results for the terminal, and their JSON twins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.wording import STAGE_TEXT, quota_text
from core.model import Application, CheckStatus, Instance, Reason
from core.rules.combine import Candidates
from core.rules.domains import quota_use, remaining_message
from core.services.combine import CombineOutcome
from core.services.review import REVIEW_WINDOW_BUSINESS_DAYS, StatusView


def instance_json(instance: Instance) -> dict[str, Any]:
    """Every field, so that `instances list --json` output imports again as it is."""
    return instance.model_dump(mode="json")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    head = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    return "\n".join([head, *lines]).rstrip()


def instances_table(instances: Sequence[Instance]) -> str:
    if not instances:
        return "No instances match."
    rows = [
        (
            i.id,
            i.name,
            i.brand,
            i.cert_type.value,
            i.status.value,
            f"{i.validity_years}y",
            f"{i.exact_quota}+{i.wildcard_quota}*",
            "yes" if i.refundable else "no",
            i.merged_into or "",
        )
        for i in instances
    ]
    headers = ("ID", "NAME", "BRAND", "TYPE", "STATUS", "VALIDITY", "QUOTA", "REFUNDABLE", "MERGED INTO")
    return table(rows, headers) + f"\n{len(instances)} instance(s). QUOTA is exact + wildcard names."


def reasons_text(reasons: Sequence[Reason], indent: str = "  ") -> str:
    return "\n".join(f"{indent}{r.rule}  {r.message}" for r in reasons)


def candidates_text(found: Candidates) -> str:
    current = found.current
    lines = [f"{current.id} ({current.brand} {current.cert_type.value}, quota {_quota(current)})"]
    if found.current_reasons:
        lines += ["It cannot be combined itself:", reasons_text(found.current_reasons)]
    if found.eligible:
        lines.append(f"Can be combined with it ({len(found.eligible)}):")
        lines += [f"  {i.id}  {i.name}  quota {_quota(i)}" for i in found.eligible]
    else:
        lines.append("No other instance of the same brand and type can be combined with it now.")
    if found.ineligible:
        lines.append(f"Same brand and type, but not combinable ({len(found.ineligible)}):")
        for instance, reasons in found.ineligible:
            lines.append(f"  {instance.id}  {instance.name}")
            lines.append(reasons_text(reasons, indent="      "))
    return "\n".join(lines)


def candidates_json(found: Candidates) -> dict[str, Any]:
    return {
        "instance": instance_json(found.current),
        "instance_reasons": [r.model_dump() for r in found.current_reasons],
        "eligible": [instance_json(i) for i in found.eligible],
        "ineligible": [
            {"instance": instance_json(i), "reasons": [r.model_dump() for r in reasons]}
            for i, reasons in found.ineligible
        ],
    }


def _quota(instance: Instance) -> str:
    return quota_text(instance.quota)


def plan_text(outcome: CombineOutcome) -> str:
    plan = outcome.plan
    return "\n".join(
        [
            f"Plan: combine {', '.join(plan.source_ids)} ({plan.brand} {plan.cert_type.value})",
            f"  into a new instance named {plan.name}",
            f"  with quota {plan.quota.exact} exact + {plan.quota.wildcard} wildcard domain names (the sum, C5)",
            "  The combined instances can no longer be refunded (C7).",
            "Dry run: nothing was changed.",
        ]
    )


def handover_text(outcome: CombineOutcome) -> str:
    plan = outcome.plan
    return "\n".join(
        [
            "Refund waiver recorded; the provider has no API for combining, so finish it in its console:",
            f"  {outcome.handover}",
            f"certops will record the combination of {', '.join(plan.source_ids)} when `certops sync` finds the new",
            f"{plan.brand} {plan.cert_type.value} instance named cas-merge… with quota {quota_text(plan.quota)}.",
        ]
    )


def combined_text(outcome: CombineOutcome) -> str:
    assert outcome.instance is not None and outcome.combination is not None
    new = outcome.instance
    head = (
        f"Already combined by {outcome.combination.actor} at {outcome.combination.at:%Y-%m-%d %H:%M} UTC; "
        "nothing changed."
        if outcome.replayed
        else "Combination Success."
    )
    return "\n".join(
        [
            head,
            f"  New instance {new.id} named {new.name}",
            f"  {new.brand} {new.cert_type.value}, quota {_quota(new)}, status {new.status.value}",
            f"  Combined: {', '.join(outcome.combination.source_ids)} (no longer refundable)",
            f"Next: certops apply {new.id} --domain NAME ...",
        ]
    )


def checks_text(application: Application) -> list[str]:
    lines: list[str] = []
    for check in application.domain_checks:
        mark = "done" if check.status is CheckStatus.PASSED else "OPEN"
        if check.record_type != "FILE":
            lines.append(f"  [{mark}] {check.domain}: DNS {check.record_type} record {check.location} = {check.value}")
        else:
            lines.append(f"  [{mark}] {check.domain}: serve {check.location} containing {check.value}")
    org = application.org_checks
    lines.append(
        f"  [{'done' if org.email is CheckStatus.PASSED else 'OPEN'}] email: the CA writes to "
        f"{application.contact.email}; follow its instructions"
    )
    lines.append(
        f"  [{'done' if org.phone is CheckStatus.PASSED else 'OPEN'}] phone: the CA calls "
        f"{application.contact.name} at {application.contact.phone}"
    )
    return lines


def application_text(instance: Instance, application: Application) -> str:
    use = quota_use(instance, application.domains)
    return "\n".join(
        [
            f"Application {application.id} submitted for {instance.id} by {application.actor}.",
            "  Domains to Bind: " + ", ".join(str(d) for d in application.domains),
            *[f"  {free} is complimentary with {cover} (A6)" for free, cover in use.complimentary],
            f"  {remaining_message(use)}",
            f"  Stage: {STAGE_TEXT[application.stage]}",
            *checks_text(application),
        ]
    )


def status_text(view: StatusView) -> str:
    instance, application = view.instance, view.application
    lines = [
        f"{instance.id}  {instance.name}",
        f"  {instance.brand} {instance.cert_type.value}, status {instance.status.value}, quota {_quota(instance)}",
    ]
    if instance.merged_into:
        lines.append(f"  Combined into {instance.merged_into}")
    if application is None:
        lines.append("  No application yet.")
        return "\n".join(lines)
    low, high = REVIEW_WINDOW_BUSINESS_DAYS
    lines += [
        f"Application {application.id}, submitted {application.submitted_at:%Y-%m-%d %H:%M} UTC by {application.actor}",
        "  Domains: " + ", ".join(str(d) for d in application.domains),
        f"  Stage: {STAGE_TEXT[application.stage]}",
        f"  Business days elapsed: {view.business_days_elapsed} (the CA usually takes {low}–{high})",
    ]
    if application.rejection_reason:
        lines.append(f"  Rejection reason: {application.rejection_reason}")
    if application.certificate is not None:
        cert = application.certificate
        lines.append(
            f"  Certificate serial {cert.serial}, valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}"
        )
        lines.append(f"  Next: certops export {instance.id} --out DIR, then install it on each host")
    else:
        lines += checks_text(application)
    return "\n".join(lines)


def status_json(view: StatusView) -> dict[str, Any]:
    application = view.application
    return {
        "instance": instance_json(view.instance),
        "application": None if application is None else application.model_dump(mode="json", exclude={"csr_pem"}),
        "business_days_elapsed": view.business_days_elapsed,
    }
