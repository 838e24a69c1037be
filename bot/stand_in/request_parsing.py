"""Reading what an app sends: API arguments from the query string and a JSON, form or multipart body, the bearer
token, and response_url payloads."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.stand_in.answers import JsonDict

JSON_PARAMS = ("blocks", "view", "attachments")


class BadPayload(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


async def read_params(request: web.Request) -> JsonDict:
    """Query string, then the body (JSON or form) on top; JSON-in-a-string arguments decoded."""
    params: JsonDict = dict(request.query)
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        params.update(
            {key: value if isinstance(value, str) else getattr(value, "filename", "") for key, value in form.items()}
        )
    else:
        params.update(_parse_body(await request.read(), request.content_type))
    return {key: _decode_json_param(key, value) for key, value in params.items()}


def _parse_body(body: bytes, content_type: str) -> JsonDict:
    if not body.strip():
        return {}
    if content_type == "application/json" or body.lstrip().startswith(b"{"):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as error:
            raise BadPayload("invalid_json") from error
        if not isinstance(parsed, dict):
            raise BadPayload("invalid_json")
        return parsed
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError) as error:
        raise BadPayload("invalid_form_data") from error


def _decode_json_param(key: str, value: Any) -> Any:
    if key not in JSON_PARAMS or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value  # left as a string, so validation reports it


async def read_hook_payload(request: web.Request) -> JsonDict:
    """JSON, or a form with a `payload` field as incoming webhooks also accept."""
    body = await request.read()
    fields = _parse_body(body, request.content_type)
    if request.content_type != "application/json" and "payload" in fields:
        fields = _parse_body(str(fields["payload"]).encode("utf-8"), "application/json")
    return {key: _decode_json_param(key, value) for key, value in fields.items()}


def bearer_token(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None
