"""The `certops` command: the terminal face of every core service.

This module holds what the sub-command modules share (emit, default_actor, ports_for and the --json/--actor
options), the top-level parser, run() and main(). The commands themselves live in bot/cli_*.py, each with its
handlers and an add_parser(sub) that registers them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import render
from core.config import Settings
from core.errors import CertopsError, RuleViolation
from core.services.context import Ports

Handler = Callable[[argparse.Namespace, Settings], int]


def emit(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def default_actor() -> str:
    return os.environ.get("CERTOPS_ACTOR") or f"cli:{getpass.getuser()}"


def ports_for(settings: Settings) -> Ports:
    from bot.wiring import build_ports

    return build_ports(settings)


# ---- parser -----------------------------------------------------------------------------------------------


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_actor(parser: argparse.ArgumentParser, *, required: bool) -> None:
    if required:
        parser.add_argument("--actor", required=True, help="who does this (Slack user id or name); audited")
    else:
        parser.add_argument(
            "--actor",
            default=default_actor(),
            help="who does this; audited (default: $CERTOPS_ACTOR or cli:<user>)",
        )


def build_parser() -> argparse.ArgumentParser:
    # The command modules import the shared helpers above from this module, so they are imported here, not at the
    # top, to keep either side importable first.
    from bot import cli_apply, cli_combine, cli_deploy, cli_instances, cli_report, cli_review, cli_run

    parser = argparse.ArgumentParser(
        prog="certops",
        description="Combine OV/EV certificate instances, apply for certificates and follow CA review.",
    )
    parser.add_argument("--data-dir", type=Path, help="data directory (default: $CERTOPS_DATA_DIR or ./certops-data)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_instances.add_parser(sub)
    cli_combine.add_parser(sub)
    cli_apply.add_parser(sub)
    cli_review.add_parser(sub)
    cli_deploy.add_parser(sub)
    cli_report.add_parser(sub)
    cli_run.add_parser(sub)
    return parser


def load_settings(data_dir: Path | None) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CertopsError(f"bad setting CERTOPS_{field.upper()}: {first['msg']}") from exc
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, load_settings(args.data_dir)))
    except RuleViolation as exc:
        print(f"certops: {exc.headline}: {len(exc.reasons)} rule(s) violated", file=sys.stderr)
        print(render.reasons_text(exc.reasons), file=sys.stderr)
        return 1
    except CertopsError as exc:
        print(f"certops: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"certops: invalid {'.'.join(str(p) for p in first['loc'])}: {first['msg']}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the user gave that cannot be created, read or written
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"certops: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


def main() -> None:
    try:
        sys.exit(run())
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
