"""File uploads the files_upload_v2 way: files.getUploadURLExternal, a POST of the bytes to the upload URL, then
files.completeUploadExternal shares them into channels."""

from __future__ import annotations

import copy
import itertools
import json
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.stand_in.answers import Answer, JsonDict, error, ok
from bot.stand_in.chat import ChatMessages
from bot.stand_in.directory import BOT_USER_ID, CHANNEL_ID


@dataclass
class UploadedFile:
    """A file uploaded through files.getUploadURLExternal and the upload URL; shared once completed."""

    id: str
    filename: str
    length: int  # as declared to files.getUploadURLExternal
    alt_txt: str | None = None
    content: bytes | None = None  # what was POSTed to the upload URL
    title: str | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


class FileUploads:
    """Every upload started, by file id. `base_url` gives the stand-in's URL, for upload URLs and file links."""

    def __init__(self, chat: ChatMessages, base_url: Callable[[], str]) -> None:
        self._chat = chat
        self._base_url = base_url
        self._uploads: dict[str, UploadedFile] = {}
        self._file_numbers = itertools.count(1)

    def uploads(self) -> list[UploadedFile]:
        return copy.deepcopy(list(self._uploads.values()))

    def receive(self, file_id: str, data: bytes) -> Answer:
        """What Slack answers a POST of `data` to the upload URL of `file_id`."""
        upload = self._uploads.get(file_id)
        if upload is None or upload.completed:
            return error("file_not_found", status=404)
        upload.content = data
        return ok(file_id=upload.id, size=len(data))

    def files_get_upload_url(self, params: JsonDict) -> Answer:
        filename = params.get("filename")
        length = _positive_int(params.get("length"))
        if not isinstance(filename, str) or not filename.strip() or length is None:
            return error("invalid_arguments", ["`filename` and a positive integer `length` are required"])
        file_id = f"F{next(self._file_numbers):010d}"
        alt_txt = params.get("alt_txt")
        self._uploads[file_id] = UploadedFile(
            id=file_id, filename=filename, length=length, alt_txt=alt_txt if isinstance(alt_txt, str) else None
        )
        return ok(upload_url=f"{self._base_url()}/upload/v1/{file_id}", file_id=file_id)

    def files_complete_upload(self, params: JsonDict) -> Answer:
        items = _json_array(params.get("files"))
        if not items or not all(isinstance(item, dict) for item in items):
            return error("invalid_arguments", ["`files` must be a JSON array of {id, title} objects"])
        uploads = [self._uploads.get(str(item.get("id"))) for item in items]
        if any(u is None or u.content is None or u.completed for u in uploads):
            return error("file_not_found")
        channels = _channel_list(params)
        if any(not CHANNEL_ID.match(channel) for channel in channels):
            return error("channel_not_found")
        comment = params.get("initial_comment") if isinstance(params.get("initial_comment"), str) else None
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        shared = []
        for upload, item in zip(uploads, items, strict=True):
            assert upload is not None  # checked above
            upload.title = str(item.get("title") or upload.filename)
            upload.channels = channels
            upload.initial_comment = comment
            upload.thread_ts = thread_ts
            upload.completed = True
            shared.append(self._file_object(upload))
        for channel in channels:
            message = self._chat.new_message({"text": comment or "", "thread_ts": thread_ts})
            message.update(files=copy.deepcopy(shared), upload=True)
            self._chat.post(channel, message)
        return ok(files=shared)

    def _file_object(self, upload: UploadedFile) -> JsonDict:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        return {
            "id": upload.id,
            "name": upload.filename,
            "title": upload.title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "binary",
            "size": len(upload.content or b""),
            "user": BOT_USER_ID,
            "channels": list(upload.channels),
            "url_private": f"{self._base_url()}/files/{upload.id}/{upload.filename}",
        }


def _positive_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _json_array(value: Any) -> list[Any] | None:
    """files.completeUploadExternal's `files`: a JSON array, sent as a string in a form body."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, list) else None


def _channel_list(params: JsonDict) -> list[str]:
    channel_id = params.get("channel_id")
    if isinstance(channel_id, str) and channel_id:
        return [channel_id]
    channels = params.get("channels")
    return [c.strip() for c in channels.split(",") if c.strip()] if isinstance(channels, str) else []
