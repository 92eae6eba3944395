"""Schedules as code: bring one named Studio schedule to a declared state with the fewest calls.

:func:`sync_schedule` creates the schedule when it is missing, updates only the fields that differ, and
does nothing when it already matches; running it twice leaves one schedule. It imports nothing from
Airflow; :class:`~studio_provider.operators.schedule.StudioSyncScheduleOperator` is a thin shell around it.

**Ownership** (:mod:`.schedule_owner`): the sync creates, changes, replaces or deletes only a schedule
that carries its owner's marker; a schedule of the declared name without it is never touched: the sync
fails naming it, unless told to take that one over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from . import validation as check
from .api import StudioApi
from .lookups.pipelines import resolve_definition
from .models import Schedule
from .schedule_owner import (
    NamedSchedules,
    ScheduleOwner,
    check_declared_name,
    conflict_error,
    find_named_schedules,
    schedule_pipeline_id,
    shown,
)

log = logging.getLogger(__name__)

DateLike = datetime | str


def aware_start_after(name: str, value: DateLike) -> str:
    """``value`` (a ``datetime``, a pendulum ``DateTime`` or ISO text) as timezone-aware ISO text; a naive
    value is taken as UTC.

    :param name: the parameter's name, for the error.
    :param value: the moment.
    :raises ValueError: when ``value`` is neither a datetime nor ISO-8601 text.
    """
    moment: datetime | None = None
    if isinstance(value, datetime):  # pendulum.DateTime is a datetime
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        raise ValueError(
            f"{name} must be a datetime, a pendulum DateTime or ISO-8601 text such as "
            f"'2030-01-01T03:00:00+00:00', got {value!r}."
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=moment.tzinfo,
    ).isoformat()  # a plain datetime: pendulum's isoformat() would do as well, its str() would not


def _moment(text: object) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ScheduleSpec:
    """The declared state of one schedule; checked on construction, before any request.

    :param schedule_name: the key: the schedule's name.
    :param pipeline_id: the target definition's id (or give ``pipeline_name``).
    :param pipeline_name: the target definition's name.
    :param cron_expression: when it fires (croniter syntax).
    :param start_after: not before this moment (timezone-aware ISO text, see :func:`aware_start_after`).
    :param paused: ``True`` paused, ``False`` active, ``None`` leave as it is.
    """

    schedule_name: str
    pipeline_id: str | None = None
    pipeline_name: str | None = None
    cron_expression: str | None = None
    start_after: str | None = None
    paused: bool | None = None

    @classmethod
    def build(
        cls,
        *,
        schedule_name: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        cron_expression: str | None = None,
        start_after: DateLike | None = None,
        paused: bool | None = None,
    ) -> ScheduleSpec:
        """Check and normalize the declared state.

        :raises ValueError: naming the parameter, for any invalid input.
        """
        check_declared_name("schedule_name", schedule_name)
        check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
        check.not_both(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
        if not cron_expression and start_after is None:
            raise ValueError("Pass cron_expression, start_after, or both: a schedule needs at least one.")
        if cron_expression:
            check.cron_expression("cron_expression", cron_expression)
        if paused is not None and not isinstance(paused, bool):
            raise ValueError(f"paused must be True, False or None, got {paused!r}.")
        return cls(
            schedule_name=schedule_name,
            pipeline_id=pipeline_id or None,
            pipeline_name=pipeline_name or None,
            cron_expression=cron_expression or None,
            start_after=None if start_after is None else aware_start_after("start_after", start_after),
            paused=paused,
        )


class SyncAction(str, Enum):
    """What :func:`sync_schedule` did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    """The owner's schedule targeted another pipeline; the API cannot move a schedule, so it was deleted
    and created again."""
    TAKEN_OVER = "taken_over"
    """Another's schedule, named by ``take_over_schedule_id``, now carries the owner's marker (and the
    declaration)."""


@dataclass(frozen=True)
class SyncResult:
    """The schedule after the sync, and what was done.

    :param schedule: the schedule as Studio returned it (with ``next_run``).
    :param action: what was done.
    :param changes: the fields that differed, as ``{field: (old, new)}``.
    """

    schedule: Schedule
    action: SyncAction
    changes: dict[str, tuple[Any, Any]]


def cron_argument(spec: ScheduleSpec) -> dict[str, str]:
    """``{"cron_expression": ...}`` when the spec declares one, else nothing (a ``start_after``-only
    schedule), as keyword arguments of ``create_schedule``."""
    return {"cron_expression": spec.cron_expression} if spec.cron_expression else {}


def schedule_changes(existing: Schedule, spec: ScheduleSpec) -> dict[str, tuple[Any, Any]]:
    """The fields of ``existing`` that differ from ``spec`` (only those ``spec`` declares).

    A ``paused`` flag the server does not report counts as different, so a declared pause is sent.

    :param existing: the schedule as Studio has it.
    :param spec: the declared state.
    """
    raw = existing.raw
    changes: dict[str, tuple[Any, Any]] = {}
    if spec.cron_expression and (existing.cron_expression or "").split() != spec.cron_expression.split():
        changes["cron_expression"] = (existing.cron_expression, spec.cron_expression)
    if spec.start_after and _moment(raw.get("start_after")) != _moment(spec.start_after):
        changes["start_after"] = (raw.get("start_after"), spec.start_after)
    if spec.paused is not None and raw.get("paused") is not spec.paused:
        changes["paused"] = (raw.get("paused"), spec.paused)
    return changes


def create_schedule(
    api: StudioApi, spec: ScheduleSpec, pipeline_id: str, *, owner: ScheduleOwner
) -> Schedule:
    """Create the schedule ``spec`` declares for the definition ``pipeline_id``, named with ``owner``'s
    marker, and paused when declared so (the create call takes no pause flag, so a pause is a second call).

    :param api: a client or hook.
    :param spec: the declared state.
    :param pipeline_id: the resolved definition's id.
    :param owner: whose schedule it is.
    """
    created = api.create_schedule(
        schedule_name=owner.studio_name(spec.schedule_name),
        pipeline_id=pipeline_id,
        start_after=spec.start_after,
        **cron_argument(spec),
    )
    if spec.paused and created.id is not None:
        created = api.update_schedule(schedule_id=created.id, pause_pipeline=True)
    return created


#: What the sync's conflict error suggests.
SYNC_RESOLUTION = (
    "To resolve it: delete that schedule (in Studio, or by its schedule_id) and the next sync creates its "
    "own; or declare another schedule_name; or, when it is meant to be this one (made by hand, or before "
    "the token changed), take it over with take_over_schedule_id=<its id>."
)


def _take_over(
    api: StudioApi,
    named: NamedSchedules,
    owner: ScheduleOwner,
    spec: ScheduleSpec,
    schedule_id: int | None,
    log: Any,
) -> Schedule | None:
    """The schedule ``schedule_id`` among ``named.others``, renamed to carry the owner's marker; ``None``
    when it is not one of them."""
    chosen = next((item for item in named.others if schedule_id is not None and item.id == schedule_id), None)
    if chosen is None or chosen.id is None:
        if schedule_id is not None:
            log.warning(
                "take_over_schedule_id=%s is not a schedule named %r without %s's marker: nothing taken "
                "over.",
                schedule_id,
                spec.schedule_name,
                owner.label,
            )
        return None
    log.info(
        "Taking over schedule %s (%s): it is renamed to carry %s's marker.",
        chosen.id,
        shown(chosen.schedule_name),
        owner.label,
    )
    return api.update_schedule(schedule_id=chosen.id, schedule_name=owner.studio_name(spec.schedule_name))


def sync_schedule(
    api: StudioApi,
    spec: ScheduleSpec,
    *,
    owner: ScheduleOwner,
    take_over_schedule_id: int | None = None,
    log: logging.Logger | Any = log,
) -> SyncResult:
    """Bring ``owner``'s schedule ``spec.schedule_name`` to ``spec``: create, update what differs, replace
    it when it targets another pipeline, or nothing. A schedule of that name that is not ``owner``'s is
    never changed: the sync fails naming it, unless ``take_over_schedule_id`` names it.

    :param api: a client or hook.
    :param spec: the declared state.
    :param owner: whose schedule it is (see :class:`ScheduleOwner`).
    :param take_over_schedule_id: the id of another's schedule of that name to make the owner's, when the
        owner has none.
    :param log: where the decision is logged.
    :raises StudioScheduleConflictError: when only others' schedules carry the name.
    """
    if take_over_schedule_id is not None:
        check.int_in_range("take_over_schedule_id", take_over_schedule_id, 0)
    definition = resolve_definition(api, definition_id=spec.pipeline_id, name=spec.pipeline_name)
    named = find_named_schedules(api, spec.schedule_name, owner)
    own, taken_over = named.own, False
    if own is None:
        own = _take_over(api, named, owner, spec, take_over_schedule_id, log)
        taken_over = own is not None
    if own is None or own.id is None:
        if named.others:
            raise conflict_error(api, spec.schedule_name, owner, named.others, SYNC_RESOLUTION)
        created = create_schedule(api, spec, definition.pipeline_id, owner=owner)
        log.info(
            "Schedule %r created (id %s), next run %s.", spec.schedule_name, created.id, created.next_run
        )
        return SyncResult(created, SyncAction.CREATED, {})
    if named.others and not taken_over:
        log.info(
            "Other schedules are named %r too, not by %s: ids %s, left as they are.",
            spec.schedule_name,
            owner.label,
            ", ".join(str(item.id) for item in named.others),
        )
    # The listing carries neither the pipeline nor the pause state (as the reference shows it): read the one.
    current = api.get_schedule(schedule_id=own.id)
    target = schedule_pipeline_id(current)
    if target is None:
        log.warning("Studio did not say which pipeline schedule %s targets; it is kept as it is.", own.id)
    elif target != definition.pipeline_id:
        log.info(
            "Schedule %r (id %s) targets pipeline %s, not %s; the API cannot move a schedule, so %s's "
            "schedule is deleted and created again.",
            spec.schedule_name,
            own.id,
            shown(target),
            definition.pipeline_id,
            owner.label,
        )
        api.delete_schedule(schedule_id=own.id)
        created = create_schedule(api, spec, definition.pipeline_id, owner=owner)
        log.info(
            "Schedule %r replaced (id %s), next run %s.", spec.schedule_name, created.id, created.next_run
        )
        return SyncResult(created, SyncAction.REPLACED, {})
    changes = schedule_changes(current, spec)
    if not changes:
        log.info(
            "Schedule %r (id %s) already matches the declaration: nothing to change. Next run %s.",
            spec.schedule_name,
            current.id,
            current.next_run,
        )
        return SyncResult(current, SyncAction.TAKEN_OVER if taken_over else SyncAction.UNCHANGED, {})
    updated = api.update_schedule(
        schedule_id=own.id,
        cron_expression=spec.cron_expression if "cron_expression" in changes else None,
        start_after=spec.start_after if "start_after" in changes else None,
        pause_pipeline=spec.paused if "paused" in changes else None,
    )
    described = ", ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changes.items())
    log.info(
        "Schedule %r (id %s) updated (%s); next run %s.",
        spec.schedule_name,
        updated.id,
        described,
        updated.next_run,
    )
    return SyncResult(updated, SyncAction.TAKEN_OVER if taken_over else SyncAction.UPDATED, changes)


__all__ = [
    "SYNC_RESOLUTION",
    "ScheduleSpec",
    "SyncAction",
    "SyncResult",
    "aware_start_after",
    "create_schedule",
    "cron_argument",
    "schedule_changes",
    "sync_schedule",
]
