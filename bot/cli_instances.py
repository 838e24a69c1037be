"""`certops init` and `certops instances import|list|activate`: the data directory and purchased instances."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot import render
from bot.cli import add_actor, add_json_flag, emit, ports_for
from core.config import Settings
from core.errors import CertopsError
from core.model import CertType, InstanceStatus


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import sandbox_ca
    from core.adapters.audit_log import JsonlAuditLog
    from core.adapters.clock import SystemClock
    from core.adapters.tinydb_store import init_store

    created = init_store(settings.data_dir)
    JsonlAuditLog(settings.data_dir).init()
    if settings.provider != "sandbox":
        state = "created" if created else "already initialised"
        print(f"Data directory {settings.data_dir} {state} (store, audit log); provider {settings.provider}.")
        return 0
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


def add_parser(sub: Any) -> None:
    """Register `init` and `instances` on the `certops` sub-command parsers."""
    init = sub.add_parser("init", help="create the data directory and the sandbox CA")
    init.set_defaults(handler=cmd_init)
    instances = sub.add_parser("instances", help="import, list and activate purchased instances")
    inner = instances.add_subparsers(dest="instances_command", required=True, metavar="COMMAND")
    imp = inner.add_parser("import", help="load purchased instances from a JSON file (see README for the schema)")
    imp.add_argument("file")
    add_actor(imp, required=False)
    add_json_flag(imp)
    imp.set_defaults(handler=cmd_import)
    lst = inner.add_parser("list", help="list instances")
    lst.add_argument("--status", choices=[s.value for s in InstanceStatus])
    lst.add_argument("--brand")
    lst.add_argument("--type", choices=[t.value for t in CertType])
    add_json_flag(lst)
    lst.set_defaults(handler=cmd_list)
    act = inner.add_parser("activate", help="not activated -> pending application")
    act.add_argument("id")
    add_actor(act, required=False)
    add_json_flag(act)
    act.set_defaults(handler=cmd_activate)
