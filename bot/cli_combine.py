"""`certops candidates` and `certops combine`: what an instance can be combined with, and combining it."""

from __future__ import annotations

import argparse
from typing import Any

from bot import render
from bot.cli import add_actor, add_json_flag, emit, ports_for
from core.config import Settings


def cmd_candidates(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.combine import candidates

    found = candidates(ports_for(settings), args.id)
    if args.json:
        emit(render.candidates_json(found))
    else:
        print(render.candidates_text(found))
    return 0


def cmd_combine(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.combine import combine

    outcome = combine(
        ports_for(settings),
        args.id,
        args.with_ids,
        actor=args.actor,
        accept_no_refund=args.accept_no_refund,
        dry_run=args.dry_run,
    )
    if args.json:
        emit(
            {
                "dry_run": args.dry_run,
                "replayed": outcome.replayed,
                "plan": outcome.plan.model_dump(mode="json"),
                "instance": None if outcome.instance is None else render.instance_json(outcome.instance),
                "handover": outcome.handover,
            }
        )
    elif args.dry_run:
        print(render.plan_text(outcome))
    elif outcome.handover is not None:
        print(render.handover_text(outcome))
    else:
        print(render.combined_text(outcome))
    return 0


def add_parser(sub: Any) -> None:
    """Register `candidates` and `combine` on the `certops` sub-command parsers."""
    cand = sub.add_parser("candidates", help="what can be combined with an instance, and what cannot and why")
    cand.add_argument("id")
    add_json_flag(cand)
    cand.set_defaults(handler=cmd_candidates)
    comb = sub.add_parser("combine", help="combine instances into one cas-merge… instance (irreversible)")
    comb.add_argument("id", help="the current instance")
    comb.add_argument("--with", dest="with_ids", action="append", required=True, metavar="ID")
    add_actor(comb, required=True)
    comb.add_argument(
        "--accept-no-refund",
        action="store_true",
        help="confirm that the combined certificates are not eligible for refunds",
    )
    comb.add_argument("--dry-run", action="store_true", help="print the plan or every violated rule; change nothing")
    add_json_flag(comb)
    comb.set_defaults(handler=cmd_combine)
