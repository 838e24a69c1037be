"""What the stand-in answers with: a JSON body, an HTTP status and headers, shaped like Slack's `ok` / `error`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


@dataclass
class Answer:
    body: JsonDict
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def ok(**fields: Any) -> Answer:
    return Answer({"ok": True, **fields})


def error(error: str, messages: list[str] | None = None, *, status: int = 200) -> Answer:
    body: JsonDict = {"ok": False, "error": error}
    if messages:
        body["response_metadata"] = {"messages": messages}
    return Answer(body, status)
