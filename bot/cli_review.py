"""`certops status|sync|sandbox|export|audit`: follow CA review, play the sandbox CA, export and audit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot import render
from bot.cli import add_json_flag, emit, ports_for
from core.adapters.files import atomic_write_bytes
from core.config import Settings
from core.errors import InvalidInput


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.review import status

    view = status(ports_for(settings), args.id)
    if args.json:
        emit(render.status_json(view))
    else:
        print(render.status_text(view))
    return 0


def _print_sync(result: Any, as_json: bool) -> None:
    if as_json:
        emit(
            {
                "instances_updated": result.instances_updated,
                "applications_updated": result.applications_updated,
                "stage_changes": [
                    {"application": a, "from": f.value, "to": t.value} for a, f, t in result.stage_changes
                ],
            }
        )
        return
    for application, before, after in result.stage_changes:
        print(f"{application}: {before.value} -> {after.value}")
    print(
        f"Synced: {len(result.instances_updated)} instance(s) and "
        f"{len(result.applications_updated)} application(s) updated."
    )


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.review import sync

    _print_sync(sync(ports_for(settings)), args.json)
    return 0


def cmd_sandbox_verify(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import sandbox_staff
    from core.services.review import sync

    ports = ports_for(settings)
    ca = sandbox_staff(settings, ports.clock)
    application = ca.verify(args.id, domain=args.domain, email=args.email, phone=args.phone)
    print(f"Sandbox CA: {args.id} is now at stage {application.stage.value}.")
    _print_sync(sync(ports), as_json=False)
    return 0


def cmd_sandbox_reject(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import sandbox_staff
    from core.services.review import sync

    if not args.reason.strip():
        raise InvalidInput("a rejection needs a reason the applicant can act on (--reason TEXT)")
    ports = ports_for(settings)
    sandbox_staff(settings, ports.clock).reject(args.id, args.reason)
    print(f"Sandbox CA: the application on {args.id} was rejected: {args.reason}")
    _print_sync(sync(ports), as_json=False)
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.review import export_bundle

    files = export_bundle(ports_for(settings), args.id)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for item in files:
        atomic_write_bytes(out / item.name, item.content, mode=item.mode)
        print(f"wrote {out / item.name}" + (" (mode 0600)" if item.mode == 0o600 else ""))
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    ports = ports_for(settings)
    count, problem = ports.audit.verify()
    if problem is not None:
        print(f"certops: audit log broken at entry {count}: {problem}", file=sys.stderr)
        return 1
    print(f"Audit log intact: {count} entries, hash chain verified.")
    return 0


def add_parser(sub: Any) -> None:
    """Register `status`, `sync`, `sandbox`, `export` and `audit` on the `certops` sub-command parsers."""
    st = sub.add_parser("status", help="an instance, its application, stage and open checks")
    st.add_argument("id")
    add_json_flag(st)
    st.set_defaults(handler=cmd_status)
    sy = sub.add_parser("sync", help="pull the provider's state into the store")
    add_json_flag(sy)
    sy.set_defaults(handler=cmd_sync)
    sandbox = sub.add_parser("sandbox", help="the sandbox CA staff's side")
    inner = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    ver = inner.add_parser("verify", help="pass checks (all open ones without flags); issues once all passed")
    ver.add_argument("id")
    ver.add_argument("--domain", help="pass this domain's check")
    ver.add_argument("--email", action="store_true", help="pass the email verification")
    ver.add_argument("--phone", action="store_true", help="pass the phone verification")
    ver.set_defaults(handler=cmd_sandbox_verify)
    rej = inner.add_parser("reject", help="reject the application in progress")
    rej.add_argument("id")
    rej.add_argument("--reason", required=True)
    rej.set_defaults(handler=cmd_sandbox_reject)
    exp = sub.add_parser("export", help="write cert.pem, chain.pem, fullchain.pem (and privkey.pem) to a folder")
    exp.add_argument("id")
    exp.add_argument("--out", required=True, metavar="DIR")
    exp.set_defaults(handler=cmd_export)
    audit = sub.add_parser("audit", help="the hash-chained audit log")
    inner_audit = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = inner_audit.add_parser("verify", help="check the hash chain; names the first bad entry")
    verify.set_defaults(handler=cmd_audit_verify)
