"""`certops report merge-audit|backlog`: through the installed entry point (needs bot/cli.py to register
bot.cli_report and the notebooks package installed), and through its handler directly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot.cli_report import add_parser
from core.config import Settings
from core.errors import InvalidInput
from tests.e2e.conftest import Cli

AS_OF = "2026-12-17T10:00:00+08:00"


def _combined(cli: Cli) -> Cli:
    cli("combine", "cas-ov-1001", "--with", "cas-ov-1002", "--with", "cas-ov-1003", "--actor", "U0ALICE",
        "--accept-no-refund")  # fmt: skip
    return cli


def test_report_command_writes_the_report_and_prints_its_figures(stocked: Cli, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = _combined(stocked)("report", "merge-audit", "--as-of", AS_OF, "--out", str(out), "--json")
    printed = json.loads(done.stdout)
    assert sorted(Path(f).name for f in printed["files"]) == [
        "merge-audit-over-time.png",
        "merge-audit.html",
        "merge-audit.ipynb",
        "merge-audit.json",
    ]
    assert all(Path(f).is_file() for f in printed["files"])
    summary = printed["summary"]
    assert (summary["combinations"], summary["sources_combined"], summary["flagged"]) == (1, 3, 0)
    assert summary["actors"] == {"U0ALICE": 1}
    assert summary["audit_chain"]["intact"] is True
    assert json.loads((out / "merge-audit.json").read_text()) == summary


def test_report_on_a_damaged_store_exits_non_zero_with_the_cell_error(stocked: Cli, tmp_path: Path) -> None:
    (stocked.data_dir / "certops.json").write_text("{torn")
    done = stocked("report", "backlog", "--out", str(tmp_path / "report"), check=False)
    assert done.returncode == 1
    assert "the backlog report failed: StoreCorrupted:" in done.stderr
    assert "certops.json is not valid JSON" in done.stderr
    assert not (tmp_path / "report" / "backlog.json").exists()


def _handler_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="certops")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_report_handler_prints_what_it_wrote_and_the_headline(
    stocked: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    args = _handler_args("report", "backlog", "--as-of", AS_OF, "--since", "2026-12-01", "--out", str(out))
    assert args.handler(args, Settings(data_dir=stocked.data_dir)) == 0
    printed = capsys.readouterr().out.splitlines()
    wrote = [line.removeprefix("wrote ") for line in printed if line.startswith("wrote ")]
    assert [Path(p).name for p in wrote[:3]] == ["backlog.ipynb", "backlog.html", "backlog.json"]
    assert all(Path(p).is_file() for p in wrote)
    assert any(p.endswith(".png") for p in wrote)
    headline = [line for line in printed if not line.startswith("wrote ")]
    assert headline[0].startswith("Backlog as of 2026-12-17 02:00 UTC: 13 instance(s); 9 pending application (")
    assert headline[-1].startswith("In the period 2026-12-01 to 2026-12-17:")


def test_report_handler_refuses_an_empty_period_before_running(stocked: Cli, tmp_path: Path) -> None:
    args = _handler_args("report", "backlog", "--since", "2026-12-10", "--until", "2026-12-01", "--out", str(tmp_path))
    with pytest.raises(InvalidInput, match="the period is empty"):
        args.handler(args, Settings(data_dir=stocked.data_dir))
