"""`certops verify-deploy`: check over TLS that each web server serves the issued certificate (V6)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from core.config import Settings
from core.model import DeployCheck

DEFAULT_TIMEOUT = 5.0


def cmd_verify_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from bot.wiring import build_ports
    from core.adapters.tls_probe import SocketTlsProber
    from core.rules.deploy import parse_targets
    from core.services.deploy import verify_deployment

    targets = parse_targets(args.host)
    checks = verify_deployment(build_ports(settings), SocketTlsProber(timeout=args.timeout), args.id, targets)
    if args.json:
        print(json.dumps(checks_json(args.id, checks), indent=2, ensure_ascii=False))
    else:
        print(checks_text(checks))
    return 0 if all(check.ok for check in checks) else 1


def checks_text(checks: Sequence[DeployCheck]) -> str:
    lines = [_check_line(check) for check in checks]
    good = sum(check.ok for check in checks)
    lines.append(f"{good} of {len(checks)} host(s) serve the issued certificate correctly.")
    return "\n".join(lines)


def _check_line(check: DeployCheck) -> str:
    from core.rules.deploy import address_text

    where = f"{check.domain} at {address_text(check.host, check.port)}"
    if check.ok:
        return f"OK    {where}: serves the issued certificate (serial {check.served_serial}), chain verified"
    return f"FAIL  {where}: {check.error}"


def checks_json(instance_id: str, checks: Sequence[DeployCheck]) -> dict[str, object]:
    return {
        "instance": instance_id,
        "ok": all(check.ok for check in checks),
        "checks": [{**check.model_dump(mode="json"), "ok": check.ok} for check in checks],
    }


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"the timeout must be more than 0 and at most 300 seconds, not {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `verify-deploy` on the top-level subcommands."""
    parser = sub.add_parser(
        "verify-deploy",
        help="check over TLS that each web server serves the issued certificate with its chain",
        description=(
            "Handshake with each host and check that it serves the instance's issued certificate, that the "
            "certificate names the domain and that the chain verifies. Exits 0 only when every check passes."
        ),
    )
    parser.add_argument("id", help="the instance whose issued certificate should be installed")
    parser.add_argument(
        "--host",
        action="append",
        required=True,
        metavar="DOMAIN=HOST:PORT",
        help="a bound domain and the server that serves it (repeat; port 443 if left out; IPv6 as [::1]:443)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for each connection and handshake (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=cmd_verify_deploy)
