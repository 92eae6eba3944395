"""Operators for Studio pipeline schedules: create, update, delete, and the declarative sync.

Every operator checks its input (cron with croniter, ``start_after`` as a timezone-aware moment) before
any request, and returns the schedule as Studio has it, ``next_run`` included.

A schedule belongs to the DAG that created it, with the connection's token: its name in Studio carries
the DAG's marker (:mod:`studio_provider.client.schedule_owner`). By name, the operators reach only the
DAG's own schedule, and fail naming any other schedule of that name; an explicit ``schedule_id`` reaches
any schedule of the team.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from studio_provider.client import Schedule, StudioNotFoundError
from studio_provider.client import validation as check
from studio_provider.client.lookups import resolve_definition
from studio_provider.client.schedule_owner import ScheduleOwner, check_declared_name, own_schedule, renamed
from studio_provider.client.schedule_sync import (
    ScheduleSpec,
    aware_start_after,
    create_schedule,
    sync_schedule,
)
from studio_provider.exceptions import input_errors
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

    def schedule_owner(self, context: Context) -> ScheduleOwner:
        """The DAG of this task, acting with the connection's token in its team: who owns the schedules
        it creates (see :class:`~studio_provider.client.schedule_owner.ScheduleOwner`)."""
        dag_id = str(context["ti"].dag_id)
        config = self.hook.config
        return ScheduleOwner.derive(
            token=config.token, team=config.team, scope=dag_id, label=f"DAG {dag_id!r}"
        )

    def schedule_of(
        self, context: Context, schedule_id: int | None, schedule_name: str | None, *, resolution: str
    ) -> tuple[int | None, str | None]:
        """The id and Studio name of the schedule given by id (any schedule of the team; the name is
        ``None``: not read), or of the DAG's own schedule named ``schedule_name`` (``(None, None)`` when no
        schedule has that name).

        :raises StudioScheduleConflictError: when only schedules the DAG did not create carry the name.
        """
        with input_errors():
            if schedule_id is not None:
                return check.int_in_range("schedule_id", schedule_id, 0), None
            check_declared_name("schedule_name", schedule_name)
        found = own_schedule(
            self.hook, str(schedule_name), self.schedule_owner(context), resolution=resolution
        )
        return (None, None) if found is None else (found.id, found.schedule_name)

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
    with input_errors():
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
        """The rendered parameters, checked before any request.

        :raises StudioInputError: naming the parameter (the task fails without retries).
        """
        with input_errors():
            return ScheduleSpec.build(
                schedule_name=self.schedule_name,
                pipeline_id=self.pipeline_id,
                pipeline_name=self.pipeline_name,
                cron_expression=self.cron_expression,
                start_after=self.start_after,
                paused=self.paused,
            )


class StudioCreateScheduleOperator(_DeclaredScheduleOperator):
    """Create a schedule for a pipeline definition, owned by this DAG (its name in Studio carries the
    DAG's marker). It always creates: use :class:`StudioSyncScheduleOperator` to keep one schedule per name.

    :param schedule_name: the schedule's name, without a marker (templated).
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
        owner = self.schedule_owner(context)
        definition = resolve_definition(self.hook, definition_id=spec.pipeline_id, name=spec.pipeline_name)
        return self.result(create_schedule(self.hook, spec, definition.pipeline_id, owner=owner))


class StudioUpdateScheduleOperator(_ScheduleOperator):
    """Change a schedule, found by ``schedule_id`` or ``schedule_name``; only the given fields change.

    By name it changes only this DAG's own schedule (one it created with the connection's token) and fails
    naming any other schedule of that name; by id it changes any schedule of the team.

    :param schedule_id: the schedule's id (templated), or
    :param schedule_name: the name of this DAG's schedule (templated); exactly one of the two.
    :param cron_expression: a new cron expression (checked with croniter).
    :param start_after: a new earliest start (``datetime``, pendulum ``DateTime`` or ISO text).
    :param paused: pause (``True``) or unpause (``False``) it.
    :param new_schedule_name: rename it (a schedule of this DAG keeps the DAG's marker).
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
        with input_errors():
            if self.cron_expression is not None:
                check.cron_expression("cron_expression", self.cron_expression)
            start_after = None if self.start_after is None else aware_start_after("start_after", self.start_after)
            if self.new_schedule_name is not None:
                check_declared_name("new_schedule_name", self.new_schedule_name)
        schedule_id, current = self.schedule_of(
            context,
            self.schedule_id,
            self.schedule_name,
            resolution="To change it anyway, pass its id as schedule_id instead of a name.",
        )
        if schedule_id is None:
            raise StudioNotFoundError(f"No Studio schedule is named {self.schedule_name!r}.")
        new_name = None
        if self.new_schedule_name is not None:
            if current is None:  # given by id: its name says whether it is this DAG's
                current = self.hook.get_schedule(schedule_id=schedule_id).schedule_name
            new_name = renamed(self.schedule_owner(context), current, self.new_schedule_name)
        schedule = self.hook.update_schedule(
            schedule_id=schedule_id,
            schedule_name=new_name,
            cron_expression=self.cron_expression,
            start_after=start_after,
            pause_pipeline=self.paused,
        )
        return self.result(schedule)


class StudioDeleteScheduleOperator(_ScheduleOperator):
    """Delete a schedule, found by ``schedule_id`` or ``schedule_name``. An absent schedule is not an
    error (the log says so) unless ``missing_ok=False``. Returns whether a schedule was deleted.

    By name it deletes only this DAG's own schedule (one it created with the connection's token) and fails
    naming any other schedule of that name, which it leaves alone; by id it deletes any schedule of the
    team.

    :param schedule_id: the schedule's id (templated), or
    :param schedule_name: the name of this DAG's schedule (templated); exactly one of the two.
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
        schedule_id, _ = self.schedule_of(
            context,
            self.schedule_id,
            self.schedule_name,
            resolution="To delete it anyway, pass its id as schedule_id instead of a name.",
        )
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
    """Keep this DAG's schedule, keyed by ``schedule_name``, as declared: create it when missing, update
    only what differs, do nothing when it matches (the log says so), replace it when it targets another
    pipeline. Running it twice leaves one schedule.

    It changes only a schedule this DAG created with the connection's token (its name in Studio carries the
    DAG's marker). A schedule of the same name made otherwise (by hand, by another DAG, with another token)
    is never changed or deleted: the task fails naming it (id, name, pipeline) and how to resolve it.

    :param schedule_name: the key, without a marker (templated).
    :param pipeline_id: the definition's id (templated), or
    :param pipeline_name: the definition's name (templated); exactly one of the two.
    :param cron_expression: when it fires (checked with croniter); and/or
    :param start_after: not before this moment (``datetime``, pendulum ``DateTime`` or ISO text; naive
        is UTC).
    :param paused: ``True`` paused, ``False`` active, ``None`` (default) leave as it is.
    :param take_over_schedule_id: the id of a schedule of that name that this DAG did not create, to make
        it this DAG's (renamed to carry its marker, then synced); for a schedule made by hand or before the
        token changed (templated; a whole number). Ignored once the DAG has its own.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    template_fields: Sequence[str] = (*_DeclaredScheduleOperator.template_fields, "take_over_schedule_id")

    def __init__(self, *, take_over_schedule_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.take_over_schedule_id = take_over_schedule_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the declaration, then bring the schedule to it; returns the schedule plus ``action``."""
        spec = self.spec()
        if self.take_over_schedule_id is not None:
            with input_errors():
                check.int_in_range("take_over_schedule_id", self.take_over_schedule_id, 0)
        outcome = sync_schedule(
            self.hook,
            spec,
            owner=self.schedule_owner(context),
            take_over_schedule_id=self.take_over_schedule_id,
            log=self.log,
        )
        return {**self.result(outcome.schedule), "action": outcome.action.value}


__all__ = [
    "StudioCreateScheduleOperator",
    "StudioDeleteScheduleOperator",
    "StudioSyncScheduleOperator",
    "StudioUpdateScheduleOperator",
]
