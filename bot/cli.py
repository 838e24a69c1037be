"""The `certops` command: the terminal face of every core service."""

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
from bot.cli_deploy import add_parser as add_deploy_parser
from bot.cli_report import add_parser as add_report_parser
from core.adapters.files import atomic_write_bytes
from core.config import Settings
from core.errors import CertopsError, InvalidInput, RuleViolation
from core.model import (
    ApplicationRequest,
    CertType,
    CompanyProfile,
    Contact,
    InstanceStatus,
    KeyAlgorithm,
    ValidationMethod,
)
from core.services.context import Ports

Handler = Callable[[argparse.Namespace, Settings], int]


def emit(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def default_actor() -> str:
    return os.environ.get("CERTOPS_ACTOR") or f"cli:{getpass.getuser()}"


def ports_for(settings: Settings) -> Ports:
    from bot.wiring import build_ports

    return build_ports(settings)


# ---- command handlers -------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import sandbox_ca
    from core.adapters.audit_log import JsonlAuditLog
    from core.adapters.clock import SystemClock
    from core.adapters.tinydb_store import init_store

    created = init_store(settings.data_dir)
    JsonlAuditLog(settings.data_dir).init()
    ca_created = sandbox_ca(settings, SystemClock()).init()
    state = "created" if created or ca_created else "already initialised"
    print(f"Data directory {settings.data_dir} {state} (store, audit log, sandbox CA).")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.instances import import_instances

    path = Path(args.file)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CertopsError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CertopsError(f"{path} is not a JSON file ({exc}); nothing was imported") from exc
    result = import_instances(ports_for(settings), records, args.actor)
    if args.json:
        emit({"added": result.added, "unchanged": result.unchanged})
    else:
        print(f"Imported {len(result.added)} instance(s); {len(result.unchanged)} already known and unchanged.")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.instances import list_instances

    found = list_instances(
        ports_for(settings),
        status=InstanceStatus(args.status) if args.status else None,
        brand=args.brand,
        cert_type=CertType(args.type) if args.type else None,
    )
    if args.json:
        emit([render.instance_json(i) for i in found])
    else:
        print(render.instances_table(found))
    return 0


def cmd_activate(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.instances import activate

    instance = activate(ports_for(settings), args.id, args.actor)
    if args.json:
        emit(render.instance_json(instance))
    else:
        print(
            f"{instance.id} is {instance.status.value}: it now appears in the certificate list and can be "
            "combined or applied for."
        )
    return 0


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
            }
        )
    else:
        print(render.plan_text(outcome) if args.dry_run else render.combined_text(outcome))
    return 0


def _read_csr(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertopsError(f"cannot read the CSR file {path}: {exc}") from exc


def _application_request(args: argparse.Namespace) -> ApplicationRequest:
    return ApplicationRequest(
        instance_id=args.id,
        domains=args.domain,
        company=CompanyProfile(
            name=args.company,
            phone=args.company_phone,
            address=args.company_address,
            registration_number=args.company_registration,
        ),
        contact=Contact(name=args.contact_name, email=args.contact_email, phone=args.contact_phone),
        validation_method=ValidationMethod(args.validation),
        key_algorithm=KeyAlgorithm(args.key_algorithm),
        csr_pem=_read_csr(args.csr),
    )


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from core.services.apply import apply

    ports = ports_for(settings)
    application = apply(ports, _application_request(args), args.actor)
    if args.json:
        emit(application.model_dump(mode="json", exclude={"csr_pem"}))
    else:
        from core.services.review import status

        print(render.application_text(status(ports, args.id).instance, application))
    return 0


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
    from bot.wiring import sandbox_ca
    from core.services.review import sync

    ports = ports_for(settings)
    ca = sandbox_ca(settings, ports.clock)
    application = ca.verify(args.id, domain=args.domain, email=args.email, phone=args.phone)
    print(f"Sandbox CA: {args.id} is now at stage {application.stage.value}.")
    _print_sync(sync(ports), as_json=False)
    return 0


def cmd_sandbox_reject(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import sandbox_ca
    from core.services.review import sync

    if not args.reason.strip():
        raise InvalidInput("a rejection needs a reason the applicant can act on (--reason TEXT)")
    ports = ports_for(settings)
    sandbox_ca(settings, ports.clock).reject(args.id, args.reason)
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
    run_worker(settings, load_slack_settings(), args.interval)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.demo import run_demo

    return run_demo(Path(args.dir), settings)


# ---- parser -----------------------------------------------------------------------------------------------


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _actor(parser: argparse.ArgumentParser, *, required: bool) -> None:
    if required:
        parser.add_argument("--actor", required=True, help="who does this (Slack user id or name); audited")
    else:
        parser.add_argument(
            "--actor",
            default=default_actor(),
            help="who does this; audited (default: $CERTOPS_ACTOR or cli:<user>)",
        )


def _instances_parser(sub: Any) -> None:
    instances = sub.add_parser("instances", help="import, list and activate purchased instances")
    inner = instances.add_subparsers(dest="instances_command", required=True, metavar="COMMAND")
    imp = inner.add_parser("import", help="load purchased instances from a JSON file (see README for the schema)")
    imp.add_argument("file")
    _actor(imp, required=False)
    _json_flag(imp)
    imp.set_defaults(handler=cmd_import)
    lst = inner.add_parser("list", help="list instances")
    lst.add_argument("--status", choices=[s.value for s in InstanceStatus])
    lst.add_argument("--brand")
    lst.add_argument("--type", choices=[t.value for t in CertType])
    _json_flag(lst)
    lst.set_defaults(handler=cmd_list)
    act = inner.add_parser("activate", help="not activated -> pending application")
    act.add_argument("id")
    _actor(act, required=False)
    _json_flag(act)
    act.set_defaults(handler=cmd_activate)


def _combine_parser(sub: Any) -> None:
    cand = sub.add_parser("candidates", help="what can be combined with an instance, and what cannot and why")
    cand.add_argument("id")
    _json_flag(cand)
    cand.set_defaults(handler=cmd_candidates)
    comb = sub.add_parser("combine", help="combine instances into one cas-merge… instance (irreversible)")
    comb.add_argument("id", help="the current instance")
    comb.add_argument("--with", dest="with_ids", action="append", required=True, metavar="ID")
    _actor(comb, required=True)
    comb.add_argument(
        "--accept-no-refund",
        action="store_true",
        help="confirm that the combined certificates are not eligible for refunds",
    )
    comb.add_argument("--dry-run", action="store_true", help="print the plan or every violated rule; change nothing")
    _json_flag(comb)
    comb.set_defaults(handler=cmd_combine)


def _apply_parser(sub: Any) -> None:
    app = sub.add_parser("apply", help="apply for a certificate on an instance")
    app.add_argument("id")
    app.add_argument("--domain", action="append", required=True, metavar="NAME", help="a domain to bind (repeat)")
    app.add_argument("--company", required=True, help="company name")
    app.add_argument("--company-phone", required=True)
    app.add_argument("--company-address", required=True)
    app.add_argument("--company-registration", required=True, help="business registration number")
    app.add_argument("--contact-name", required=True)
    app.add_argument("--contact-email", required=True, help="the CA emails verification instructions here")
    app.add_argument("--contact-phone", required=True, help="the CA calls this number")
    app.add_argument("--validation", choices=[m.value for m in ValidationMethod], default="dns")
    app.add_argument("--key-algorithm", choices=[k.value for k in KeyAlgorithm], default="RSA_2048")
    app.add_argument("--csr", metavar="FILE", help="upload your own CSR instead of having certops generate a key")
    _actor(app, required=True)
    _json_flag(app)
    app.set_defaults(handler=cmd_apply)


def _review_parsers(sub: Any) -> None:
    st = sub.add_parser("status", help="an instance, its application, stage and open checks")
    st.add_argument("id")
    _json_flag(st)
    st.set_defaults(handler=cmd_status)
    sy = sub.add_parser("sync", help="pull the provider's state into the store")
    _json_flag(sy)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certops",
        description="Combine OV/EV certificate instances, apply for certificates and follow CA review.",
    )
    parser.add_argument("--data-dir", type=Path, help="data directory (default: $CERTOPS_DATA_DIR or ./certops-data)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create the data directory and the sandbox CA")
    init.set_defaults(handler=cmd_init)
    _instances_parser(sub)
    _combine_parser(sub)
    _apply_parser(sub)
    _review_parsers(sub)
    add_deploy_parser(sub)
    add_report_parser(sub)
    tck = sub.add_parser("tick", help="one review pass: poll the provider, queue and deliver notices")
    tck.add_argument("--now", help="pretend it is this ISO-8601 time (for cron replays and tests)")
    tck.add_argument("--no-poll", action="store_true", help="do not poll the provider this time")
    tck.add_argument(
        "--verify-deploy", action="store_true", help="also check the hosts in CERTOPS_DEPLOY_HOSTS over TLS (V6)"
    )
    _json_flag(tck)
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


def main() -> None:
    try:
        sys.exit(run())
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
