"""Who owns a Studio schedule, told from its name: the only field of a schedule its creator chooses.

A schedule the provider creates is named ``<declared name> [airflow:<16 hex digits>]``; the digits are an
HMAC, keyed with the Studio token, over the team, the owner's scope (the DAG id, for the operators) and
the declared name (:class:`ScheduleOwner`). Another member of the team cannot compute them, not even
with the same DAG and their own token, so they cannot plant a schedule the owner would take for its own.
A declared name matches a schedule whose name, without its marker, is exactly the declared one.

The listing (``GET pipeline/schedules``, as the reference shows it) carries no pipeline: what a schedule
targets is read from one schedule (``GET pipeline/schedule``), see :func:`schedule_pipeline_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field

from . import validation as check
from .api import StudioApi
from .errors import StudioError, StudioNotFoundError
from .models import Schedule
from .redaction import cap

#: A name that carries an owner's marker: ``<declared name> [airflow:<16 hex digits>]``.
_MARKED = re.compile(r"(?P<name>.+) \[airflow:(?P<tag>[0-9a-f]{16})\]", re.DOTALL)
#: Versions the HMAC's input, so that another use of the token as a key never yields the same digits.
_OWNER_CONTEXT = "airflow-provider-datachain-studio/schedule-owner/v1"
#: At most this many conflicting schedules are read and described in one error.
MAX_CONFLICTS_SHOWN = 5
#: How much of a name the server sent goes into a message (then ``…``).
_MAX_SHOWN = 120


def split_marker(studio_name: str) -> tuple[str, str | None]:
    """A schedule's name as Studio has it, split into the declared name and the owner's marker digits
    (``None`` when it carries none): ``"nightly [airflow:0123456789abcdef]"`` gives
    ``("nightly", "0123456789abcdef")``; ``"nightly-eu"`` gives ``("nightly-eu", None)``.

    :param studio_name: the name as Studio has it.
    """
    marked = _MARKED.fullmatch(studio_name)
    return (marked["name"], marked["tag"]) if marked else (studio_name, None)


@dataclass(frozen=True)
class ScheduleOwner:
    """Who manages a schedule: a secret derived from the Studio token and the owner's scope.

    Build it with :meth:`derive`; the key is never shown (``repr`` leaves it out).

    :param label: how messages name the owner, such as ``"DAG 'etl'"``.
    :param key: the derived secret (an HMAC of the team and scope, keyed with the token).
    """

    label: str
    key: bytes = field(repr=False)

    @classmethod
    def derive(cls, *, token: str, team: str, scope: str, label: str | None = None) -> ScheduleOwner:
        """The owner ``scope`` (for the provider's operators: the DAG id) acting with ``token`` in ``team``.

        :param token: the Studio token: the key, so that only its holder can mark a schedule as its own.
        :param team: the Studio team.
        :param scope: what owns the schedules (one name per scope).
        :param label: how messages name the owner; default ``repr(scope)``.
        :raises ValueError: when the token, team or scope is empty.
        """
        if not isinstance(token, str) or not token:
            raise ValueError("token is required to tell which schedules are the owner's.")  # never echoed
        check.required_text("team", team)
        check.required_text("scope", scope)
        message = json.dumps([_OWNER_CONTEXT, team, scope]).encode("utf-8")
        key = hmac.new(token.encode("utf-8"), message, hashlib.sha256).digest()
        return cls(label=label if label is not None else repr(scope), key=key)

    def marker(self, schedule_name: str) -> str:
        """The 16 hex digits that mark the schedule ``schedule_name`` as this owner's.

        :param schedule_name: the declared name.
        """
        return hmac.new(self.key, schedule_name.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def studio_name(self, schedule_name: str) -> str:
        """The name a schedule of this owner carries in Studio: ``<schedule_name> [airflow:<marker>]``.

        :param schedule_name: the declared name.
        """
        return f"{schedule_name} [airflow:{self.marker(schedule_name)}]"

    def owns(self, studio_name: str | None) -> bool:
        """Whether a schedule named ``studio_name`` (as Studio has it) carries this owner's marker.

        :param studio_name: the name as Studio has it.
        """
        if not studio_name:
            return False
        name, tag = split_marker(studio_name)
        return tag is not None and hmac.compare_digest(tag, self.marker(name))


class StudioScheduleConflictError(StudioError):
    """A schedule of the declared name exists that the owner did not create; nothing was changed.

    :param message: the conflict (each schedule's id, name and pipeline) and how to resolve it.
    :param schedule_ids: the ids of the conflicting schedules.
    """

    def __init__(self, message: str, *, schedule_ids: tuple[int, ...]) -> None:
        super().__init__(message)
        self.schedule_ids = schedule_ids


@dataclass(frozen=True)
class NamedSchedules:
    """The schedules whose declared name is exactly the one looked up.

    :param own: the owner's schedule, or ``None``.
    :param others: every other schedule of that name (made by hand, by another DAG, another token).
    """

    own: Schedule | None
    others: tuple[Schedule, ...]


def find_named_schedules(api: StudioApi, schedule_name: str, owner: ScheduleOwner) -> NamedSchedules:
    """The team's schedules named exactly ``schedule_name`` (once their owner's marker is set aside),
    split into the owner's and the others'.

    :param api: a client or hook.
    :param schedule_name: the declared name.
    :param owner: whose schedule to look for.
    :raises StudioError: when the owner has several schedules of that name (the message lists their ids).
    """
    own: list[Schedule] = []
    others: list[Schedule] = []
    for item in api.list_schedules():
        if item.id is None or not item.schedule_name or split_marker(item.schedule_name)[0] != schedule_name:
            continue
        (own if owner.owns(item.schedule_name) else others).append(item)
    if len(own) > 1:
        ids = ", ".join(str(item.id) for item in own)
        raise StudioError(
            f"{owner.label} has several Studio schedules named {schedule_name!r} (ids {ids}); delete all "
            f"but one."
        )
    return NamedSchedules(own[0] if own else None, tuple(others))


def schedule_pipeline_id(schedule: Schedule) -> str | None:
    """The definition a schedule targets, from one schedule as ``GET pipeline/schedule`` reads it (the
    reference nests it in ``pipeline``; the listing does not carry it), or ``None`` when not told.

    :param schedule: a schedule read by id (a listed one gives ``None`` unless its server adds the field).
    """
    pipeline = schedule.raw.get("pipeline")
    if isinstance(pipeline, dict):
        parent = pipeline.get("definition_id")
        if pipeline.get("is_definition") is False and parent:
            return str(parent)  # a run stands for its definition
        if pipeline.get("pipeline_id"):
            return str(pipeline["pipeline_id"])
    value = schedule.raw.get("pipeline_id")
    return str(value) if value else None


def shown(value: object) -> str:
    """A value the server sent, cut and quoted (``repr`` escapes control characters), for a message."""
    return "unknown" if value is None or value == "" else repr(cap(str(value), _MAX_SHOWN))


def _described(api: StudioApi, schedule: Schedule) -> str:
    try:
        detail = api.get_schedule(schedule_id=int(schedule.id or 0))
    except StudioNotFoundError:
        detail = schedule  # deleted meanwhile: say what the listing said
    pipeline = detail.raw.get("pipeline")
    pipeline_name = pipeline.get("name") if isinstance(pipeline, dict) else None
    creator = schedule.raw.get("created_by")
    username = creator.get("username") if isinstance(creator, dict) else None
    return (
        f"id {schedule.id} {shown(schedule.schedule_name)} for pipeline {shown(pipeline_name)} "
        f"(id {shown(schedule_pipeline_id(detail))}), created by {shown(username)}"
    )


def conflict_error(
    api: StudioApi, schedule_name: str, owner: ScheduleOwner, others: tuple[Schedule, ...], resolution: str
) -> StudioScheduleConflictError:
    """The error for schedules named ``schedule_name`` that ``owner`` did not create: each one's id, name,
    pipeline and creator (read by id, at most :data:`MAX_CONFLICTS_SHOWN`), then ``resolution``.

    :param api: a client or hook.
    :param schedule_name: the declared name.
    :param owner: who looked.
    :param others: the conflicting schedules (at least one).
    :param resolution: what the user can do, in their terms.
    """
    shown = "; ".join(_described(api, item) for item in others[:MAX_CONFLICTS_SHOWN])
    hidden = len(others) - MAX_CONFLICTS_SHOWN
    more = f"; and {hidden} more" if hidden > 0 else ""
    return StudioScheduleConflictError(
        f"Studio already has a schedule named {schedule_name!r} that {owner.label} did not create with this "
        f"connection's token: {shown}{more}. It was left as it is. {resolution}",
        schedule_ids=tuple(int(item.id or 0) for item in others),
    )


def own_schedule(
    api: StudioApi, schedule_name: str, owner: ScheduleOwner, *, resolution: str
) -> Schedule | None:
    """The owner's schedule named ``schedule_name``, or ``None`` when there is no schedule of that name.

    :param api: a client or hook.
    :param schedule_name: the declared name.
    :param owner: whose schedule.
    :param resolution: what the user can do when only others' schedules carry the name.
    :raises StudioScheduleConflictError: when the name is only others'.
    """
    named = find_named_schedules(api, schedule_name, owner)
    if named.own is None and named.others:
        raise conflict_error(api, schedule_name, owner, named.others, resolution)
    return named.own


def renamed(owner: ScheduleOwner, current: str | None, new_name: str) -> str:
    """The name to send when renaming a schedule now called ``current``: the owner's marker follows the
    schedule it marked, so a rename keeps it the owner's; any other schedule gets ``new_name`` as is.

    :param owner: who renames.
    :param current: the schedule's name as Studio has it.
    :param new_name: the declared new name.
    """
    return owner.studio_name(new_name) if owner.owns(current) else new_name


def check_declared_name(name: str, value: object) -> str:
    """A declared schedule name: non-empty text that does not end in an owner's marker (the provider
    adds it).

    :param name: the parameter's name, for the error.
    :param value: the name.
    :raises ValueError: naming the parameter.
    """
    text = check.required_text(name, value)
    if split_marker(text)[1] is not None:
        raise ValueError(
            f"{name} {text!r} ends in an owner's marker ' [airflow:…]': give the name without it; the "
            f"provider adds the marker to the schedules it creates."
        )
    return text


__all__ = [
    "MAX_CONFLICTS_SHOWN",
    "NamedSchedules",
    "ScheduleOwner",
    "StudioScheduleConflictError",
    "check_declared_name",
    "conflict_error",
    "find_named_schedules",
    "own_schedule",
    "renamed",
    "schedule_pipeline_id",
    "shown",
    "split_marker",
]
