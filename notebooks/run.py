"""Runs the ops report notebooks with papermill, out of process, and turns them into files to keep or post.

`run_report("backlog", data_dir=..., out_dir=...)` starts `python -m notebooks.run execute ...` as a subprocess in
its own session, with a wall-clock limit (papermill's own timeout is per cell, and its `cwd` is a process-wide
chdir; docs/notebooks.md). The child executes the notebook on the `python3` kernel (the interpreter running
certops), then exports HTML without code cells, also for a failed run (papermill marks the failing cell). The
notebook writes the JSON summary and the chart PNGs itself. Files in `out_dir`, for report NAME:

    NAME.ipynb  the executed notebook        NAME.html   the report, no code
    NAME.json   the summary (figures)        NAME-*.png  the charts, listed in the summary

The notebooks call `report_ports`, `Charts`, `html_table` and `write_summary` below; everything they show comes
from core.reports.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import signal
import site
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from core.errors import CertopsError, InvalidInput

if TYPE_CHECKING:
    from core.services.context import Ports

ReportName = Literal["merge-audit", "backlog"]
REPORT_NAMES: tuple[str, ...] = get_args(ReportName)
NOTEBOOK_DIR = Path(__file__).resolve().parent
NOTEBOOKS: dict[str, str] = {"merge-audit": "merge_audit.ipynb", "backlog": "backlog.ipynb"}
TITLES: dict[str, str] = {"merge-audit": "certops merge audit", "backlog": "certops backlog"}
KERNEL = "python3"  # resolves to the interpreter running certops (docs/notebooks.md 1.6)
DEFAULT_TIMEOUT_S = 300.0
ERROR_TEXT_MAX = 500
TABLE_ROWS_MAX = 50


@dataclass(frozen=True)
class ReportResult:
    name: str
    executed_notebook: Path
    html: Path
    charts: list[Path]
    summary: dict[str, Any]
    summary_path: Path
    seconds: float

    @property
    def chart_titles(self) -> dict[str, str]:
        return {str(c["file"]): str(c["title"]) for c in self.summary.get("charts", [])}


class ReportFailed(CertopsError):
    """A report notebook failed; the message names the failing cell's error (`ename: evalue`)."""

    def __init__(
        self,
        name: str,
        detail: str,
        *,
        ename: str | None = None,
        evalue: str | None = None,
        cell: int | None = None,
        executed_notebook: Path | None = None,
        html: Path | None = None,
    ) -> None:
        self.name = name
        self.detail = detail
        self.ename = ename
        self.evalue = evalue
        self.cell = cell
        self.executed_notebook = executed_notebook
        self.html = html
        where = f"; the executed notebook is {executed_notebook}" if executed_notebook else ""
        super().__init__(f"the {name} report failed: {detail}{where}")


class ReportTimedOut(ReportFailed):
    """The report did not finish within its wall-clock limit and was stopped."""


@dataclass(frozen=True)
class _Outputs:
    out_dir: Path
    name: str

    @property
    def executed(self) -> Path:
        return self.out_dir / f"{self.name}.ipynb"

    @property
    def html(self) -> Path:
        return self.out_dir / f"{self.name}.html"

    @property
    def summary(self) -> Path:
        return self.out_dir / f"{self.name}.json"

    @property
    def failure(self) -> Path:
        return self.out_dir / f".{self.name}.failure.json"

    def clear(self) -> None:
        """Remove the previous run's files, so a failed run never leaves an old summary looking new."""
        for path in (self.executed, self.html, self.summary, self.failure):
            path.unlink(missing_ok=True)


# ---- the parent side -----------------------------------------------------------------------------------------------


def notebook_path(name: str) -> Path:
    if name not in NOTEBOOKS:
        raise InvalidInput(f"no report {name!r}: choose one of {', '.join(REPORT_NAMES)}")
    return NOTEBOOK_DIR / NOTEBOOKS[name]


def run_report(
    name: ReportName,
    *,
    data_dir: Path,
    out_dir: Path,
    since: str | date | None = None,
    until: str | date | None = None,
    as_of: str | datetime | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    brand: str | None = None,
    cert_type: str | None = None,
    timezone: str | None = None,
    holidays: str | None = None,
    notebook: Path | None = None,
) -> ReportResult:
    """Run report `name` into `out_dir`. Raises InvalidInput for bad parameters (before anything runs),
    NotInitialised for a data directory without a store, ReportTimedOut, and ReportFailed naming the failing cell.

    `timezone` and `holidays` default to the settings (CERTOPS_* or certops.toml); `as_of` defaults to the end of
    `until`, or now. `notebook` replaces the packaged notebook (tests)."""
    source = notebook or notebook_path(name)
    parameters = report_parameters(
        data_dir=data_dir,
        out_dir=out_dir,
        since=since,
        until=until,
        as_of=as_of,
        brand=brand,
        cert_type=cert_type,
        timezone=timezone,
        holidays=holidays,
    )
    outputs = _Outputs(Path(out_dir).resolve(), name)
    parameters["summary_path"] = str(outputs.summary)
    outputs.out_dir.mkdir(parents=True, exist_ok=True)
    outputs.clear()
    started = time.monotonic()
    _run_child(name, source, outputs, parameters, timeout_s)
    summary = _read_summary(name, outputs)
    charts = [outputs.out_dir / str(chart["file"]) for chart in summary.get("charts", [])]
    missing = [chart.name for chart in charts if not chart.is_file()]
    if missing:
        raise ReportFailed(name, f"the summary lists charts that were not written: {', '.join(missing)}")
    return ReportResult(
        name=name,
        executed_notebook=outputs.executed,
        html=outputs.html,
        charts=charts,
        summary=summary,
        summary_path=outputs.summary,
        seconds=time.monotonic() - started,
    )


def report_parameters(
    *,
    data_dir: Path,
    out_dir: Path,
    since: str | date | None,
    until: str | date | None,
    as_of: str | datetime | None,
    brand: str | None,
    cert_type: str | None,
    timezone: str | None,
    holidays: str | None,
) -> dict[str, Any]:
    """The notebook parameters, checked here so that bad input fails before a kernel starts. Values are strings:
    papermill passes anything else as str(value) (docs/notebooks.md 1.1)."""
    from core.adapters.tinydb_store import STORE_FILE
    from core.calendar import BusinessCalendar
    from core.errors import NotInitialised
    from core.reports import Filters, parse_day, report_period, resolve_as_of

    timezone, holidays = _calendar_settings(timezone, holidays)
    try:
        calendar = BusinessCalendar(timezone, holidays)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    since_text, until_text = _text(since), _text(until)
    first, last = parse_day(since_text, "--since"), parse_day(until_text, "--until")
    at = resolve_as_of(_text(as_of), until_text, calendar.timezone, datetime.now(UTC))
    report_period(calendar, at, since=first, until=last)
    Filters.parse(brand, cert_type)
    data_dir = Path(data_dir).resolve()
    if not (data_dir / STORE_FILE).is_file():
        raise NotInitialised(f"{data_dir} is not a certops data directory: run `certops init` first")
    return {
        "data_dir": str(data_dir),
        "as_of": at.isoformat(),
        "since": since_text,
        "until": until_text,
        "brand": brand or "",
        "cert_type": cert_type or "",
        "timezone": timezone,
        "holidays": holidays,
        "out_dir": str(Path(out_dir).resolve()),
    }


def _text(value: str | date | None) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value).strip()


def _calendar_settings(timezone: str | None, holidays: str | None) -> tuple[str, str]:
    if timezone and holidays:
        return timezone, holidays
    from core.config import Settings

    settings = Settings()
    return timezone or settings.timezone, holidays or settings.holidays


def _run_child(name: str, source: Path, outputs: _Outputs, parameters: dict[str, Any], timeout_s: float) -> None:
    command = [
        sys.executable,
        "-m",
        "notebooks.run",
        "execute",
        "--input",
        str(source),
        "--output",
        str(outputs.executed),
        "--html",
        str(outputs.html),
        "--title",
        TITLES.get(name, name),
        "--failure",
        str(outputs.failure),
        "--cell-timeout",
        str(timeout_s),
        "--parameters",
        json.dumps(parameters),
    ]
    child = subprocess.Popen(
        command,
        cwd=outputs.out_dir,
        env=_child_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the timeout stops the runner and nothing outlives it
    )
    try:
        _, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(child)
        raise ReportTimedOut(
            name,
            f"it did not finish within {timeout_s:g} s and was stopped",
            executed_notebook=outputs.executed if outputs.executed.exists() else None,
        ) from None
    except BaseException:
        _stop(child)
        raise
    if child.returncode != 0:
        raise _failure(name, outputs, stderr, child.returncode)


def _stop(child: subprocess.Popen[str]) -> None:
    """Kill the runner's process group. The kernel runs in a session of its own but exits when its parent dies
    (ipykernel's parent poller)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate()


def _child_environment() -> dict[str, str]:
    env = dict(os.environ)
    root = str(NOTEBOOK_DIR.parent)
    installed = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed:  # a checkout: let the child and the kernel import notebooks and core from it
        others = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
        env["PYTHONPATH"] = os.pathsep.join([root, *others])
    env["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's python3 kernelspec beats a stale one in ~/.local
    env["MPLBACKEND"] = "Agg"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets debugpy's frozen-modules warning at kernel start
    return env


def _failure(name: str, outputs: _Outputs, stderr: str, returncode: int) -> ReportFailed:
    info: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(outputs.failure.read_text(encoding="utf-8"))
        outputs.failure.unlink()
    executed = outputs.executed if outputs.executed.exists() else None
    html_path = outputs.html if outputs.html.exists() else None
    if not info:
        last = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), "no output")
        detail = f"the runner exited with status {returncode}: {last[:ERROR_TEXT_MAX]}"
        return ReportFailed(name, detail, executed_notebook=executed, html=html_path)
    ename, evalue, cell = str(info.get("ename")), str(info.get("evalue")), info.get("cell")
    detail = f"{ename}: {evalue[:ERROR_TEXT_MAX]}" + (f" (in cell [{cell}])" if cell is not None else "")
    return ReportFailed(name, detail, ename=ename, evalue=evalue, cell=cell, executed_notebook=executed, html=html_path)


def _read_summary(name: str, outputs: _Outputs) -> dict[str, Any]:
    try:
        summary = json.loads(outputs.summary.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportFailed(
            name, f"the notebook finished without writing its summary {outputs.summary}", executed_notebook=None
        ) from None
    except ValueError as exc:
        raise ReportFailed(name, f"its summary {outputs.summary} is not JSON ({exc})") from exc
    if not isinstance(summary, dict):
        raise ReportFailed(name, f"its summary {outputs.summary} is not a JSON object")
    return summary


# ---- the child side: `python -m notebooks.run execute ...` --------------------------------------------------------


def execute(
    source: Path, executed: Path, html_path: Path, title: str, parameters: dict[str, Any], cell_timeout: float
) -> dict[str, Any] | None:
    """Execute the notebook with papermill and export HTML (also after a failure). The failure as
    {ename, evalue, cell}, or None."""
    import papermill

    failure: dict[str, Any] | None = None
    try:
        papermill.execute_notebook(
            _literal(source),
            _literal(executed),
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=False,
            execution_timeout=cell_timeout,
        )
    except papermill.PapermillExecutionError as exc:
        failure = {"ename": exc.ename, "evalue": exc.evalue, "cell": exc.exec_count}
    except Exception as exc:  # cell timeouts, dead or missing kernels are not PapermillExecutionError
        failure = {"ename": type(exc).__name__, "evalue": str(exc), "cell": None}
    if executed.exists():
        try:
            export_html(executed, html_path, title)
        except Exception as exc:
            failure = failure or {"ename": type(exc).__name__, "evalue": f"HTML export: {exc}", "cell": None}
    return failure


def _literal(path: Path) -> str:
    """papermill str.format()s its paths with the parameters; keep braces in a path literal."""
    return str(path).replace("{", "{{").replace("}", "}}")


def export_html(executed: Path, html_path: Path, title: str) -> None:
    """The executed notebook as one HTML page without code cells or prompts; charts are embedded PNGs."""
    import nbformat
    from nbconvert import HTMLExporter

    from core.adapters.files import atomic_write_bytes

    notebook = nbformat.read(executed, as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    atomic_write_bytes(html_path, body.encode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notebooks.run", description="certops report runner (internal)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="execute one notebook with papermill and export it to HTML")
    run.add_argument("--input", type=Path, required=True)
    run.add_argument("--output", type=Path, required=True)
    run.add_argument("--html", type=Path, required=True)
    run.add_argument("--title", required=True)
    run.add_argument("--failure", type=Path, required=True, help="where to write {ename, evalue, cell} on failure")
    run.add_argument("--cell-timeout", type=float, required=True)
    run.add_argument("--parameters", required=True, help="the notebook parameters as a JSON object")
    args = parser.parse_args(argv)
    failure = execute(args.input, args.output, args.html, args.title, json.loads(args.parameters), args.cell_timeout)
    if failure is None:
        return 0
    args.failure.write_text(json.dumps(failure), encoding="utf-8")
    return 1


# ---- used by the notebooks -------------------------------------------------------------------------------------------


def report_ports(data_dir: str, *, as_of: str = "", until: str = "", timezone: str = "", holidays: str = "") -> Ports:
    """The ports a report reads through, with the clock standing at `as_of` (the runner always passes it; when
    run by hand without one, the end of `until` or now)."""
    from zoneinfo import ZoneInfo

    from bot.wiring import build_ports
    from core.adapters.clock import FixedClock
    from core.config import Settings
    from core.reports import resolve_as_of

    overrides: dict[str, Any] = {"data_dir": Path(data_dir)}
    if timezone:
        overrides["timezone"] = timezone
    if holidays:
        overrides["holidays"] = holidays
    settings = Settings(**overrides)
    at = resolve_as_of(as_of, until, ZoneInfo(settings.timezone), datetime.now(UTC))
    return build_ports(settings, FixedClock(at))


def _cell_text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell_text(v) for v in value)
    return str(value)


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, limit: int = TABLE_ROWS_MAX, empty: str = "None."
) -> str:
    """An escaped HTML table of at most `limit` rows, saying how many more there are."""
    rows = list(rows)
    if not rows:
        return f"<p><em>{html.escape(empty)}</em></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell_text(v))}</td>" for v in row) + "</tr>" for row in rows[:limit]
    )
    more = (
        f"<p><em>… and {len(rows) - limit} more (counted in the figures above).</em></p>" if len(rows) > limit else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


class Charts:
    """Bar charts a notebook saves as `<out_dir>/<report>-<key>.png`, shows inline and lists in its summary.

    Drawn on a bare matplotlib Figure (Agg, no pyplot): an inherited MPLBACKEND=Agg cannot swallow them, and the
    PNG files are what chat uploads (docs/notebooks.md, matplotlib backend)."""

    def __init__(self, out_dir: str | Path, report: str) -> None:
        self.out_dir = Path(out_dir)
        self.report = report
        self.saved: list[dict[str, str]] = []

    def bar(
        self,
        key: str,
        title: str,
        labels: Sequence[str],
        series: Mapping[str, Sequence[float]],
        *,
        ylabel: str = "",
        colors: Sequence[str] | None = None,
    ) -> Path:
        """Bars (stacked when there are several series), saved, shown and listed; returns the PNG's path."""
        from IPython.display import Image, display
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        figure = Figure(figsize=(8, 3.4), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        bottom = [0.0] * len(labels)
        for n, (name, values) in enumerate(series.items()):
            axes.bar(positions, values, bottom=bottom, label=name, color=colors[n] if colors else None)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        step = max(1, len(labels) // 20)  # at most ~20 tick labels
        crowded = step > 1 or sum(len(label) for label in labels) > 80
        axes.set_xticks(
            positions[::step], list(labels)[::step], rotation=45 if crowded else 0, ha="right" if crowded else "center"
        )
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylim(0, max([*bottom, 1.0]) * 1.08)  # all-zero data would otherwise centre the axis on 0
        axes.set_title(title)
        axes.set_ylabel(ylabel)
        if len(series) > 1:
            axes.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        path = self.out_dir / f"{self.report}-{key}.png"
        figure.savefig(path, format="png")
        self.saved.append({"file": path.name, "title": title})
        display(Image(filename=str(path)))
        return path


def write_summary(path: str | Path, summary: Mapping[str, Any]) -> None:
    """The JSON sidecar the runner reads; nothing when `path` is empty (a notebook run by hand)."""
    if isinstance(path, str) and not path.strip():
        return
    from core.adapters.files import atomic_write_bytes

    text = json.dumps(summary, indent=2, ensure_ascii=False, default=str)
    atomic_write_bytes(Path(path), text.encode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
