"""Schedule operators against the emulator: the declarative sync (create, no-op, update, idempotent),
create/update/delete, a schedule firing on the emulator's advanced clock, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from studio_provider.client import StudioNotFoundError
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.schedule import (
    StudioCreateScheduleOperator,
    StudioDeleteScheduleOperator,
    StudioSyncScheduleOperator,
    StudioUpdateScheduleOperator,
)
from tests.emulator.helpers import wait_for
from tests.pipeline_helpers import assert_refused_before_any_request, build_lineage, pipelines
from tests.studio_tasks import task_context

pytestmark = pytest.mark.integration


@pytest.fixture
def definition(emulator: EmulatorServer) -> Any:
    build_lineage(emulator)
    return StudioHook().trigger_pipeline(datasets=["stats"])


def sync(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("schedule_name", "nightly-stats")
    result: dict[str, Any] = StudioSyncScheduleOperator(task_id="sync", **kwargs).execute(task_context())
    return result


def named(name: str) -> list[Any]:
    return [item for item in StudioHook().list_schedules() if item.schedule_name == name]


def test_sync_creates_once_then_does_nothing_then_updates_then_deletes(
    emulator: EmulatorServer, definition: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    created = sync(pipeline_name=definition.name, cron_expression="0 3 * * *")
    assert created["action"] == "created" and created["next_run"]
    assert created["cron_expression"] == "0 3 * * *"

    emulator.injector.reset_observations()
    again = sync(pipeline_name=definition.name, cron_expression="0 3 * * *")
    assert again["action"] == "unchanged" and again["id"] == created["id"]
    assert "already matches the declaration: nothing to change" in capsys.readouterr().out
    assert emulator.injector.count("POST", "/api/datachain/pipeline/update-schedule") == 0
    assert emulator.injector.count("POST", "/api/datachain/pipeline/create-schedule") == 0

    updated = sync(pipeline_id=definition.pipeline_id, cron_expression="30 4 * * *")
    assert updated["action"] == "updated" and updated["id"] == created["id"]
    assert updated["cron_expression"] == "30 4 * * *" and updated["next_run"] != created["next_run"]
    assert "cron_expression: '0 3 * * *' -> '30 4 * * *'" in capsys.readouterr().out

    paused = sync(pipeline_id=definition.pipeline_id, cron_expression="30 4 * * *", paused=True)
    assert paused["action"] == "updated" and paused["next_run"] is None

    schedules = named("nightly-stats")
    with capsys.disabled():
        print(f"\nFIGURES sync: schedules named nightly-stats={len(schedules)}")
    assert len(schedules) == 1

    delete = StudioDeleteScheduleOperator(task_id="delete", schedule_name="nightly-stats")
    assert delete.execute(task_context()) is True
    assert named("nightly-stats") == []
    assert delete.execute(task_context()) is False
    assert "nothing to delete" in capsys.readouterr().out
    strict = StudioDeleteScheduleOperator(task_id="delete", schedule_name="nightly-stats", missing_ok=False)
    with pytest.raises(StudioNotFoundError):
        strict.execute(task_context())


def test_running_the_sync_twice_leaves_one_schedule(emulator: EmulatorServer, definition: Any) -> None:
    first = sync(pipeline_name=definition.name, cron_expression="*/15 * * * *")
    second = sync(pipeline_name=definition.name, cron_expression="*/15 * * * *")
    assert (first["action"], second["action"]) == ("created", "unchanged")
    schedules = StudioHook().list_schedules()
    print(f"\nFIGURES double-sync: schedules listed={len(schedules)}")
    assert len(schedules) == 1


def test_a_schedule_fires_on_the_advanced_clock_and_starts_a_run(
    emulator: EmulatorServer, definition: Any
) -> None:
    created = sync(pipeline_id=definition.pipeline_id, cron_expression="0 * * * *")
    assert pipelines(emulator, definition=False) == []
    emulator.advance_clock(3600)

    def scheduled_runs() -> list[Any]:
        return [item for item in pipelines(emulator, definition=False) if item.created_via == "schedule"]

    runs = wait_for(scheduled_runs, what="a scheduled run")
    assert len(runs) == 1 and runs[0].definition_id == definition.pipeline_id
    latest = StudioHook().get_schedule(schedule_id=created["id"]).raw["latest_run"]
    assert latest["pipeline_id"] == runs[0].id


@pytest.mark.parametrize(
    "start_after",
    [
        datetime(2031, 5, 1, 6, 30),  # naive: taken as UTC
        pendulum.datetime(2031, 5, 1, 8, 30, tz="Europe/Paris"),
        "2031-05-01T06:30:00",
        "2031-05-01T06:30:00Z",
    ],
    ids=["naive-datetime", "pendulum", "naive-iso", "iso-z"],
)
def test_start_after_is_sent_timezone_aware(
    emulator: EmulatorServer, definition: Any, start_after: Any
) -> None:
    result = StudioCreateScheduleOperator(
        task_id="create", schedule_name="once", pipeline_id=definition.pipeline_id, start_after=start_after
    ).execute(task_context())
    moment = datetime.fromisoformat(result["start_after"].replace("Z", "+00:00"))
    assert moment == datetime(2031, 5, 1, 6, 30, tzinfo=timezone.utc)
    assert result["next_run"] is not None


def test_update_by_name_and_create_paused(emulator: EmulatorServer, definition: Any) -> None:
    created = StudioCreateScheduleOperator(
        task_id="create",
        schedule_name="weekly",
        pipeline_name=definition.name,
        cron_expression="0 0 * * 0",
        paused=True,
    ).execute(task_context())
    assert created["next_run"] is None
    updated = StudioUpdateScheduleOperator(
        task_id="update",
        schedule_name="weekly",
        paused=False,
        start_after=datetime.now(timezone.utc) + timedelta(days=1),
    ).execute(task_context())
    assert updated["id"] == created["id"] and updated["next_run"] is not None


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda: StudioSyncScheduleOperator(
                task_id="s", schedule_name="n", pipeline_name="p", cron_expression="61 * * * *"
            ),
            ("cron_expression", "61 * * * *"),
        ),
        (
            lambda: StudioCreateScheduleOperator(
                task_id="s", schedule_name="n", pipeline_name="p", cron_expression="every day"
            ),
            ("cron_expression", "every day"),
        ),
        (
            lambda: StudioUpdateScheduleOperator(task_id="s", schedule_id=1, cron_expression="* * *"),
            ("cron_expression",),
        ),
        (
            lambda: StudioSyncScheduleOperator(task_id="s", schedule_name="n", pipeline_name="p"),
            ("cron_expression", "start_after"),
        ),
        (
            lambda: StudioSyncScheduleOperator(
                task_id="s", schedule_name="n", pipeline_name="p", start_after="next tuesday"
            ),
            ("start_after", "next tuesday"),
        ),
        (
            lambda: StudioSyncScheduleOperator(
                task_id="s",
                schedule_name="n",
                pipeline_id="i",
                pipeline_name="p",
                cron_expression="0 3 * * *",
            ),
            ("pipeline_id", "pipeline_name"),
        ),
    ],
    ids=["sync-bad-cron", "create-bad-cron", "update-bad-cron", "neither", "bad-start-after", "both-targets"],
)
def test_bad_input_fails_before_any_request(
    emulator: EmulatorServer, make: Callable[[], Any], words: tuple[str, ...]
) -> None:
    assert_refused_before_any_request(emulator, make, words)


def test_both_schedule_id_and_name_are_refused() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        StudioDeleteScheduleOperator(task_id="d", schedule_id=1, schedule_name="n")
