"""What a ``logs/follow/`` message says, read defensively: frames come from a remote server.

Studio sends JSON text frames (see ``shared/notes/studio-protocol.md``): ``{"type": "ping"}``
keep-alives, ``{"logs": [{"id", "message"}, ...]}``, ``{"log_blobs": [url, ...]}``, ``{"job": {...}}``
status changes, ``{"type": "log" | "status", ...}`` in the older shape, and ``{"message": ...}`` alone
for a terminal server error. :func:`read_frame` turns one message into a :class:`Frame` with only
well-formed parts: a line without text, a blob that is not a string, a job object that names another
job are left out, and the counts are bounded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from ..redaction import cap

log = logging.getLogger(__name__)

#: Blob URLs taken from one frame at most.
MAX_BLOBS_PER_FRAME = 32
#: The longest server error text kept from an error frame.
MAX_ERROR_TEXT = 1000

_KEEPALIVE = {"type": "ping"}
#: The keep-alive as servers spell it (``json.dumps`` and Starlette's compact form): most messages on an
#: idle socket, so they are recognised without decoding JSON; other spellings take the decoding path.
_KEEPALIVE_TEXTS = frozenset({'{"type":"ping"}', '{"type": "ping"}'})


@dataclass(frozen=True)
class RawLine:
    """One log line as a frame or a REST answer carries it.

    :param id: its id (``None`` for lines without one, such as a plain-text blob's).
    :param message: its text, as sent (possibly several lines).
    """

    id: int | None
    message: str


@dataclass
class Frame:
    """The well-formed parts of one message.

    :param lines: log lines, in order.
    :param blobs: URLs of older log chunks, as sent (checked before fetching).
    :param job: a status update of the followed job (merged over what is known).
    :param error: the server's terminal error text.
    :param foreign: the message named another job (and was ignored).
    """

    lines: list[RawLine] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    job: dict[str, Any] | None = None
    error: str | None = None
    foreign: bool = False


def is_keepalive(message: str | bytes) -> bool:
    """The server's ``{"type": "ping"}`` message (dropped as it arrives, without waking the follower)."""
    if message in _KEEPALIVE_TEXTS:
        return True
    if len(message) >= 64:
        return False
    data = message.encode() if isinstance(message, str) else message
    return b"ping" in data and decode(message) == _KEEPALIVE


def decode(message: str | bytes) -> dict[str, Any] | None:
    """The JSON object of a message, or ``None`` (not JSON, or not an object)."""
    try:
        frame = json.loads(message)
    except ValueError:
        log.debug("Ignoring a non-JSON frame on a job's log stream.")
        return None
    return frame if isinstance(frame, dict) else None


def as_int(value: Any) -> int | None:
    """An integer id, or ``None`` (booleans and other types are not ids)."""
    if isinstance(value, bool):
        return None
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def raw_lines(items: Any) -> list[RawLine]:
    """The well-formed lines of a ``logs`` list: objects with a string ``message``."""
    if not isinstance(items, list):
        return []
    lines = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("message"), str):
            lines.append(RawLine(as_int(item.get("id")), item["message"]))
    return lines


def _names_other_job(data: dict[str, Any], job_id: str) -> bool:
    for key in ("job_id", "jobId"):
        if data.get(key) is not None and str(data[key]) != job_id:
            return True
    job = data.get("job")
    return isinstance(job, dict) and job.get("id") is not None and str(job["id"]) != job_id


def read_frame(message: str | bytes, job_id: str) -> Frame | None:
    """The parts of one message of ``job_id``'s stream; ``None`` for a message that says nothing.

    :param message: the message as received.
    :param job_id: the followed job: a frame that names another job is ignored whole.
    """
    data = decode(message)
    if data is None:
        return None
    if _names_other_job(data, job_id):
        return Frame(foreign=True)
    kind = data.get("type")
    if kind == "ping":
        return None
    frame = Frame()
    blobs = data.get("log_blobs")
    if isinstance(blobs, list):
        frame.blobs = [url for url in blobs if isinstance(url, str)][:MAX_BLOBS_PER_FRAME]
    frame.lines = raw_lines(data.get("logs"))
    if kind == "log" and isinstance(data.get("message"), str):
        frame.lines.append(RawLine(as_int(data.get("id")), data["message"]))
    if isinstance(data.get("job"), dict):
        frame.job = data["job"]
    elif kind == "status" and isinstance(data.get("status"), str):
        frame.job = {"status": data["status"]}
    # {"message": "..."} alone is the server's terminal error; status and log frames also carry a
    # message, with their own keys beside it.
    if "message" in data and not (set(data) - {"message", "type", "detail"}) and kind in (None, "error"):
        frame.error = cap(str(data.get("message")), MAX_ERROR_TEXT)
    return frame


def blob_lines(text: str) -> list[RawLine]:
    """A blob's lines: JSON (a list of ``{"id", "message"}``, or ``{"logs": [...]}``) or plain text."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            data = data.get("logs")
        if isinstance(data, list):
            return raw_lines(data)
    return [RawLine(None, line) for line in text.splitlines(keepends=True)]


__all__ = [
    "Frame",
    "RawLine",
    "as_int",
    "blob_lines",
    "decode",
    "is_keepalive",
    "raw_lines",
    "read_frame",
]
