"""The headline of a report's JSON summary, one sentence a line: the CLI output and the chat message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


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
