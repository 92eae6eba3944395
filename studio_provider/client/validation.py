"""Checks of user input, run while a request is built, so bad input fails before anything is sent.

Every error is a ``ValueError`` naming the parameter and saying how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from urllib.parse import quote

from croniter import croniter

from .datasets import DatasetRef

QUERY_TYPES = ("PYTHON", "SHELL")


def required_text(name: str, value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is required and must be a non-empty string, got {value!r}.")
    return value


def path_segment(name: str, value: object) -> str:
    """A value placed in a URL path, percent-encoded so it cannot change the path.

    ``.`` and ``..`` are refused: percent-encoding leaves them as they are, and the URL resolution of
    httpx (as of any URL library) would drop them, sending the request to another path.
    """
    if value is None or (isinstance(value, str) and not value.strip()) or isinstance(value, bool):
        raise ValueError(f"{name} is required, got {value!r}.")
    text = str(value)
    if text in (".", ".."):
        raise ValueError(f"{name} {text!r} is not an id: '.' and '..' would change the request's path.")
    return quote(text, safe="")


def positive_seconds(name: str, value: object) -> float:
    """An interval: a positive number of seconds (a ``timedelta`` too)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
    return float(value)


def timeout_seconds(name: str, value: object) -> float | None:
    """A ``timeout``-like value: ``None`` (no limit), a ``timedelta`` or a non-negative number of
    seconds."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name} must be a timedelta or a number of seconds, got {value!r}.")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{name} must be a finite, non-negative number of seconds, got {value!r}.")
    return seconds


def query_type(value: str) -> str:
    """``PYTHON`` or ``SHELL`` (any case)."""
    normalized = str(value).upper()
    if normalized not in QUERY_TYPES:
        raise ValueError(f"query_type must be 'PYTHON' or 'SHELL', got {value!r}.")
    return normalized


def int_in_range(name: str, value: object, low: int, high: int | None = None) -> int:
    """A whole number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}.")
    return value


def cron_expression(name: str, value: str) -> str:
    """A cron expression of 5 fields (or 6, the last one seconds) that croniter understands.

    croniter also takes a 7th (year) field, which Studio's schedulers do not: refused here.
    """
    if not isinstance(value, str) or len(value.split()) not in (5, 6) or not croniter.is_valid(value):
        raise ValueError(
            f"{name} {value!r} is not a valid cron expression of 5 fields (for example '0 3 * * *')."
        )
    return value


def status_names(name: str, value: object, known: Iterable[str]) -> list[str] | None:
    """Status filter values, upper-cased; each must be one of ``known`` (an unknown name matches nothing
    and would silently return an empty list)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise ValueError(f"{name} must be a status name or a list of them, got {value!r}.")
    choices = tuple(known)
    names = []
    for item in items:
        # A (str, Enum) member's value is its name; str() of it would be "Class.NAME".
        text = (item.value if isinstance(item, Enum) else str(item)).strip().upper()
        if text not in choices:
            raise ValueError(f"{name} holds an unknown status {item!r}: use one of {', '.join(choices)}.")
        names.append(text)
    return names


def iso_datetime(name: str, value: str | datetime) -> str:
    """An ISO-8601 timestamp; a naive ``datetime`` is taken as UTC."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.isoformat()
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return value.strip()
    raise ValueError(f"{name} must be a datetime or an ISO-8601 string, got {value!r}.")


def environment(value: str | Mapping[str, object]) -> str:
    """Studio's environment format: one ``KEY=VALUE`` per line. A mapping is converted."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        lines = []
        for key, item in value.items():
            if not isinstance(key, str) or not key or "=" in key or "\n" in key:
                raise ValueError(f"environment has an invalid variable name {key!r}.")
            text = "" if item is None else str(item)
            if "\n" in text:
                raise ValueError(f"environment variable {key!r} must not contain a newline.")
            lines.append(f"{key}={text}")
        return "\n".join(lines)
    raise ValueError(f"environment must be a 'KEY=VALUE' string or a mapping, got {type(value).__name__}.")


def lines(name: str, value: str | Sequence[str]) -> str:
    """A multi-line string, from a string or a list of lines (``requirements``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    raise ValueError(f"{name} must be a string or a list of strings, got {value!r}.")


def id_list(name: str, value: Sequence[object]) -> list[str]:
    """A list of ids sent as strings (upload ids in ``files``)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of ids, got {value!r}.")
    result = []
    for item in value:
        if item is None or isinstance(item, bool) or str(item).strip() == "":
            raise ValueError(f"{name} holds an invalid id {item!r}.")
        result.append(str(item))
    return result


def dataset_refs(value: Sequence[str]) -> list[str]:
    """Dataset references: ``name``, ``name@vX.Y.Z``, ``@namespace.project.name[@vX.Y.Z]``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            "datasets must be a non-empty list of dataset references such as "
            "'@namespace.project.name@v1.0.0' or 'name'."
        )
    refs = []
    for ref in value:
        try:
            DatasetRef.parse(ref)
        except ValueError as exc:
            raise ValueError(
                f"datasets holds a malformed reference {ref!r} ({exc}); use 'name', 'name@vX.Y.Z' "
                f"or '@namespace.project.name@vX.Y.Z'."
            ) from None
        refs.append(ref)
    return refs


def one_of(names: tuple[str, str], values: tuple[object, object]) -> None:
    """At least one of two alternative parameters is given."""
    if all(v is None or v == "" for v in values):
        raise ValueError(f"Pass {names[0]} or {names[1]}.")


def not_both(names: tuple[str, str], values: tuple[object, object]) -> None:
    """Two mutually exclusive parameters are not both given."""
    if all(v is not None and v != "" for v in values):
        raise ValueError(f"{names[0]} and {names[1]} are mutually exclusive: pass only one of them.")
