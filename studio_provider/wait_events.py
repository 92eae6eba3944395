"""The checks every trigger event payload shares (pipeline and dataset wait results), written once.

A wait result crosses the defer boundary as a dict; :func:`payload_fields` checks its common part before
the result class checks its own fields, and :func:`read_event` turns a payload that fails those checks
into the task's error in ``execute_complete``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from studio_provider.exceptions import StudioTaskError
from studio_provider.waiting import WaitEnd

T = TypeVar("T")


def payload_fields(cls: type, data: object, what: str) -> tuple[Mapping[str, Any], WaitEnd, float | None]:
    """The payload as a mapping of ``cls``'s fields, with its ``end`` and ``deadline`` checked.

    :param cls: the result dataclass whose fields the payload may hold.
    :param data: the payload.
    :param what: the result's name in errors, such as ``"Studio pipeline wait result"``.
    :raises ValueError: naming the bad key.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"A {what} must be a dict, got {type(data).__name__}.")
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"Unexpected keys in a {what}: {sorted(unknown)}.")
    try:
        end = WaitEnd(data.get("end"))
    except ValueError:
        raise ValueError(f"Invalid 'end' in a {what}: {data.get('end')!r}.") from None
    deadline = data.get("deadline")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))):
        raise ValueError(f"Invalid 'deadline' in a {what}: {deadline!r}.")
    return data, end, None if deadline is None else float(deadline)


def read_event(parse: Callable[[object], T], event: object, trigger: str) -> T:
    """A trigger's event, read in ``execute_complete``.

    :param parse: the result class's ``from_dict``.
    :param event: the event payload.
    :param trigger: which trigger sent it, such as ``"Studio pipeline trigger"``.
    :raises StudioTaskError: when ``parse`` refuses the payload.
    """
    try:
        return parse(event)
    except ValueError as exc:
        raise StudioTaskError(f"{trigger} sent an unreadable event ({exc}): {event!r}") from exc


__all__ = ["payload_fields", "read_event"]
