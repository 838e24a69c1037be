"""Posting a finished report to chat: a short summary, the chart images and the HTML report, in one message.

Uses `files_upload_v2` (files.getUploadURLExternal, the upload, files.completeUploadExternal): the legacy
files.upload is gone. Slack previews PNGs inline and shows an uploaded HTML file as a code preview, so the charts
carry the message and the HTML is the detail to download (docs/notebooks.md, section 5). Needs `files:write`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from core.config import Settings
from core.errors import CertopsError
from core.reports import summary_lines
from notebooks.run import TITLES, ReportFailed, ReportName, ReportResult, run_report

MAX_FILES = 10  # files one files.completeUploadExternal call shares


def report_text(result: ReportResult) -> str:
    """The message: the report's title, then its headline figures from the JSON summary."""
    title = TITLES.get(result.name, result.name)
    lines = [f"*{title.capitalize()}*", *(f"• {line}" for line in summary_lines(result.summary))]
    return "\n".join(lines)


def report_uploads(result: ReportResult) -> list[dict[str, Any]]:
    """The chart PNGs (titled as the notebook titled them), then the HTML report."""
    titles = result.chart_titles
    charts = [{"file": str(path), "title": titles.get(path.name, path.stem)} for path in result.charts]
    html = {
        "file": str(result.html),
        "filename": result.html.name,
        "title": f"{TITLES.get(result.name, result.name).capitalize()} (HTML report)",
    }
    return [*charts[: MAX_FILES - 1], html]


def post_report(client: WebClient, channel: str, result: ReportResult) -> None:
    """Post the summary with the charts and the HTML report to `channel` (an id). Raises SlackApiError."""
    client.files_upload_v2(channel=channel, initial_comment=report_text(result), file_uploads=report_uploads(result))


def post_report_failure(client: WebClient, channel: str, error: ReportFailed) -> None:
    """Say which report failed and why (the failing cell's error); attach the partial report when there is one."""
    text = f"The {error.name} report failed: {error.detail}"
    if error.html is not None and error.html.exists():
        client.files_upload_v2(
            channel=channel,
            initial_comment=text,
            file=str(error.html),
            filename=error.html.name,
            title=f"{error.name} (failed run, HTML)",
        )
    else:
        client.chat_postMessage(channel=channel, text=text)


def run_and_post(settings: Settings, client: WebClient, name: ReportName, channel: str, now: datetime) -> None:
    """Run a report (in its own process, with the time limit) and post it; a failure is posted instead."""
    out_dir = settings.data_dir / "reports" / name / now.strftime("%Y%m%dT%H%M%S")
    try:
        result = run_report(name, data_dir=settings.data_dir, out_dir=out_dir, as_of=now)
    except ReportFailed as error:
        post_report_failure(client, channel, error)
        return
    except CertopsError as error:
        client.chat_postMessage(channel=channel, text=f"The {name} report could not run: {error}")
        return
    post_report(client, channel, result)
