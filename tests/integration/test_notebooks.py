"""The report notebooks run through papermill on a store built by the real services, and their figures match what
the core itself counts; failures and time limits surface clearly; a finished report posts to the Slack stand-in.

Papermill runs cost 2–4 s each, so the two good runs are shared by the module.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import papermill
import pytest
from slack_sdk import WebClient

from bot.reports_chat import post_report, post_report_failure
from bot.stand_in.server import SlackStandIn
from bot.wiring import build_ports, sandbox_ca
from core.adapters.audit_log import JsonlAuditLog
from core.adapters.clock import FixedClock
from core.adapters.tinydb_store import init_store
from core.config import Settings
from core.errors import InvalidInput, NotInitialised
from core.model import (
    Acknowledgement,
    ApplicationRequest,
    CompanyProfile,
    Contact,
    InstanceStatus,
    KeyAlgorithm,
)
from core.reports import load_merge_audit
from core.rules.combine import instance_reasons
from core.services.apply import apply
from core.services.combine import candidates, combine
from core.services.context import Ports
from core.services.instances import activate, import_instances, list_instances
from core.services.review import status, sync
from notebooks.run import NOTEBOOK_DIR, NOTEBOOKS, ReportFailed, ReportResult, ReportTimedOut, run_report

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "sample_inventory.json"
START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday, 10:00 in Shanghai (the default calendar)
AS_OF = datetime(2026, 12, 17, 2, 0, tzinfo=UTC)  # the Thursday of the following week
ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
CHANNEL = "C0REPORTS"
PARAMETERS = {"data_dir", "as_of", "since", "until", "brand", "cert_type", "timezone", "holidays", "out_dir"}
EXTRA = [
    {"id": "cas-ov-1009", "name": "intranet", "service_start": "2026-12-01"},
    {"id": "cas-ov-3002", "name": "geo-a", "brand": "GeoTrust", "service_start": "2026-11-02"},
    {"id": "cas-ov-3003", "name": "geo-b", "brand": "GeoTrust"},
]


def _records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = json.loads(SAMPLE.read_text())
    for record in records:
        if record["id"] == "cas-ev-2001":
            record["service_start"] = "2026-11-16"
    base = {"brand": "DigiCert", "cert_type": "OV", "status": "pending_application", "validity_years": 1,
            "exact_quota": 1, "wildcard_quota": 0}  # fmt: skip
    return records + [{**base, **extra} for extra in EXTRA]


def _request(instance_id: str, *domains: str) -> ApplicationRequest:
    return ApplicationRequest(
        instance_id=instance_id,
        domains=list(domains),
        company=CompanyProfile(
            name="Example Ltd", phone="+86 571 0000 0000", address="1 Road", registration_number="9"
        ),
        contact=Contact(name="Alice Chen", email="alice@example.com", phone="+86 138 0000 0000"),
        key_algorithm=KeyAlgorithm.ECC_256,
    )


def _escalate(ports: Ports, instance_id: str, level: int, acknowledged: Acknowledgement | None = None) -> None:
    """What the review worker records when an escalation level fires (V5), and an acknowledgement."""
    with ports.unit_of_work() as uow:
        application = uow.applications.latest_for_instance(instance_id)
        assert application is not None
        update = {"escalation_level": level, "acknowledged": acknowledged}
        uow.applications.put(application.model_copy(update=update))
        uow.commit()


def build_store(data_dir: Path) -> dict[str, str]:
    """Two combinations; applications in domain verification (past the window, escalated), organisation
    verification (in the window, escalation acknowledged), rejected, and issued. Returns the combined ids."""
    clock = FixedClock(START)
    settings = Settings(data_dir=data_dir)
    init_store(data_dir)
    JsonlAuditLog(data_dir).init()
    ca = sandbox_ca(settings, clock)
    ca.init()
    ports = build_ports(settings, clock)
    import_instances(ports, _records(), "setup")
    activate(ports, "cas-ov-1003", "setup")
    digicert = combine(ports, "cas-ov-1001", ["cas-ov-1002", "cas-ov-1003"], actor=ALICE, accept_no_refund=True)
    globalsign = combine(ports, "cas-ev-2002", ["cas-ev-2003"], actor=BOB, accept_no_refund=True)
    assert digicert.instance is not None and globalsign.instance is not None
    merged = {"digicert": digicert.instance.id, "globalsign": globalsign.instance.id}
    apply(ports, _request(merged["digicert"], "*.example.com", "example.com", "shop.example.com"), ALICE)
    apply(ports, _request("cas-ov-1004", "legacy.example.org"), DAVE)
    clock.set(START + timedelta(days=1))
    ca.verify(merged["digicert"], domain="*.example.com")
    sync(ports)
    clock.set(START + timedelta(days=2))
    ca.reject("cas-ov-1004", "Company name does not match the business licence")
    sync(ports)
    clock.set(START + timedelta(days=7))
    apply(ports, _request(merged["globalsign"], "pay.example.com"), CAROL)
    apply(ports, _request("cas-dv-1008", "blog.example.com"), ALICE)
    ca.verify(merged["globalsign"], domain="pay.example.com")
    ca.verify("cas-dv-1008")
    sync(ports)
    _escalate(ports, merged["digicert"], 2)
    _escalate(ports, merged["globalsign"], 1, Acknowledgement(by="U0LEAD", at=START + timedelta(days=8)))
    return merged


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("reports") / "data"
    return data_dir, build_store(data_dir)


@pytest.fixture(scope="module")
def ports_at_as_of(store: tuple[Path, dict[str, str]]) -> Ports:
    return build_ports(Settings(data_dir=store[0]), FixedClock(AS_OF))


def _run(name: str, data_dir: Path, out_dir: Path, **options: object) -> ReportResult:
    return run_report(name, data_dir=data_dir, out_dir=out_dir, as_of=AS_OF, timeout_s=120, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def backlog_run(store: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    return _run("backlog", store[0], tmp_path_factory.mktemp("backlog-out"))


@pytest.fixture(scope="module")
def merge_audit_run(store: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    return _run("merge-audit", store[0], tmp_path_factory.mktemp("merge-audit-out"))


# ---- figures against the core's own counts ------------------------------------------------------------------------


def test_backlog_figures_match_what_the_core_counts(backlog_run: ReportResult, ports_at_as_of: Ports) -> None:
    summary, ports = backlog_run.summary, ports_at_as_of
    instances = list_instances(ports)
    assert summary["as_of"] == AS_OF.isoformat()
    assert summary["instances"] == len(instances)
    statuses = Counter(i.status.value for i in instances)
    assert summary["by_status"] == {s.value: statuses.get(s.value, 0) for s in InstanceStatus}
    assert summary["by_type"] == dict(Counter(i.cert_type.value for i in instances)) | {
        t: 0 for t in ("DV", "OV", "EV") if t not in {i.cert_type.value for i in instances}
    }
    assert summary["waiting"]["count"] == statuses["pending_application"] == 6
    pending = [i for i in instances if i.status.value == "pending_application"]
    assert summary["waiting"]["unknown"] == sum(1 for i in pending if i.service_start is None)

    views = [status(ports, i.id) for i in instances]
    in_review = [v for v in views if v.application is not None and v.application.in_progress]
    elapsed = [v.business_days_elapsed for v in in_review]
    assert summary["in_review"]["count"] == len(in_review) == 2
    assert summary["in_review"]["overdue"] == sum(1 for days in elapsed if days is not None and days > 7) == 1
    assert summary["in_review"]["by_stage"] == {
        "domain_verification": 1,
        "organisation_verification": 1,
        "ca_review": 0,
    }
    rejected = [v for v in views if v.application is not None and v.application.stage.value == "rejected"]
    assert summary["rejected"] == len(rejected) == 1
    assert summary["stalled"] == 2
    assert (summary["escalated"], summary["escalated_unacknowledged"]) == (2, 1)

    groups = {
        frozenset([i.id, *(c.id for c in candidates(ports, i.id).eligible)])
        for i in instances
        if not instance_reasons(i, i)
    }
    groups = {g for g in groups if len(g) >= 2}
    assert summary["opportunities"] == {
        "groups": len(groups),
        "instances": sum(len(g) for g in groups),
        "applications_saved": sum(len(g) - 1 for g in groups),
    }
    assert summary["opportunities"]["applications_saved"] == 2
    assert summary["activity"] == {"submitted": 4, "issued": 1, "rejected": 1, "combined": 2}


def test_merge_audit_figures_match_the_store_and_the_log(
    merge_audit_run: ReportResult, ports_at_as_of: Ports, store: tuple[Path, dict[str, str]]
) -> None:
    summary, ports = merge_audit_run.summary, ports_at_as_of
    with ports.unit_of_work(read_only=True) as uow:
        combinations = uow.combinations.list()
    assert summary["combinations"] == len(combinations) == 2
    assert summary["sources_combined"] == sum(len(c.sources) for c in combinations) == 5
    assert summary["applications_saved"] == 3
    assert summary["quota"] == {
        "exact": sum(c.quota.exact for c in combinations),
        "wildcard": sum(c.quota.wildcard for c in combinations),
    }
    assert summary["actors"] == {ALICE: 1, BOB: 1}
    assert (summary["flagged"], summary["violations"]) == (0, [])
    entries, problem = ports.audit.verify()
    assert summary["audit_chain"] == {"entries": entries, "intact": True, "first_bad": None, "problem": problem}
    assert entries == len(list(ports.audit.entries()))


def test_reports_are_html_without_code_with_their_charts_embedded(
    backlog_run: ReportResult, merge_audit_run: ReportResult
) -> None:
    for result in (backlog_run, merge_audit_run):
        page = result.html.read_text(encoding="utf-8")
        assert "report_ports" not in page and "load_" not in page  # no code cells
        assert page.count('src="data:image/png;base64,') == len(result.charts) >= 1
        assert all(chart.read_bytes().startswith(b"\x89PNG") for chart in result.charts)
        executed = nbformat.read(result.executed_notebook, as_version=4)
        statuses = {c.metadata.papermill.status for c in executed.cells if c.cell_type == "code"}
        assert statuses == {"completed"}
        assert json.loads(result.summary_path.read_text()) == result.summary
    assert "cas-merge" in merge_audit_run.html.read_text(encoding="utf-8")
    assert [c.name for c in backlog_run.charts] == [
        "backlog-status.png",
        "backlog-waiting.png",
        "backlog-review.png",
        "backlog-opportunities.png",
    ]


def test_a_tampered_audit_log_shows_as_a_broken_chain(store: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(store[0], copy)
    log = copy / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    assert '"action":"combine","actor":"U0ALICE"' in lines[2]
    lines[2] = lines[2].replace(ALICE, "U0MALLORY")
    log.write_text("".join(lines), encoding="utf-8")
    audit = load_merge_audit(build_ports(Settings(data_dir=copy), FixedClock(AS_OF)))
    assert (audit.chain.intact, audit.chain.first_bad, audit.chain.problem) == (False, 2, "hash mismatch")
    [flagged] = audit.flagged
    assert [r.rule for r in flagged.violations] == ["C7"]
    assert "U0MALLORY" in flagged.violations[0].message


# ---- failures -----------------------------------------------------------------------------------------------------


def _with_cell(tmp_path: Path, source: str) -> Path:
    notebook = nbformat.read(NOTEBOOK_DIR / NOTEBOOKS["backlog"], as_version=4)
    notebook.cells.insert(3, nbformat.v4.new_code_cell(source))
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_failing_cell_fails_the_report_naming_its_error(store: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    broken = _with_cell(tmp_path, "ratio = len(backlog.waiting) / 0")
    with pytest.raises(ReportFailed) as failed:
        _run("backlog", store[0], tmp_path / "out", notebook=broken)
    error = failed.value
    assert (error.ename, error.evalue) == ("ZeroDivisionError", "division by zero")
    assert "the backlog report failed: ZeroDivisionError: division by zero (in cell [4])" in str(error)
    assert error.executed_notebook is not None and error.executed_notebook.exists()
    assert error.html is not None and "ZeroDivisionError" in error.html.read_text(encoding="utf-8")
    assert not (tmp_path / "out" / "backlog.json").exists()


def test_a_report_past_its_time_limit_is_stopped(store: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    slow = _with_cell(tmp_path, "import time\ntime.sleep(60)")
    started = datetime.now(UTC)
    with pytest.raises(ReportTimedOut, match="did not finish within 3 s"):
        run_report("backlog", data_dir=store[0], out_dir=tmp_path / "out", as_of=AS_OF, timeout_s=3, notebook=slow)
    assert datetime.now(UTC) - started < timedelta(seconds=10)


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"since": "2026-12-10", "until": "2026-12-01"}, InvalidInput, "the period is empty"),
        ({"until": "yesterday"}, InvalidInput, "--until 'yesterday'"),
        ({"cert_type": "XV"}, InvalidInput, "XV"),
    ],
    ids=["since-after-until", "until-not-a-day", "unknown-type"],
)
def test_bad_parameters_fail_before_a_kernel_starts(
    store: tuple[Path, dict[str, str]], tmp_path: Path, options: dict[str, str], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        run_report("backlog", data_dir=store[0], out_dir=tmp_path, **options)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_a_data_directory_without_a_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised, match="certops init"):
        run_report("backlog", data_dir=tmp_path / "nothing", out_dir=tmp_path / "out")


@pytest.mark.parametrize("name", sorted(NOTEBOOKS), ids=sorted(NOTEBOOKS))
def test_notebooks_are_committed_clean_with_their_parameters(name: str) -> None:
    path = NOTEBOOK_DIR / NOTEBOOKS[name]
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert [c.id for c in notebook.cells if "parameters" in c.metadata.get("tags", [])] == ["parameters"]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert PARAMETERS | {"summary_path"} == set(papermill.inspect_notebook(str(path)))


# ---- chat ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.mark.usefixtures("_no_proxy")
async def test_post_report_shares_summary_charts_and_html_in_one_message(backlog_run: ReportResult) -> None:
    async with SlackStandIn(token="xoxb-reports") as slack:
        client = WebClient(token="xoxb-reports", base_url=slack.api_url)
        await asyncio.to_thread(post_report, client, CHANNEL, backlog_run)
        uploads = slack.uploads()
        [message] = slack.messages(CHANNEL)
    expected = [*backlog_run.charts, backlog_run.html]
    assert [u.filename for u in uploads] == [p.name for p in expected]
    assert all(u.completed and u.channels == [CHANNEL] for u in uploads)
    assert [u.content for u in uploads] == [p.read_bytes() for p in expected]
    assert all(u.length == len(p.read_bytes()) for u, p in zip(uploads, expected, strict=True))
    assert uploads[0].title == "Instances by status"
    assert uploads[-1].title == "Certops backlog (HTML report)"
    assert [f["name"] for f in message["files"]] == [p.name for p in expected]
    assert message["text"].startswith("*Certops backlog*\n• Backlog as of 2026-12-17 02:00 UTC: 18 instance(s)")
    assert "saving 2 CA application(s)" in message["text"]


@pytest.mark.usefixtures("_no_proxy")
async def test_a_failed_report_is_posted_with_its_error_and_partial_html(tmp_path: Path) -> None:
    partial = tmp_path / "backlog.html"
    partial.write_text("<html>partial</html>")
    error = ReportFailed("backlog", "ZeroDivisionError: division by zero (in cell [2])", html=partial)
    async with SlackStandIn(token="xoxb-reports") as slack:
        client = WebClient(token="xoxb-reports", base_url=slack.api_url)
        await asyncio.to_thread(post_report_failure, client, CHANNEL, error)
        [upload] = slack.uploads()
        [message] = slack.messages(CHANNEL)
    assert upload.content == b"<html>partial</html>"
    assert message["text"] == "The backlog report failed: ZeroDivisionError: division by zero (in cell [2])"
