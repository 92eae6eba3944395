"""Pipeline schedules: a definition run at ``start_after`` and/or on a cron expression, by the emulator clock."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Set
from datetime import datetime
from typing import Any

from .clock import iso, parse_start_after
from .errors import bad_request
from .jobs import cron_next, validate_cron
from .pipelines import PipelineService, pipeline_to_dict
from .state import EmulatorState, ScheduleRecord

logger = logging.getLogger(__name__)


def _start_after(body: Mapping[str, Any]) -> datetime | None:
    value = body.get("start_after")
    if not value:
        return None
    try:
        return parse_start_after(value)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


class ScheduleService:
    """CRUD over schedules, and firing the ones that are due."""

    def __init__(self, state: EmulatorState, pipelines: PipelineService) -> None:
        self.state = state
        self.pipelines = pipelines

    def _created_by(self) -> dict[str, str]:
        return {"username": self.state.config.username, "first_name": "Studio", "last_name": "Emulator"}

    def _compute_next(self, schedule: ScheduleRecord, fired: bool = False) -> None:
        """Set ``next_run``; ValueError (nothing changed) when the cron has no next time."""
        now = self.state.clock.now()
        if schedule.paused:
            schedule.next_run = None
        elif schedule.cron_expression:
            base = max(now, schedule.start_after) if schedule.start_after else now
            schedule.next_run = cron_next(schedule.cron_expression, base)
        elif schedule.start_after and not fired and schedule.latest_run_id is None:
            schedule.next_run = schedule.start_after  # one-shot, maybe already due
        else:
            schedule.next_run = None

    def item(self, schedule: ScheduleRecord) -> dict[str, Any]:
        """PipelineScheduleItem, exactly the reference's fields (what ``schedules`` lists): no pipeline and
        no pause flag, so a client must read one schedule to learn its pipeline."""
        return {
            "id": schedule.id,
            "schedule_name": schedule.schedule_name,
            "created_at": iso(schedule.created_at),
            "updated_at": iso(schedule.updated_at),
            "start_after": iso(schedule.start_after),
            "cron_expression": schedule.cron_expression,
            "next_run": iso(schedule.next_run),
            "created_by": self._created_by(),
        }

    def output(self, schedule: ScheduleRecord) -> dict[str, Any]:
        """PipelineScheduleOutput: the item plus the definition (its id only inside ``pipeline``, as in the
        reference) and the latest run; ``paused`` is the emulator's addition (the reference shows no way to
        read a pause back)."""
        latest = self.state.pipelines.get(schedule.latest_run_id or "")
        definition = self.state.pipelines.get(schedule.pipeline_id)
        return {
            **self.item(schedule),
            "paused": schedule.paused,
            "latest_run": pipeline_to_dict(latest) if latest else None,
            "pipeline": pipeline_to_dict(definition) if definition else None,
        }

    def create(self, team: str, body: Mapping[str, Any]) -> ScheduleRecord:
        definition = self.pipelines.definition_of(team, body.get("pipeline_id"), body.get("pipeline_name"))
        start_after = _start_after(body)
        now = self.state.clock.now()
        cron = validate_cron(body["cron_expression"], max(now, start_after or now)) if body.get("cron_expression") else None
        if start_after is None and cron is None:
            raise bad_request("start_after or cron_expression is required")
        name = body.get("schedule_name") or f"{definition.name}-schedule"
        if not isinstance(name, str):
            raise bad_request("schedule_name must be a string")
        now = self.state.clock.now()
        schedule = ScheduleRecord(
            id=self.state.next_schedule_id(),
            team=team,
            schedule_name=name,
            pipeline_id=definition.id,
            created_at=now,
            updated_at=now,
            created_by=self.state.config.username,
            start_after=start_after,
            cron_expression=cron,
        )
        try:
            self._compute_next(schedule)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        self.state.schedules[schedule.id] = schedule
        return schedule

    def update(self, team: str, values: Mapping[str, Any], given: Set[str]) -> ScheduleRecord:
        """Change the ``given`` fields (checked against ``api_spec.UPDATE_SCHEDULE``).

        Everything is checked on a copy first: a refused update (400) leaves the schedule as it was.
        """
        schedule = self.state.schedule(team, values["schedule_id"])
        now = self.state.clock.now()
        changed = dataclasses.replace(schedule, updated_at=now)
        if "start_after" in given:
            changed.start_after = _start_after(values)
        if "cron_expression" in given:
            base = max(now, changed.start_after) if changed.start_after else now
            changed.cron_expression = validate_cron(values["cron_expression"], base)
        if "schedule_name" in given:
            changed.schedule_name = values["schedule_name"]
        if "pause_pipeline" in given:
            changed.paused = values["pause_pipeline"]
        try:
            self._compute_next(changed)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        for item in dataclasses.fields(schedule):
            setattr(schedule, item.name, getattr(changed, item.name))
        return schedule

    def delete(self, team: str, schedule_id: Any) -> None:
        del self.state.schedules[self.state.schedule(team, schedule_id).id]

    def for_team(self, team: str, pipeline_id: str | None = None) -> list[ScheduleRecord]:
        return [
            item
            for item in self.state.schedules.values()
            if item.team == team and (pipeline_id is None or item.pipeline_id == pipeline_id)
        ]

    def process_due(self) -> int:
        """Fire every schedule whose ``next_run`` has come; return how many fired.

        Each schedule is isolated: one that fails (whatever its team) is logged and taken out of the ticker
        (``next_run`` null until it is updated), and the others still fire.
        """
        now = self.state.clock.now()
        fired = 0
        for schedule in list(self.state.schedules.values()):
            if schedule.paused or schedule.next_run is None or schedule.next_run > now:
                continue
            try:
                fired += self._fire(schedule)
            except Exception:
                logger.exception(
                    "schedule %s of team %s failed; it will not fire again until it is updated",
                    schedule.id,
                    schedule.team,
                )
                schedule.next_run = None
        return fired

    def _fire(self, schedule: ScheduleRecord) -> int:
        # The next time first (missed firings coalesce into one run: it is computed from now), so a
        # schedule whose cron has none stops here rather than after starting a run.
        self._compute_next(schedule, fired=True)
        definition = self.state.pipelines.get(schedule.pipeline_id)
        if definition is None:
            return 0
        run = self.pipelines.start_run(definition, created_via="schedule", schedule_name=schedule.schedule_name)
        schedule.latest_run_id = run.id
        return 1

    def next_due(self) -> datetime | None:
        times = [item.next_run for item in self.state.schedules.values() if item.next_run and not item.paused]
        return min(times, default=None)
