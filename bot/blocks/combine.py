"""The Combine Certificates dialog, its options and state, and the Combination Success message (C1–C8)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DividerBlock,
    ExternalDataMultiSelectElement,
    InputBlock,
    Option,
    PlainTextObject,
)
from slack_sdk.models.views import View

from bot.blocks.common import (
    OPTION_LIMIT,
    actions,
    actor_text,
    button,
    context,
    esc,
    header,
    instance_text,
    list_sections,
    plain,
    reasons_blocks,
    section,
    truncate,
    validity_text,
)
from bot.blocks.instances import ACTION_APPLY_OPEN, ACTION_STATUS
from bot.wording import quota_text
from core.model import WAIVER_TEXT, Combination, Instance, Quota
from core.rules.combine import Candidates

COMBINE_CALLBACK = "combine_submit"
CERTS_BLOCK_PREFIX = "certs_"
MORE_BLOCK = "more"
WAIVER_BLOCK = "waiver"
QUOTA_BLOCK = "quota"
ACTION_PICK = "pick"
ACTION_MORE = "more_pick"
ACTION_WAIVER = "waiver_ack"
WAIVER_VALUE = "accepted"

CHECKBOX_LIMIT = 30  # eligible instances shown as checkboxes; the rest are searched in the MORE_BLOCK select
CHECKBOXES_PER_BLOCK = 10  # Slack's limit per checkboxes element
MORE_OPTIONS_LIMIT = 100  # Slack's limit per options response and per initial_options
INELIGIBLE_SHOWN = 20
TITLE = "Combine Certificates"


def instance_option(instance: Instance) -> Option:
    """ "cas-ov-1002 · shop-multi · 5+0*": the quota is always shown, the id and name are shortened to fit."""
    quota = f" · {instance.exact_quota}+{instance.wildcard_quota}*"
    label = truncate(f"{instance.id} · {instance.name}", OPTION_LIMIT - len(quota)) + quota
    description = f"{instance.brand} {instance.cert_type.value} · {validity_text(instance.validity_years)}"
    return Option(value=instance.id, text=plain(label, OPTION_LIMIT), description=plain(description, OPTION_LIMIT))


def waiver_option() -> Option:
    """Never shortened: the waiver is legal text, so an overlong one fails Option's 75-character check."""
    return Option(value=WAIVER_VALUE, text=PlainTextObject(text=WAIVER_TEXT, emoji=True))


def _chunks(items: Sequence[Instance], size: int) -> list[Sequence[Instance]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _checkbox_blocks(shown: Sequence[Instance], selected_ids: Collection[str]) -> list[Block]:
    blocks: list[Block] = []
    for index, chunk in enumerate(_chunks(shown, CHECKBOXES_PER_BLOCK)):
        options = [instance_option(i) for i in chunk]
        initial = [o for o in options if o.value in selected_ids]
        first = index * CHECKBOXES_PER_BLOCK + 1
        label = "Instances to combine" if index == 0 else f"Instances to combine ({first}–{first + len(chunk) - 1})"
        element = CheckboxesElement(action_id=ACTION_PICK, options=options, initial_options=initial or None)
        blocks.append(
            InputBlock(
                block_id=f"{CERTS_BLOCK_PREFIX}{index}",
                label=plain(label),
                element=element,
                optional=True,
                dispatch_action=True,
            )
        )
    return blocks


def _more_block(rest: Sequence[Instance], selected_ids: Collection[str]) -> InputBlock:
    initial = [instance_option(i) for i in rest if i.id in selected_ids][:MORE_OPTIONS_LIMIT]
    element = ExternalDataMultiSelectElement(
        action_id=ACTION_MORE,
        placeholder=plain("Search by instance id or name"),
        min_query_length=0,
        initial_options=initial or None,
    )
    return InputBlock(
        block_id=MORE_BLOCK,
        label=plain(f"{len(rest)} more eligible instance(s)"),
        element=element,
        optional=True,
        dispatch_action=True,
    )


def _quota_block(current: Instance, chosen: Sequence[Instance]) -> Block:
    own = f"*Quota* of `{esc(current.id, 128)}`: {quota_text(current.quota)} domain names"
    if not chosen:
        return section(f"{own}\nSelect instances to see the combined quota.", block_id=QUOTA_BLOCK)
    total = sum((i.quota for i in chosen), start=current.quota)
    combined = f"Combined with the {len(chosen)} selected instance(s): *{quota_text(total)}* (the sum, C5)"
    return section(f"{own}\n{combined}", block_id=QUOTA_BLOCK)


def _ineligible_blocks(found: Candidates) -> list[Block]:
    if not found.ineligible:
        return []
    listed = found.ineligible[:INELIGIBLE_SHOWN]
    lines = [
        f"`{esc(i.id, 128)}` {esc(i.name, 60)} — *{esc(reasons[0].rule, 20)}* {esc(reasons[0].message, 600)}"
        for i, reasons in listed
        if reasons
    ]
    blocks: list[Block] = [
        DividerBlock(),
        section(f"*Same brand and type, but not combinable* ({len(found.ineligible)})"),
    ]
    blocks += list_sections(lines, max_blocks=10, more=lambda n: f"…and {n} more not combinable.")
    left = len(found.ineligible) - len(listed)
    if left > 0:
        blocks.append(
            context(f"…and {left} more not combinable; `certops candidates {esc(found.current.id, 128)}` lists all.")
        )
    return blocks


def _view(blocks: list[Block], private_metadata: str, *, submit: bool) -> View:
    return View(
        type="modal",
        callback_id=COMBINE_CALLBACK,
        title=plain(TITLE),
        submit=plain(TITLE) if submit else None,
        close=plain("Cancel" if submit else "Close"),
        blocks=blocks,
        private_metadata=private_metadata,
    )


def combine_modal(found: Candidates, selected: Collection[Instance] = (), *, private_metadata: str) -> View:
    current = found.current
    blocks: list[Block] = [section(f"*Current instance*\n{instance_text(current)}")]
    if found.current_reasons:
        blocks += reasons_blocks(found.current_reasons, headline=f"{current.id} cannot be combined itself")
        return _view(blocks, private_metadata, submit=False)
    if not found.eligible:
        blocks.append(
            section(
                f"No other {esc(current.brand, 64)} {current.cert_type.value} instance can be combined with it now."
            )
        )
        blocks += _ineligible_blocks(found)
        return _view(blocks, private_metadata, submit=False)
    eligible_ids = {i.id for i in found.eligible}
    chosen = list({i.id: i for i in selected if i.id in eligible_ids and i.id != current.id}.values())
    chosen_ids = {i.id for i in chosen}
    shown, rest = found.eligible[:CHECKBOX_LIMIT], found.eligible[CHECKBOX_LIMIT:]
    blocks.append(
        section(
            f"Select the certificate instances to combine with the current instance ({len(found.eligible)} "
            "eligible). The combined instance may bind as many domain names as all of them together."
        )
    )
    blocks += _checkbox_blocks(shown, chosen_ids)
    if rest:
        blocks.append(_more_block(rest, chosen_ids))
    blocks.append(_quota_block(current, chosen))
    blocks += _ineligible_blocks(found)
    blocks.append(DividerBlock())
    blocks.append(
        InputBlock(
            block_id=WAIVER_BLOCK,
            label=plain("Refund waiver"),
            element=CheckboxesElement(action_id=ACTION_WAIVER, options=[waiver_option()]),
            hint=plain("Combining is irreversible: the combined instances can no longer be refunded (C7)."),
        )
    )
    return _view(blocks, private_metadata, submit=True)


def more_options(found_eligible: Sequence[Instance], query: str) -> list[Option]:
    """Options for the MORE_BLOCK select. Pass all of `found.eligible`: the first CHECKBOX_LIMIT are already
    checkboxes and are left out. Matches id or name, case-insensitively; at most 100."""
    needle = query.strip().casefold()
    matches = (i for i in found_eligible[CHECKBOX_LIMIT:] if needle in i.id.casefold() or needle in i.name.casefold())
    options: list[Option] = []
    for instance in matches:
        options.append(instance_option(instance))
        if len(options) == MORE_OPTIONS_LIMIT:
            break
    return options


def _selected_values(block: Mapping[str, Any] | None, action_id: str) -> list[str]:
    state = (block or {}).get(action_id) or {}
    return [str(o["value"]) for o in state.get("selected_options") or () if isinstance(o, Mapping) and "value" in o]


def _certs_index(block_id: str) -> int | None:
    suffix = block_id.removeprefix(CERTS_BLOCK_PREFIX)
    return int(suffix) if block_id.startswith(CERTS_BLOCK_PREFIX) and suffix.isdigit() else None


def parse_combine_state(values: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], bool]:
    """(selected instance ids in display order without repeats, whether the waiver is ticked) from
    `view.state.values`."""
    certs = sorted((index, block_id) for block_id in values if (index := _certs_index(block_id)) is not None)
    picked = [value for _, block_id in certs for value in _selected_values(values[block_id], ACTION_PICK)]
    picked += _selected_values(values.get(MORE_BLOCK), ACTION_MORE)
    waiver = WAIVER_VALUE in _selected_values(values.get(WAIVER_BLOCK), ACTION_WAIVER)
    return list(dict.fromkeys(picked)), waiver


def _quota_line(quota: Quota) -> str:
    return f"{quota_text(quota)} domain names (the sum, C5)"


def combination_success_message(instance: Instance, combination: Combination) -> tuple[str, list[Block]]:
    """`instance` is the new cas-merge… instance that `combination` created."""
    sources = [f"`{esc(source, 128)}`" for source in combination.source_ids]
    blocks: list[Block] = [
        header("Combination Success"),
        section(
            f"New instance `{esc(instance.id, 128)}` named *{esc(instance.name, 200)}*\n"
            f"{esc(instance.brand, 64)} {instance.cert_type.value} · quota {_quota_line(combination.quota)}"
        ),
        section(f"*Combined {len(sources)} instances* (no longer refundable):"),
        *list_sections(sources, sep=", ", max_blocks=5, more=lambda n: f"…and {n} more."),
        section(
            f"Combined by {actor_text(combination.actor)} at {combination.at:%Y-%m-%d %H:%M} UTC\n"
            f":white_check_mark: Refund waiver confirmed: “{esc(combination.waiver_text, 500)}”"
        ),
        actions(
            button("Apply for Certificate", ACTION_APPLY_OPEN, instance.id, style="primary"),
            button("Status", ACTION_STATUS, instance.id),
        ),
    ]
    text = f"Combination Success: {esc(instance.name, 200)} ({esc(instance.id, 128)})"
    return text, blocks
