"""`certops tick|worker|serve|demo`: review passes, the scheduled worker, the Slack bot and the demo."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bot.cli import add_json_flag, emit, ports_for
from core.config import Settings
from core.errors import InvalidInput


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import logging

    from bot.app import serve
    from bot.settings import load_slack_settings

    slack = load_slack_settings()
    if args.port is not None:
        slack = slack.model_copy(update={"port": args.port})
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(settings, slack, ports_for(settings)))
    return 0


def _optional_slack() -> Any:
    from bot.settings import load_slack_settings

    return load_slack_settings() if os.environ.get("SLACK_BOT_TOKEN") else None


def _parse_now(text: str | None) -> Any:
    from datetime import UTC, datetime

    from core.adapters.clock import FixedClock

    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--now {text!r} is not an ISO-8601 time such as 2026-12-07T09:30:00+08:00") from exc
    return FixedClock(at if at.tzinfo else at.replace(tzinfo=UTC))


def cmd_tick(args: argparse.Namespace, settings: Settings) -> int:
    from bot.worker import run_deploy_checks, run_tick

    slack, clock = _optional_slack(), _parse_now(args.now)
    result = run_tick(settings, slack, clock, poll=not args.no_poll)
    if args.verify_deploy:
        checked = run_deploy_checks(settings, slack, clock)
        result.queued += checked.queued
        result.sent += checked.sent
        result.failed += checked.failed
    if args.json:
        emit(
            {
                "provider_error": result.provider_error,
                "queued": result.queued,
                "sent": result.sent,
                "failed": [{"notice": k, "error": e} for k, e in result.failed],
                "withdrawn": result.withdrawn,
            }
        )
        return 0
    if result.provider_error:
        print(f"provider unavailable, not polled: {result.provider_error}")
    print(f"Queued {len(result.queued)} notice(s), sent {len(result.sent)}, withdrawn {len(result.withdrawn)}.")
    for key, error in result.failed:
        print(f"not sent (will retry): {key}: {error}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from bot.settings import load_slack_settings
    from bot.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per pass would drown what matters
    run_worker(settings, load_slack_settings(), args.interval)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return run_demo(Path(args.dir), settings)


def add_parser(sub: Any) -> None:
    """Register `tick`, `worker`, `serve` and `demo` on the `certops` sub-command parsers."""
    tck = sub.add_parser("tick", help="one review pass: poll the provider, queue and deliver notices")
    tck.add_argument("--now", help="pretend it is this ISO-8601 time (for cron replays and tests)")
    tck.add_argument("--no-poll", action="store_true", help="do not poll the provider this time")
    tck.add_argument(
        "--verify-deploy", action="store_true", help="also check the hosts in CERTOPS_DEPLOY_HOSTS over TLS (V6)"
    )
    add_json_flag(tck)
    tck.set_defaults(handler=cmd_tick)
    wrk = sub.add_parser("worker", help="run review passes on a schedule (Procfile worker)")
    wrk.add_argument("--interval", type=float, default=60.0, help="seconds between passes (default 60)")
    wrk.set_defaults(handler=cmd_worker)
    srv = sub.add_parser("serve", help="run the Slack bot (HTTP, /slack/events) on $PORT")
    srv.add_argument("--port", type=int, help="listen port (default: $PORT or 3000)")
    srv.set_defaults(handler=cmd_serve)
    demo = sub.add_parser("demo", help="walk the whole combine → apply → review → issue flow on sample data")
    demo.add_argument("--dir", default="certops-demo", help="the demo's own data directory (default: ./certops-demo)")
    demo.set_defaults(handler=cmd_demo)
