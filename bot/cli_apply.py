"""`certops apply`: apply for a certificate on an instance."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot import render
from bot.cli import add_actor, add_json_flag, emit, ports_for
from core.config import Settings
from core.errors import CertopsError
from core.model import ApplicationRequest, CompanyProfile, Contact, KeyAlgorithm, ValidationMethod


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


def add_parser(sub: Any) -> None:
    """Register `apply` on the `certops` sub-command parsers."""
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
    add_actor(app, required=True)
    add_json_flag(app)
    app.set_defaults(handler=cmd_apply)
