"""Read models behind the ops reports (merge audit, backlog) and the service functions that load them.

`load_merge_audit(ports, ...)` and `load_backlog(ports, ...)` read the store and the audit log through `Ports`;
the `build_*` functions and everything else here are pure. Rules are never decided here: combinations are
re-checked with core.rules.combine, the review window is V1's. The notebooks in notebooks/ only render these
models; `merge_audit_summary` / `backlog_summary` give the JSON sidecar that the CLI and chat quote, and
`summary_lines` its headline.

Time: `as_of` is an instant (the clock port's now); `since` and `until` are local days in the calendar's time
zone, both included. The store keeps current state only, so an earlier `as_of` moves the report's "now" (elapsed
business days, the end of the period) but not the instances' statuses.

The modules, by concern (everything public is importable from core.reports itself):

    period          the period: --since, --until, --as-of      filters         brand and certificate type
    business_days   business days elapsed up to as_of          series          counts per day or week (charts)
    merge_audit     the merge audit, built and loaded          merge_recheck   a combination re-checked (C1–C8)
    backlog         the backlog, built and loaded              review_rows     applications in review, rejected
    opportunities   what could be combined today               activity        what happened in the period
    summaries       the JSON sidecar's figures                 headlines       the summary's headline lines
"""

from core.reports.activity import Activity
from core.reports.backlog import AGE_BUCKETS, REVIEW_STAGES, Backlog, StageRow, Waiting, build_backlog, load_backlog
from core.reports.business_days import BusinessDaysTo
from core.reports.filters import Filters
from core.reports.headlines import summary_lines
from core.reports.merge_audit import (
    AuditedCombination,
    ChainCheck,
    MergeAudit,
    build_merge_audit,
    combine_entries,
    load_merge_audit,
)
from core.reports.merge_recheck import recheck_combination, snapshot_instance
from core.reports.opportunities import Opportunity, combination_opportunities
from core.reports.period import Period, end_of_day, parse_day, parse_instant, report_period, resolve_as_of
from core.reports.review_rows import (
    DV_REVIEW_WINDOW,
    NAMED_CHECKS,
    ReviewRow,
    WindowState,
    next_action,
    review_row,
    review_window,
)
from core.reports.series import WEEKLY_AFTER_DAYS, Series, count_series
from core.reports.summaries import backlog_summary, merge_audit_summary

__all__ = [
    "AGE_BUCKETS",
    "DV_REVIEW_WINDOW",
    "NAMED_CHECKS",
    "REVIEW_STAGES",
    "WEEKLY_AFTER_DAYS",
    "Activity",
    "AuditedCombination",
    "Backlog",
    "BusinessDaysTo",
    "ChainCheck",
    "Filters",
    "MergeAudit",
    "Opportunity",
    "Period",
    "ReviewRow",
    "Series",
    "StageRow",
    "Waiting",
    "WindowState",
    "backlog_summary",
    "build_backlog",
    "build_merge_audit",
    "combination_opportunities",
    "combine_entries",
    "count_series",
    "end_of_day",
    "load_backlog",
    "load_merge_audit",
    "merge_audit_summary",
    "next_action",
    "parse_day",
    "parse_instant",
    "recheck_combination",
    "report_period",
    "resolve_as_of",
    "review_row",
    "review_window",
    "snapshot_instance",
    "summary_lines",
]
