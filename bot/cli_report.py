"""`certops report merge-audit|backlog`: run an ops report notebook into a folder (bot/cli.py registers it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import CertopsError
from core.model import CertType

REPORTS = ("merge-audit", "backlog")
DEFAULT_TIMEOUT_S = 300.0


def add_parser(sub: Any) -> None:
    """Register `report` on the `certops` sub-command parsers."""
    report = sub.add_parser(
        "report",
        help="run the merge-audit or backlog report: executed notebook, HTML, charts and a JSON summary",
    )
    report.add_argument("name", choices=REPORTS, help="which report")
    report.add_argument("--since", metavar="DAY", help="first day of the period (YYYY-MM-DD, local); default: all")
    report.add_argument("--until", metavar="DAY", help="last day of the period (YYYY-MM-DD, local); default: today")
    report.add_argument(
        "--as-of", metavar="TIME", help="take the report at this ISO-8601 time or day; default: end of --until, or now"
    )
    report.add_argument("--brand", help="only this brand")
    report.add_argument("--type", dest="cert_type", choices=[t.value for t in CertType], help="only this type")
    report.add_argument("--out", required=True, type=Path, metavar="DIR", help="where the report's files go")
    report.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS", help="stop the run after this long"
    )
    report.add_argument("--json", action="store_true", help="print JSON instead of text")
    report.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from notebooks.run import run_report
    except ImportError as exc:
        raise CertopsError(
            f"the report notebooks are not installed with certops ({exc}); reinstall certops with its notebooks"
        ) from exc

    result = run_report(
        args.name,
        data_dir=settings.data_dir,
        out_dir=args.out,
        since=args.since,
        until=args.until,
        as_of=args.as_of,
        timeout_s=args.timeout,
        brand=args.brand,
        cert_type=args.cert_type,
        timezone=settings.timezone,
        holidays=settings.holidays,
    )
    files = [result.executed_notebook, result.html, result.summary_path, *result.charts]
    if args.json:
        data = {"files": [str(f) for f in files], "seconds": round(result.seconds, 2), "summary": result.summary}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    from core.reports import summary_lines

    for path in files:
        print(f"wrote {path}")
    print(*summary_lines(result.summary), sep="\n")
    return 0
