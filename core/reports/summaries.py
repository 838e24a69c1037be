"""The figures of a report's JSON sidecar, which the chat message and the CLI quote."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from core.reports.backlog import Backlog
from core.reports.merge_audit import MergeAudit
from core.reports.period import Period


def _period_json(period: Period) -> dict[str, str | None]:
    return {
        "as_of": period.as_of.isoformat(),
        "since": None if period.since is None else period.since.isoformat(),
        "until": period.until.isoformat(),
    }


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
