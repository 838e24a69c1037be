"""The Apply for Certificate dialog, its state, its errors, and the Application submitted message (A1–A10)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    Block,
    EmailInputElement,
    InputBlock,
    InputInteractiveElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks.common import (
    actor_text,
    check_blocks,
    context,
    domain_blocks,
    esc,
    header,
    instance_text,
    org_check_text,
    plain,
    section,
    truncate,
)
from bot.wording import STAGE_TEXT
from core.model import (
    Application,
    ApplicationRequest,
    CertType,
    CompanyProfile,
    Contact,
    DomainName,
    Instance,
    KeyAlgorithm,
    Reason,
    ValidationMethod,
)
from core.rules.domains import QuotaUse, parse_domain, quota_use, remaining_message

APPLY_CALLBACK = "apply_submit"
DOMAINS_BLOCK = "domains"
COMPANY_BLOCK = "company"
COMPANY_PHONE_BLOCK = "company_phone"
COMPANY_ADDRESS_BLOCK = "company_address"
COMPANY_REG_BLOCK = "company_registration"
CONTACT_NAME_BLOCK = "contact_name"
CONTACT_EMAIL_BLOCK = "contact_email"
CONTACT_PHONE_BLOCK = "contact_phone"
VALIDATION_BLOCK = "validation"
CSR_BLOCK = "csr"
CSR_PEM_BLOCK = "csr_pem"
KEY_BLOCK = "key_algorithm"
ACTION_VALUE = "value"

CSR_GENERATE = "generate"
CSR_UPLOAD = "upload"
INPUT_LIMIT = 3000  # plain_text_input holds at most 3000 characters
ERROR_LIMIT = 2000  # response_action errors: per block
TITLE = "Apply for Certificate"
DOMAINS_PLACEHOLDER = "one domain per line, e.g. *.example.com"
VALIDITY_NOTE = "Validity period: 1 year (fixed, A2)"

# The company profile is required for OV/EV instances only (A7), so DV dialogs mark these optional
_COMPANY_FIELDS = (
    (COMPANY_BLOCK, "Company name"),
    (COMPANY_PHONE_BLOCK, "Company phone"),
    (COMPANY_ADDRESS_BLOCK, "Company address"),
    (COMPANY_REG_BLOCK, "Company registration number"),
)
_VALIDATION_CHOICES = ((ValidationMethod.DNS.value, "DNS record"), (ValidationMethod.HTTP.value, "HTTP file"))
_CSR_CHOICES = ((CSR_GENERATE, "Generate a key and CSR for me"), (CSR_UPLOAD, "I'll paste my CSR"))
_KEY_CHOICES = tuple((k.value, k.value.replace("_", " ")) for k in KeyAlgorithm)
_DOMAIN_SEPARATORS = re.compile(r"[\s,]+")


# ----------------------------------------------------------------------------------------------------
# The dialog


def _options(choices: Sequence[tuple[str, str]]) -> list[Option]:
    return [Option(value=value, text=plain(label)) for value, label in choices]


def _initial_option(options: Sequence[Option], wanted: str | None, default: str) -> Option:
    by_value = {o.value: o for o in options}
    return by_value.get(wanted or "", by_value[default])


def _initial_text(initial: Mapping[str, str], block_id: str) -> str | None:
    """A previous entry, cut at a line break to fit the input (None when there was none)."""
    text = initial.get(block_id) or ""
    if len(text) > INPUT_LIMIT:
        text = text[:INPUT_LIMIT].rsplit("\n", 1)[0]
    return text or None


def _input(
    block_id: str, label: str, element: InputInteractiveElement, *, optional: bool = False, hint: str | None = None
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=plain(label),
        element=element,
        optional=optional,
        hint=plain(hint, ERROR_LIMIT) if hint else None,
    )


def _text_input(
    initial: Mapping[str, str], block_id: str, *, multiline: bool = False, placeholder: str = ""
) -> PlainTextInputElement:
    return PlainTextInputElement(
        action_id=ACTION_VALUE,
        initial_value=_initial_text(initial, block_id),
        multiline=multiline or None,
        placeholder=plain(placeholder, 150) if placeholder else None,
    )


def _choice_input(
    block_id: str, label: str, choices: Sequence[tuple[str, str]], initial: Mapping[str, str], *, select: bool = False
) -> InputBlock:
    options = _options(choices)
    chosen = _initial_option(options, initial.get(block_id), choices[0][0])
    element: InputInteractiveElement
    if select:
        element = StaticSelectElement(action_id=ACTION_VALUE, options=options, initial_option=chosen)
    else:
        element = RadioButtonsElement(action_id=ACTION_VALUE, options=options, initial_option=chosen)
    return _input(block_id, label, element)


def apply_modal(instance: Instance, *, private_metadata: str, initial: Mapping[str, str] | None = None) -> View:
    """`initial` pre-fills inputs by block id (text, or the chosen option's value), e.g. `ApplyForm.initial()`."""
    given = initial or {}
    company_optional = instance.cert_type is CertType.DV
    blocks: list[Block] = [
        section(instance_text(instance)),
        _input(
            DOMAINS_BLOCK,
            "Domains to Bind",
            _text_input(given, DOMAINS_BLOCK, multiline=True, placeholder=DOMAINS_PLACEHOLDER),
            hint=remaining_message(quota_use(instance, [])),
        ),
        *(
            _input(block_id, label, _text_input(given, block_id), optional=company_optional)
            for block_id, label in _COMPANY_FIELDS
        ),
        _input(CONTACT_NAME_BLOCK, "Contact name", _text_input(given, CONTACT_NAME_BLOCK)),
        _input(
            CONTACT_EMAIL_BLOCK,
            "Contact email",
            EmailInputElement(action_id=ACTION_VALUE, initial_value=_initial_text(given, CONTACT_EMAIL_BLOCK)),
            hint="The CA emails this person to verify the organisation.",
        ),
        _input(
            CONTACT_PHONE_BLOCK,
            "Contact mobile number",
            _text_input(given, CONTACT_PHONE_BLOCK),
            hint="The CA phones this number; 6 to 20 digits, optionally with +, spaces, hyphens or parentheses.",
        ),
        _choice_input(VALIDATION_BLOCK, "Domain validation", _VALIDATION_CHOICES, given),
        _choice_input(CSR_BLOCK, "Private key and CSR", _CSR_CHOICES, given),
        _input(
            CSR_PEM_BLOCK,
            "CSR (PEM)",
            _text_input(given, CSR_PEM_BLOCK, multiline=True, placeholder="-----BEGIN CERTIFICATE REQUEST-----"),
            optional=True,
            hint="Only if you paste your own CSR: it must name exactly the domains above.",
        ),
        _choice_input(KEY_BLOCK, "Key algorithm", _KEY_CHOICES, given, select=True),
        context(VALIDITY_NOTE),
    ]
    return View(
        type="modal",
        callback_id=APPLY_CALLBACK,
        title=plain(TITLE),
        submit=plain("Submit"),
        close=plain("Cancel"),
        blocks=blocks,
        private_metadata=private_metadata,
    )


# ----------------------------------------------------------------------------------------------------
# Its state


@dataclass(frozen=True)
class ApplyForm:
    """What the dialog held, as raw strings (checking is the core's job)."""

    domains: list[str] = field(default_factory=list)
    company_name: str = ""
    company_phone: str = ""
    company_address: str = ""
    company_registration: str = ""
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    validation_method: str = ValidationMethod.DNS.value
    csr_mode: str = CSR_GENERATE
    csr_pem: str = ""
    key_algorithm: str = KeyAlgorithm.RSA_2048.value

    def initial(self) -> dict[str, str]:
        """The `initial` that re-opens the dialog with these values."""
        return {
            DOMAINS_BLOCK: "\n".join(self.domains),
            COMPANY_BLOCK: self.company_name,
            COMPANY_PHONE_BLOCK: self.company_phone,
            COMPANY_ADDRESS_BLOCK: self.company_address,
            COMPANY_REG_BLOCK: self.company_registration,
            CONTACT_NAME_BLOCK: self.contact_name,
            CONTACT_EMAIL_BLOCK: self.contact_email,
            CONTACT_PHONE_BLOCK: self.contact_phone,
            VALIDATION_BLOCK: self.validation_method,
            CSR_BLOCK: self.csr_mode,
            CSR_PEM_BLOCK: self.csr_pem,
            KEY_BLOCK: self.key_algorithm,
        }


def _raw(values: Mapping[str, Mapping[str, Any]], block_id: str) -> str:
    """A text input's value or a radio/select's chosen value; "" when empty or missing."""
    state = (values.get(block_id) or {}).get(ACTION_VALUE) or {}
    chosen = state.get("selected_option")
    if isinstance(chosen, Mapping):
        return str(chosen.get("value") or "")
    return str(state.get("value") or "")


def split_domains(text: str) -> list[str]:
    return [entry for entry in _DOMAIN_SEPARATORS.split(text) if entry]


def parse_apply_state(values: Mapping[str, Mapping[str, Any]]) -> ApplyForm:
    """The form from `view.state.values`; choices left empty fall back to the dialog's defaults."""
    return ApplyForm(
        domains=split_domains(_raw(values, DOMAINS_BLOCK)),
        company_name=_raw(values, COMPANY_BLOCK),
        company_phone=_raw(values, COMPANY_PHONE_BLOCK),
        company_address=_raw(values, COMPANY_ADDRESS_BLOCK),
        company_registration=_raw(values, COMPANY_REG_BLOCK),
        contact_name=_raw(values, CONTACT_NAME_BLOCK),
        contact_email=_raw(values, CONTACT_EMAIL_BLOCK),
        contact_phone=_raw(values, CONTACT_PHONE_BLOCK),
        validation_method=_raw(values, VALIDATION_BLOCK) or ValidationMethod.DNS.value,
        csr_mode=_raw(values, CSR_BLOCK) or CSR_GENERATE,
        csr_pem=_raw(values, CSR_PEM_BLOCK),
        key_algorithm=_raw(values, KEY_BLOCK) or KeyAlgorithm.RSA_2048.value,
    )


def form_errors(form: ApplyForm) -> dict[str, str]:
    """What the dialog itself can tell before the core checks the request: a chosen upload without a CSR
    (to_request would otherwise quietly generate a key)."""
    if form.csr_mode == CSR_UPLOAD and not form.csr_pem.strip():
        return {CSR_PEM_BLOCK: "Paste your CSR here, or choose “Generate a key and CSR for me”."}
    return {}


_E = TypeVar("_E", bound=StrEnum)


def _choice(kind: type[_E], raw: str, default: _E) -> _E:
    """An empty choice takes the default; a value the dialog never offers raises ValueError."""
    return kind(raw) if raw else default


def to_request(form: ApplyForm, instance_id: str) -> ApplicationRequest:
    csr = form.csr_pem.strip() if form.csr_mode == CSR_UPLOAD else ""
    return ApplicationRequest(
        instance_id=instance_id,
        domains=list(form.domains),
        company=CompanyProfile(
            name=form.company_name.strip(),
            phone=form.company_phone.strip(),
            address=form.company_address.strip(),
            registration_number=form.company_registration.strip(),
        ),
        contact=Contact(
            name=form.contact_name.strip(), email=form.contact_email.strip(), phone=form.contact_phone.strip()
        ),
        validation_method=_choice(ValidationMethod, form.validation_method, ValidationMethod.DNS),
        key_algorithm=_choice(KeyAlgorithm, form.key_algorithm, KeyAlgorithm.RSA_2048),
        csr_pem=csr or None,
    )


# ----------------------------------------------------------------------------------------------------
# Rule reasons shown on the inputs they concern (`response_action: errors`)

DOMAIN_RULES = frozenset({"A1", "A3", "A4", "A5", "A6", "A8", "A9", "STATE", "C8"})
_QUOTED = re.compile(r"'[^']*'")
_CSR_WORD = re.compile(r"(?<![\w.:-])CSR(?![\w.:-])")


def _said(reason: Reason) -> str:
    """The message without its quoted user input, so that what a user typed never decides the routing."""
    return _QUOTED.sub("''", reason.message)


def _a7_about(*phrases: str) -> Callable[[Reason], bool]:
    def matches(reason: Reason) -> bool:
        said = _said(reason).casefold()
        return reason.rule == "A7" and any(phrase in said for phrase in phrases)

    return matches


def _is_csr(reason: Reason) -> bool:
    return reason.subject == "CSR" or bool(_CSR_WORD.search(_said(reason)))


def _is_domain_rule(reason: Reason) -> bool:
    return reason.rule in DOMAIN_RULES


def _a7_on_domain(reason: Reason) -> bool:
    return reason.rule == "A7" and isinstance(parse_domain(reason.subject), DomainName)


# First match wins: named form fields before the CSR (an instance id may read "CSR"), the CSR before the
# domains (a CSR reason about a missing name has that name as its subject).
ERROR_ROUTES: tuple[tuple[Callable[[Reason], bool], str], ...] = (
    (_a7_about("company phone"), COMPANY_PHONE_BLOCK),
    (_a7_about("company address"), COMPANY_ADDRESS_BLOCK),
    (_a7_about("company registration"), COMPANY_REG_BLOCK),
    (_a7_about("company name"), COMPANY_BLOCK),
    (_a7_about("contact name"), CONTACT_NAME_BLOCK),
    (_a7_about("contact email"), CONTACT_EMAIL_BLOCK),
    (_a7_about("contact mobile", "contact phone"), CONTACT_PHONE_BLOCK),
    (_is_csr, CSR_PEM_BLOCK),
    (_is_domain_rule, DOMAINS_BLOCK),
    (_a7_on_domain, DOMAINS_BLOCK),
)


def error_block(reason: Reason) -> str:
    return next((block for matches, block in ERROR_ROUTES if matches(reason)), DOMAINS_BLOCK)


def apply_errors(reasons: Sequence[Reason]) -> dict[str, str]:
    """{block id: "rule: message; rule: message"} with every reason placed, each text at most 2000 chars."""
    grouped: dict[str, list[str]] = {}
    for reason in reasons:
        grouped.setdefault(error_block(reason), []).append(str(reason))
    return {block: truncate("; ".join(texts), ERROR_LIMIT) for block, texts in grouped.items()}


# ----------------------------------------------------------------------------------------------------
# After submitting


def complimentary_text(use: QuotaUse) -> str:
    count = len(use.complimentary)
    return f" {count} name(s) are complimentary (A6)." if count else ""


def application_submitted_message(instance: Instance, application: Application) -> tuple[str, list[Block]]:
    use = quota_use(instance, application.domains)
    contact = application.contact
    blocks: list[Block] = [
        header("Application submitted"),
        section(
            f"Application `{esc(application.id, 128)}` for {instance_text(instance)}\n"
            f"Submitted by {actor_text(application.actor)} · {application.key_algorithm.value} · "
            f"{application.validation_method.value.upper()} validation"
        ),
        *domain_blocks(application.domains),
        section(
            f"{remaining_message(use)}{complimentary_text(use)}\n"
            f"*Stage:* {STAGE_TEXT[application.stage]}\n"
            f"*Contact:* {esc(contact.name)} · {esc(contact.email, 254)} · {esc(contact.phone, 40)}"
        ),
        *check_blocks(
            application.domain_checks,
            title="*Place these records* so the CA can check each domain:",
            instance_id=instance.id,
        ),
        section(org_check_text(application)),
        context("Updates follow in this thread."),
    ]
    text = (
        f"Application submitted for {esc(instance.id, 128)}: {len(application.domains)} domain(s); "
        f"stage: {STAGE_TEXT[application.stage]}"
    )
    return text, blocks
