"""Schedules as code: bring one named Studio schedule to a declared state with the fewest calls.

:func:`sync_schedule` creates the schedule when it is missing, updates only the fields that differ, and
does nothing when it already matches; running it twice leaves one schedule. It imports nothing from
Airflow; :class:`~studio_provider.operators.schedule.StudioSyncScheduleOperator` is a thin shell around it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from . import validation as check
from .api import StudioApi
from .lookups.pipelines import find_schedule, resolve_definition
from .models import Schedule

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
        check.required_text("schedule_name", schedule_name)
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
    """The schedule targeted another pipeline; the API cannot move it, so it was deleted and recreated."""


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


def create_schedule(api: StudioApi, spec: ScheduleSpec, pipeline_id: str) -> Schedule:
    """Create the schedule ``spec`` declares for the definition ``pipeline_id``, paused when declared so
    (the create call takes no pause flag, so a pause is a second call).

    :param api: a client or hook.
    :param spec: the declared state.
    :param pipeline_id: the resolved definition's id.
    """
    created = api.create_schedule(
        schedule_name=spec.schedule_name,
        pipeline_id=pipeline_id,
        start_after=spec.start_after,
        **cron_argument(spec),
    )
    if spec.paused and created.id is not None:
        created = api.update_schedule(schedule_id=created.id, pause_pipeline=True)
    return created


def sync_schedule(api: StudioApi, spec: ScheduleSpec, *, log: logging.Logger | Any = log) -> SyncResult:
    """Bring the schedule ``spec.schedule_name`` to ``spec``: create, update what differs, or nothing.

    :param api: a client or hook.
    :param spec: the declared state.
    :param log: where the decision is logged.
    """
    definition = resolve_definition(api, definition_id=spec.pipeline_id, name=spec.pipeline_name)
    existing = find_schedule(api, spec.schedule_name)
    replaced = False
    if existing is not None and existing.id is not None:
        target = existing.raw.get("pipeline_id")
        if target and str(target) != definition.pipeline_id:
            log.info(
                "Schedule %r targets pipeline %s, not %s; the API cannot move a schedule, so it is "
                "deleted and created again.",
                spec.schedule_name,
                target,
                definition.pipeline_id,
            )
            api.delete_schedule(schedule_id=existing.id)
            existing, replaced = None, True
    if existing is None or existing.id is None:
        created = create_schedule(api, spec, definition.pipeline_id)
        action = SyncAction.REPLACED if replaced else SyncAction.CREATED
        log.info(
            "Schedule %r %s (id %s), next run %s.",
            spec.schedule_name,
            action.value,
            created.id,
            created.next_run,
        )
        return SyncResult(created, action, {})
    changes = schedule_changes(existing, spec)
    if not changes:
        log.info(
            "Schedule %r (id %s) already matches the declaration: nothing to change. Next run %s.",
            spec.schedule_name,
            existing.id,
            existing.next_run,
        )
        return SyncResult(existing, SyncAction.UNCHANGED, {})
    updated = api.update_schedule(
        schedule_id=existing.id,
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
    return SyncResult(updated, SyncAction.UPDATED, changes)


__all__ = [
    "ScheduleSpec",
    "SyncAction",
    "SyncResult",
    "aware_start_after",
    "create_schedule",
    "cron_argument",
    "schedule_changes",
    "sync_schedule",
]
