"""End-to-end fixtures: the installed `certops` entry point, run as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CERTOPS = shutil.which("certops", path=str(Path(sys.executable).parent)) or shutil.which("certops")

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "sample_inventory.json"


class Cli:
    def __init__(self, data_dir: Path, actor: str = "U0ALICE") -> None:
        self.data_dir = data_dir
        self.actor = actor
        self.env = {**os.environ, "CERTOPS_DATA_DIR": str(data_dir), "CERTOPS_ACTOR": actor}
        self.env.pop("CERTOPS_CONFIG", None)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert CERTOPS, "the certops entry point is not installed in this environment"
        done = subprocess.run([CERTOPS, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"certops {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        assert CERTOPS
        return subprocess.Popen(
            [CERTOPS, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "data")


@pytest.fixture
def stocked(cli: Cli) -> Cli:
    """An initialised data directory holding the sample inventory, with cas-ov-1003 activated."""
    cli("init")
    cli("instances", "import", str(SAMPLE))
    cli("instances", "activate", "cas-ov-1003")
    return cli


CONTACT = (
    "--company", "Example Trading Ltd", "--company-phone", "+86 571 8502 2088",
    "--company-address", "969 West Wen Yi Road, Hangzhou", "--company-registration", "91330100MA27XXXX1X",
    "--contact-name", "Alice Chen", "--contact-email", "alice@example.com",
    "--contact-phone", "+86 138 0000 0000",
)  # fmt: skip


def domains_args(*names: str) -> list[str]:
    return [f"--domain={n}" for n in names]


Run = Callable[..., subprocess.CompletedProcess[str]]


COMBINE_THREE = (
    "combine", "cas-ov-1001", "--with", "cas-ov-1002", "--with", "cas-ov-1003", "--actor", "U0ALICE",
    "--accept-no-refund",
)  # fmt: skip
