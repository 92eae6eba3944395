"""Operators for Studio pipeline schedules: create, update, delete, and the declarative sync.

Every operator checks its input (cron with croniter, ``start_after`` as a timezone-aware moment) before
any request, and returns the schedule as Studio has it, ``next_run`` included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from studio_provider.client import Schedule, StudioNotFoundError
from studio_provider.client import validation as check
from studio_provider.client.lookups import find_schedule, resolve_definition
from studio_provider.client.schedule_sync import (
    ScheduleSpec,
    aware_start_after,
    create_schedule,
    sync_schedule,
)
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook

if TYPE_CHECKING:
    from airflow.sdk import Context

DateLike = datetime | str


class _ScheduleOperator(BaseOperator):
    """The connection parameters and the schedule lookup the schedule operators share."""

    ui_color = "#fdf1d6"

    def __init__(
        self, *, studio_conn_id: str = DEFAULT_CONN_ID, team: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.studio_conn_id = studio_conn_id
        self.team = team

    @cached_property
    def hook(self) -> StudioHook:
        """The Studio hook of ``studio_conn_id`` and ``team``."""
        return StudioHook(self.studio_conn_id, team=self.team)

    def schedule_id_of(self, schedule_id: int | None, schedule_name: str | None) -> int | None:
        """The id given, or the id of the schedule named ``schedule_name`` (``None`` when absent)."""
        if schedule_id is not None:
            return check.int_in_range("schedule_id", schedule_id, 0)
        found = find_schedule(self.hook, str(schedule_name))
        return None if found is None else found.id

    def result(self, schedule: Schedule) -> dict[str, Any]:
        """The return value: the schedule as Studio has it."""
        self.log.info(
            "Schedule %r (id %s): cron %r, next run %s.",
            schedule.schedule_name,
            schedule.id,
            schedule.cron_expression,
            schedule.next_run,
        )
        return schedule.to_dict()


def _check_target(schedule_id: object, schedule_name: object) -> None:
    check.not_both(("schedule_id", "schedule_name"), (schedule_id, schedule_name))
    check.one_of(("schedule_id", "schedule_name"), (schedule_id, schedule_name))


class _DeclaredScheduleOperator(_ScheduleOperator):
    """The declaration the create and sync operators share: a named schedule of one definition."""

    template_fields: Sequence[str] = (
        "schedule_name",
        "pipeline_id",
        "pipeline_name",
        "cron_expression",
        "start_after",
        "studio_conn_id",
        "team",
    )

    def __init__(
        self,
        *,
        schedule_name: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        cron_expression: str | None = None,
        start_after: DateLike | None = None,
        paused: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule_name = schedule_name
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.cron_expression = cron_expression
        self.start_after = start_after
        self.paused = paused

    def spec(self) -> ScheduleSpec:
        """The rendered parameters, checked before any request."""
        return ScheduleSpec.build(
            schedule_name=self.schedule_name,
            pipeline_id=self.pipeline_id,
            pipeline_name=self.pipeline_name,
            cron_expression=self.cron_expression,
            start_after=self.start_after,
            paused=self.paused,
        )


class StudioCreateScheduleOperator(_DeclaredScheduleOperator):
    """Create a schedule for a pipeline definition. It always creates: use
    :class:`StudioSyncScheduleOperator` to keep one schedule per name.

    :param schedule_name: the schedule's name (templated).
    :param pipeline_id: the definition's id (templated), or
    :param pipeline_name: the definition's name (templated); exactly one of the two.
    :param cron_expression: when it fires (checked with croniter); and/or
    :param start_after: not before this moment (``datetime``, pendulum ``DateTime`` or ISO text; naive
        is UTC).
    :param paused: create it paused.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    def __init__(self, *, paused: bool = False, **kwargs: Any) -> None:
        super().__init__(paused=paused, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the input, then create the schedule."""
        spec = self.spec()
        definition = resolve_definition(self.hook, definition_id=spec.pipeline_id, name=spec.pipeline_name)
        return self.result(create_schedule(self.hook, spec, definition.pipeline_id))


class StudioUpdateScheduleOperator(_ScheduleOperator):
    """Change a schedule, found by ``schedule_id`` or ``schedule_name``; only the given fields change.

    :param schedule_id: the schedule's id (templated), or
    :param schedule_name: its name (templated); exactly one of the two.
    :param cron_expression: a new cron expression (checked with croniter).
    :param start_after: a new earliest start (``datetime``, pendulum ``DateTime`` or ISO text).
    :param paused: pause (``True``) or unpause (``False``) it.
    :param new_schedule_name: rename it.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    template_fields: Sequence[str] = (
        "schedule_id",
        "schedule_name",
        "cron_expression",
        "start_after",
        "new_schedule_name",
        "studio_conn_id",
        "team",
    )

    def __init__(
        self,
        *,
        schedule_id: int | None = None,
        schedule_name: str | None = None,
        cron_expression: str | None = None,
        start_after: DateLike | None = None,
        paused: bool | None = None,
        new_schedule_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_target(schedule_id, schedule_name)
        self.schedule_id = schedule_id
        self.schedule_name = schedule_name
        self.cron_expression = cron_expression
        self.start_after = start_after
        self.paused = paused
        self.new_schedule_name = new_schedule_name

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the input, find the schedule, and update it."""
        _check_target(self.schedule_id, self.schedule_name)
        if self.cron_expression is not None:
            check.cron_expression("cron_expression", self.cron_expression)
        start_after = None if self.start_after is None else aware_start_after("start_after", self.start_after)
        schedule_id = self.schedule_id_of(self.schedule_id, self.schedule_name)
        if schedule_id is None:
            raise StudioNotFoundError(f"No Studio schedule is named {self.schedule_name!r}.")
        schedule = self.hook.update_schedule(
            schedule_id=schedule_id,
            schedule_name=self.new_schedule_name,
            cron_expression=self.cron_expression,
            start_after=start_after,
            pause_pipeline=self.paused,
        )
        return self.result(schedule)


class StudioDeleteScheduleOperator(_ScheduleOperator):
    """Delete a schedule, found by ``schedule_id`` or ``schedule_name``. An absent schedule is not an
    error (the log says so) unless ``missing_ok=False``. Returns whether a schedule was deleted.

    :param schedule_id: the schedule's id (templated), or
    :param schedule_name: its name (templated); exactly one of the two.
    :param missing_ok: succeed when there is no such schedule (default ``True``).
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    template_fields: Sequence[str] = ("schedule_id", "schedule_name", "studio_conn_id", "team")

    def __init__(
        self,
        *,
        schedule_id: int | None = None,
        schedule_name: str | None = None,
        missing_ok: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_target(schedule_id, schedule_name)
        self.schedule_id = schedule_id
        self.schedule_name = schedule_name
        self.missing_ok = missing_ok

    def execute(self, context: Context) -> bool:
        """Find and delete the schedule."""
        _check_target(self.schedule_id, self.schedule_name)
        target = f"id {self.schedule_id}" if self.schedule_id is not None else f"name {self.schedule_name!r}"
        schedule_id = self.schedule_id_of(self.schedule_id, self.schedule_name)
        try:
            if schedule_id is None:
                raise StudioNotFoundError(f"No Studio schedule with {target}.")
            self.hook.delete_schedule(schedule_id=schedule_id)
        except StudioNotFoundError:
            if not self.missing_ok:
                raise
            self.log.info("No Studio schedule with %s: nothing to delete (missing_ok=True).", target)
            return False
        self.log.info("Deleted the Studio schedule with %s (id %s).", target, schedule_id)
        return True


class StudioSyncScheduleOperator(_DeclaredScheduleOperator):
    """Keep one schedule, keyed by ``schedule_name``, as declared: create it when missing, update only
    what differs, do nothing when it matches (the log says so). Running it twice leaves one schedule.

    :param schedule_name: the key (templated).
    :param pipeline_id: the definition's id (templated), or
    :param pipeline_name: the definition's name (templated); exactly one of the two.
    :param cron_expression: when it fires (checked with croniter); and/or
    :param start_after: not before this moment (``datetime``, pendulum ``DateTime`` or ISO text; naive
        is UTC).
    :param paused: ``True`` paused, ``False`` active, ``None`` (default) leave as it is.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the declaration, then bring the schedule to it; returns the schedule plus ``action``."""
        outcome = sync_schedule(self.hook, self.spec(), log=self.log)
        return {**self.result(outcome.schedule), "action": outcome.action.value}


__all__ = [
    "StudioCreateScheduleOperator",
    "StudioDeleteScheduleOperator",
    "StudioSyncScheduleOperator",
    "StudioUpdateScheduleOperator",
]
