"""What the endpoint modules share: argument shapes, query-string building and the generic decoders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from .. import validation as check
from ..models import JobStatus, PipelineStatus
from ..request import response_json

JSONDict = dict[str, Any]
DateLike = str | datetime
StatusFilter = str | JobStatus | Sequence[str | JobStatus] | None
PipelineStatusFilter = str | PipelineStatus | Sequence[str | PipelineStatus] | None
FileSource = str | Path | bytes | IO[bytes]


def compact(fields: Mapping[str, Any]) -> JSONDict:
    """Drop unset (``None``) fields so the server applies its own defaults."""
    return {key: value for key, value in fields.items() if value is not None}


def query_params(team: str, **params: Any) -> list[tuple[str, str]]:
    """Query parameters with ``team_name``; lists become repeated keys, booleans ``true``/``false``."""
    result: list[tuple[str, str]] = [("team_name", team)]
    for key, value in params.items():
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool):
                result.append((key, "true" if item else "false"))
            elif isinstance(item, (JobStatus, PipelineStatus)):
                result.append((key, item.value))
            else:
                result.append((key, str(item)))
    return result


def job_statuses(value: StatusFilter) -> list[str] | None:
    """A job ``status`` filter as names Studio knows; an unknown one would silently match nothing."""
    known = [status.value for status in JobStatus if status is not JobStatus.UNKNOWN]
    return check.status_names("status", value, known)


def pipeline_statuses(value: PipelineStatusFilter) -> list[str] | None:
    """A pipeline ``status`` filter as names Studio knows (``COMPLETED``, not the jobs' ``COMPLETE``)."""
    known = [status.value for status in PipelineStatus if status is not PipelineStatus.UNKNOWN]
    return check.status_names("status", value, known)


def objects(items: list[Any], what: str = "item") -> list[JSONDict]:
    """The items of a list answer, each of which must be a JSON object."""
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{what} {position} of the list is {type(item).__name__}, not an object")
    return items


def unwrap_list(data: Any, *keys: str) -> list[Any]:
    """A list response; older Studio versions wrap it (``{"jobs": [...]}``)."""
    if isinstance(data, dict):
        for key in (*keys, "data"):
            if isinstance(data.get(key), list):
                return list(data[key])
    if isinstance(data, list):
        return data
    raise ValueError(f"expected a list, got {type(data).__name__}")


def unwrap_object(data: Any, key: str) -> JSONDict:
    """An object response, with or without its envelope (``{"ok": true, "pipeline": {...}}``)."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return dict(data[key])
    if isinstance(data, dict):
        return data
    raise ValueError(f"expected an object, got {type(data).__name__}")


def decode_dict(response: httpx.Response) -> JSONDict:
    data = response_json(response)
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    return data


def decode_dicts(response: httpx.Response) -> list[JSONDict]:
    return [dict(item) for item in objects(unwrap_list(response_json(response)))]


def decode_nothing(response: httpx.Response) -> None:
    return None


def decode_ok(response: httpx.Response) -> bool:
    """``True``: an answer saying ``{"ok": false}`` is refused by :func:`~..request.response_json`."""
    response_json(response)
    return True
