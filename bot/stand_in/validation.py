"""Block Kit checks for messages and views: slack_sdk's own validators plus the limits real Slack enforces and
slack_sdk does not (docs/slack.md section 3). Pure functions, no I/O.

Every problem reads like Slack's `response_metadata.messages`: `"[ERROR] <what> [json-pointer:<where>]"`.
Message pointers are rooted at the message payload (`/blocks/0/text`); view pointers at the API arguments, as
Slack reports them for views.open (`/view/blocks/0/text`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JsonDict = dict[str, Any]

MESSAGE_MAX_BLOCKS = 50
TEXT_MAX = 3000
SECTION_FIELD_MAX = 2000
OPTION_DESCRIPTION_MAX = 75
TOGGLE_OPTIONS_MAX = 10
INPUT_LENGTH_MAX = 3000
PRIVATE_METADATA_MAX = 3000
VIEW_MAX_BYTES = 250_000
VIEW_TYPES = ("modal", "home")
TEXT_OBJECT_TYPES = ("plain_text", "mrkdwn")
TOGGLE_ELEMENT_TYPES = ("checkboxes", "radio_buttons")

TEXT_REQUIRED = "[ERROR] text is required as the notification fallback [json-pointer:/text]"

_MISSING_ARGUMENT = re.compile(r"missing \d+ required (?:keyword-only |positional )?arguments?: '(\w+)'")
# First word of a View validator message -> the attribute it is about.
_VIEW_ATTRIBUTES = ("title", "submit", "close", "private_metadata", "callback_id", "type")


def problem(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def message_problems(payload: JsonDict) -> list[str]:
    """Problems with a chat.postMessage / chat.postEphemeral / chat.update / response_url payload."""
    problems = [] if _has_fallback_text(payload) else [TEXT_REQUIRED]
    blocks = _decoded(payload.get("blocks"))
    tree = dict(payload)
    if blocks is not None:
        tree["blocks"] = blocks
        problems += _message_blocks_problems(blocks)
    problems += _tree_problems(tree, "")
    return _unique(problems)


def view_problems(view: Any) -> list[str]:
    """Problems with the `view` argument of views.open / views.push / views.update."""
    view = _decoded(view)
    if not isinstance(view, dict):
        return [problem("must provide an object", "/view")]
    blocks = view.get("blocks")
    problems = _view_shape_problems(view, blocks)
    if isinstance(blocks, list):
        problems += _blocks_problems(blocks, "/view/blocks")
        problems += _submit_problems(view, blocks)
    problems += _sdk_view_problems(view, blocks if isinstance(blocks, list) else None)
    problems += _tree_problems({**view, "blocks": blocks}, "/view")
    size = view_size(view)
    if size > VIEW_MAX_BYTES:
        problems.append(problem(f"view JSON must be at most {VIEW_MAX_BYTES} bytes, got {size}", "/view"))
    return _unique(problems)


def view_size(view: JsonDict) -> int:
    """Bytes of the view as compact UTF-8 JSON, the measure for Slack's 250 kB `view_too_large` limit."""
    return len(json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _has_fallback_text(payload: JsonDict) -> bool:
    # markdown_text replaces text in newer Slack messages and also serves as the notification fallback.
    return any(isinstance(payload.get(key), str) and payload[key].strip() for key in ("text", "markdown_text"))


def _decoded(value: Any) -> Any:
    """Form-encoded API calls carry `blocks` and `view` as JSON strings."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


def _message_blocks_problems(blocks: Any) -> list[str]:
    if not isinstance(blocks, list):
        return [problem("must provide an array", "/blocks")]
    problems = _blocks_problems(blocks, "/blocks")
    if len(blocks) > MESSAGE_MAX_BLOCKS:
        problems.append(problem(f"must be less than {MESSAGE_MAX_BLOCKS + 1} items", "/blocks"))
    return problems


def _blocks_problems(blocks: list[Any], base: str) -> list[str]:
    problems: list[str] = []
    for index, block in enumerate(blocks):
        problems += _sdk_block_problems(block, f"{base}/{index}")
    return problems + _duplicate_block_ids(blocks, base)


def _sdk_block_problems(block: Any, pointer: str) -> list[str]:
    """Re-run slack_sdk's validators; they stop at the first failure, so one problem per block at most."""
    if not isinstance(block, dict):
        return [problem("must provide an object", pointer)]
    if "type" not in block:
        return [problem("missing required field: type", f"{pointer}/type")]
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [problem(f"unsupported block type `{block['type']}`", f"{pointer}/type")]
        parsed.to_dict()
    except SlackObjectFormationError as error:
        return [problem(str(error), pointer)]
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return [_constructor_problem(error, pointer)]
    return []


def _constructor_problem(error: Exception, pointer: str) -> str:
    missing = _MISSING_ARGUMENT.search(str(error))
    if missing:
        return problem(f"missing required field: {missing.group(1)}", f"{pointer}/{missing.group(1)}")
    return problem(f"invalid object: {error}", pointer)


def _duplicate_block_ids(blocks: list[Any], base: str) -> list[str]:
    first_seen: dict[str, int] = {}
    problems = []
    for index, block in enumerate(blocks):
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if not isinstance(block_id, str):
            continue
        if block_id in first_seen:
            where = f"{base}/{first_seen[block_id]}"
            problems.append(
                problem(f"duplicate block_id `{block_id}` (first used at {where})", f"{base}/{index}/block_id")
            )
        else:
            first_seen[block_id] = index
    return problems


def _view_shape_problems(view: JsonDict, blocks: Any) -> list[str]:
    problems = []
    if view.get("type") not in VIEW_TYPES:
        problems.append(problem(f"must be one of: {', '.join(VIEW_TYPES)}", "/view/type"))
    if view.get("type") == "modal" and not view.get("title"):
        problems.append(problem("missing required field: title", "/view/title"))
    if blocks is None:
        problems.append(problem("missing required field: blocks", "/view/blocks"))
    elif not isinstance(blocks, list):
        problems.append(problem("must provide an array", "/view/blocks"))
    metadata = view.get("private_metadata")
    if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA_MAX:
        # Same words as slack_sdk's View validator, so the two collapse into one problem.
        problems.append(
            problem(f"private_metadata cannot exceed {PRIVATE_METADATA_MAX} characters", "/view/private_metadata")
        )
    return problems


def _submit_problems(view: JsonDict, blocks: list[Any]) -> list[str]:
    if view.get("type") != "modal" or view.get("submit"):
        return []
    for index, block in enumerate(blocks):
        if isinstance(block, dict) and block.get("type") == "input":
            # Slack's own wording and pointer for this rule.
            return [problem("must define submit to use input block", f"/view/blocks/{index}/input")]
    return []


def _sdk_view_problems(view: JsonDict, blocks: list[Any] | None) -> list[str]:
    """slack_sdk's View validators (title, submit, close, metadata, callback_id, block count). Blocks are checked
    one by one elsewhere, so the SDK only sees them as raw dicts here and doesn't report them a second time."""
    fields = {key: value for key, value in view.items() if key != "blocks"}
    try:
        sdk_view = View(**fields)
        sdk_view.blocks = blocks  # type: ignore[assignment]
        sdk_view.to_dict()
    except SlackObjectFormationError as error:
        return [problem(str(error), _view_pointer(str(error)))]
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return [_constructor_problem(error, "/view")]
    return []


def _view_pointer(message: str) -> str:
    if message.startswith("views must contain"):
        return "/view/blocks"
    first_word = message.split(" ", 1)[0]
    return f"/view/{first_word}" if first_word in _VIEW_ATTRIBUTES else "/view"


# ---- checks on every object in the JSON tree -------------------------------------------------------------------


def _tree_problems(root: Any, base: str) -> list[str]:
    problems: list[str] = []
    for pointer, node in _objects(root, base):
        problems += _text_object_problems(node, pointer)
        problems += _toggle_options_problems(node, pointer)
        problems += _option_description_problems(node, pointer)
        problems += _initial_option_problems(node, pointer)
        problems += _text_input_problems(node, pointer)
        problems += _section_field_problems(node, pointer)
        problems += _input_label_problems(node, pointer)
    return problems


def _objects(root: Any, base: str) -> Iterator[tuple[str, JsonDict]]:
    """Every dict in the tree with its json-pointer, in document order. Iterative: the payload comes from outside."""
    stack: list[tuple[str, Any]] = [(base, root)]
    while stack:
        pointer, node = stack.pop()
        if isinstance(node, dict):
            yield pointer, node
            children = [(f"{pointer}/{_escape(str(key))}", value) for key, value in node.items()]
        elif isinstance(node, list):
            children = [(f"{pointer}/{index}", value) for index, value in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _text_object_problems(node: JsonDict, pointer: str) -> list[str]:
    if node.get("type") not in TEXT_OBJECT_TYPES:
        return []
    text = node.get("text")
    if not isinstance(text, str):
        return [problem("must provide a string", f"{pointer}/text")]
    if not text:
        return [problem("must be more than 0 characters", f"{pointer}/text")]
    if len(text) > TEXT_MAX:
        return [problem(f"must be less than {TEXT_MAX + 1} characters", f"{pointer}/text")]
    return []


def _toggle_options_problems(node: JsonDict, pointer: str) -> list[str]:
    options = node.get("options")
    if node.get("type") in TOGGLE_ELEMENT_TYPES and isinstance(options, list) and len(options) > TOGGLE_OPTIONS_MAX:
        return [problem(f"must be less than {TOGGLE_OPTIONS_MAX + 1} items", f"{pointer}/options")]
    return []


def _option_description_problems(node: JsonDict, pointer: str) -> list[str]:
    options = node.get("options")
    if not isinstance(options, list):
        return []
    problems = []
    for index, option in enumerate(options):
        description = option.get("description") if isinstance(option, dict) else None
        text = description.get("text") if isinstance(description, dict) else None
        if isinstance(text, str) and len(text) > OPTION_DESCRIPTION_MAX:
            where = f"{pointer}/options/{index}/description/text"
            problems.append(problem(f"must be less than {OPTION_DESCRIPTION_MAX + 1} characters", where))
    return problems


def _initial_option_problems(node: JsonDict, pointer: str) -> list[str]:
    choices = _declared_options(node)
    if choices is None:
        return []
    problems = []
    initial_options = node.get("initial_options")
    if isinstance(initial_options, list):
        for index, option in enumerate(initial_options):
            if option not in choices:
                problems.append(
                    problem("must exactly match an entry of `options`", f"{pointer}/initial_options/{index}")
                )
    if node.get("initial_option") is not None and node["initial_option"] not in choices:
        problems.append(problem("must exactly match an entry of `options`", f"{pointer}/initial_option"))
    return problems


def _declared_options(node: JsonDict) -> list[Any] | None:
    """The options an element offers itself; None for external or dynamic sources, which can't be checked here."""
    if isinstance(node.get("options"), list):
        return list(node["options"])
    groups = node.get("option_groups")
    if isinstance(groups, list):
        return [option for group in groups if isinstance(group, dict) for option in group.get("options") or []]
    return None


def _text_input_problems(node: JsonDict, pointer: str) -> list[str]:
    if node.get("type") != "plain_text_input":
        return []
    problems = []
    low, high = node.get("min_length"), node.get("max_length")
    if low is not None and not (isinstance(low, int) and 0 <= low <= INPUT_LENGTH_MAX):
        problems.append(problem(f"must be an integer from 0 to {INPUT_LENGTH_MAX}", f"{pointer}/min_length"))
    if high is not None and not (isinstance(high, int) and 1 <= high <= INPUT_LENGTH_MAX):
        problems.append(problem(f"must be an integer from 1 to {INPUT_LENGTH_MAX}", f"{pointer}/max_length"))
    if not problems and isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append(problem("must not be greater than max_length", f"{pointer}/min_length"))
    return problems


def _section_field_problems(node: JsonDict, pointer: str) -> list[str]:
    fields = node.get("fields")
    if node.get("type") != "section" or not isinstance(fields, list):
        return []
    problems = []
    for index, text_object in enumerate(fields):
        text = text_object.get("text") if isinstance(text_object, dict) else None
        if isinstance(text, str) and len(text) > SECTION_FIELD_MAX:
            where = f"{pointer}/fields/{index}/text"
            problems.append(problem(f"must be less than {SECTION_FIELD_MAX + 1} characters", where))
    return problems


def _input_label_problems(node: JsonDict, pointer: str) -> list[str]:
    if node.get("type") == "input" and not node.get("label"):
        return [problem("missing required field: label", f"{pointer}/label")]
    return []
