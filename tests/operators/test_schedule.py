"""Schedule operators against the emulator: the declarative sync (create, no-op, update, idempotent),
create/update/delete, a schedule firing on the emulator's advanced clock, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from studio_provider.client import StudioError, StudioNotFoundError
from studio_provider.client.schedule_owner import split_marker
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.schedule import (
    StudioCreateScheduleOperator,
    StudioDeleteScheduleOperator,
    StudioSyncScheduleOperator,
    StudioUpdateScheduleOperator,
)
from tests.conftest import EMULATOR_BOTH_TOKEN
from tests.emulator.helpers import wait_for
from tests.pipeline_helpers import assert_refused_before_any_request, build_lineage, pipelines
from tests.studio_tasks import FakeTaskInstance, task_context

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
    """The schedules whose declared name (their Studio name without an owner's marker) is ``name``."""
    return [item for item in StudioHook().list_schedules() if split_marker(item.schedule_name)[0] == name]


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
    # The create operator's schedule is the DAG's: its Studio name carries the DAG's marker, kept on a rename.
    assert split_marker(created["schedule_name"])[0] == "weekly" and split_marker(created["schedule_name"])[1]
    renamed = StudioUpdateScheduleOperator(
        task_id="rename", schedule_name="weekly", new_schedule_name="weekly-sunday"
    ).execute(task_context())
    assert renamed["id"] == created["id"] and split_marker(renamed["schedule_name"])[0] == "weekly-sunday"
    delete = StudioDeleteScheduleOperator(task_id="delete", schedule_name="weekly-sunday")
    assert delete.execute(task_context()) is True


#: A declared name may not carry what the provider adds.
MARKED = "n [airflow:0123456789abcdef]"


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
        (
            lambda: StudioSyncScheduleOperator(
                task_id="s", schedule_name=MARKED, pipeline_name="p", cron_expression="0 3 * * *"
            ),
            ("schedule_name", "owner's marker"),
        ),
        (
            lambda: StudioUpdateScheduleOperator(task_id="s", schedule_id=1, new_schedule_name=MARKED),
            ("new_schedule_name", "owner's marker"),
        ),
        (
            lambda: StudioDeleteScheduleOperator(task_id="s", schedule_name=MARKED),
            ("schedule_name", "owner's marker"),
        ),
        (
            lambda: StudioSyncScheduleOperator(
                task_id="s",
                schedule_name="n",
                pipeline_name="p",
                cron_expression="0 3 * * *",
                take_over_schedule_id="7",
            ),
            ("take_over_schedule_id", "whole number"),
        ),
    ],
    ids=[
        "sync-bad-cron",
        "create-bad-cron",
        "update-bad-cron",
        "neither",
        "bad-start-after",
        "both-targets",
        "sync-marked-name",
        "rename-to-marked-name",
        "delete-marked-name",
        "take-over-not-a-number",
    ],
)
def test_bad_input_fails_before_any_request(
    emulator: EmulatorServer, make: Callable[[], Any], words: tuple[str, ...]
) -> None:
    assert_refused_before_any_request(emulator, make, words)


def test_both_schedule_id_and_name_are_refused() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        StudioDeleteScheduleOperator(task_id="d", schedule_id=1, schedule_name="n")


# ---- who owns a schedule: exact names, and only this DAG's schedules are ever replaced ----------------


@pytest.fixture
def other_definition(emulator: EmulatorServer, definition: Any) -> Any:
    return StudioHook().trigger_pipeline(datasets=["features"])


def sync_in(dag_id: str, **kwargs: Any) -> dict[str, Any]:
    """The sync operator run as a task of the DAG ``dag_id``."""
    kwargs.setdefault("schedule_name", "nightly")
    operator = StudioSyncScheduleOperator(task_id="sync", **kwargs)
    result: dict[str, Any] = operator.execute(task_context(FakeTaskInstance(dag_id=dag_id)))
    return result


def pipeline_of(schedule_id: int) -> str:
    """The definition a schedule targets, as ``GET pipeline/schedule`` tells it."""
    return str(StudioHook().get_schedule(schedule_id=schedule_id).raw["pipeline"]["pipeline_id"])


def test_a_declaration_matches_its_schedule_name_exactly(
    emulator: EmulatorServer, definition: Any, other_definition: Any
) -> None:
    hook = StudioHook()
    eu = hook.create_schedule(
        schedule_name="nightly-eu", pipeline_id=other_definition.pipeline_id, cron_expression="0 5 * * *"
    )
    created = sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    again = sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    assert (created["action"], again["action"]) == ("created", "unchanged")
    assert created["id"] != eu.id and again["id"] == created["id"]
    kept = hook.get_schedule(schedule_id=eu.id)
    assert (kept.schedule_name, kept.cron_expression) == ("nightly-eu", "0 5 * * *")
    assert pipeline_of(eu.id) == other_definition.pipeline_id
    assert emulator.injector.count("POST", "/api/datachain/pipeline/delete-schedule") == 0


def test_a_schedule_someone_else_made_is_never_replaced(
    emulator: EmulatorServer, definition: Any, other_definition: Any
) -> None:
    theirs = StudioHook().create_schedule(
        schedule_name="nightly", pipeline_id=other_definition.pipeline_id, cron_expression="0 5 * * *"
    )
    emulator.injector.reset_observations()
    with pytest.raises(StudioError) as raised:
        sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    message = str(raised.value)
    for words in (f"id {theirs.id}", "'nightly'", other_definition.pipeline_id, "schedule_id"):
        assert words in message, (words, message)
    for path in ("create-schedule", "update-schedule", "delete-schedule"):
        assert emulator.injector.count("POST", f"/api/datachain/pipeline/{path}") == 0, path
    kept = StudioHook().get_schedule(schedule_id=theirs.id)
    assert kept.cron_expression == "0 5 * * *" and pipeline_of(theirs.id) == other_definition.pipeline_id


def test_a_schedule_someone_else_made_for_the_same_pipeline_is_not_adopted(
    emulator: EmulatorServer, definition: Any
) -> None:
    theirs = StudioHook().create_schedule(
        schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 5 * * *"
    )
    with pytest.raises(StudioError, match=f"id {theirs.id}"):
        sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    assert StudioHook().get_schedule(schedule_id=theirs.id).cron_expression == "0 5 * * *"


def test_two_dags_declaring_one_name_keep_each_their_own(
    emulator: EmulatorServer, definition: Any, other_definition: Any
) -> None:
    first = sync_in("dag_a", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    assert first["action"] == "created"
    with pytest.raises(StudioError, match=f"id {first['id']}"):
        sync_in("dag_b", pipeline_id=other_definition.pipeline_id, cron_expression="0 4 * * *")
    with pytest.raises(StudioError, match=f"id {first['id']}"):
        sync_in("dag_b", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    by_hand = StudioHook().create_schedule(
        schedule_name="nightly", pipeline_id=other_definition.pipeline_id, cron_expression="0 6 * * *"
    )
    again = sync_in("dag_a", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    assert (again["action"], again["id"]) == ("unchanged", first["id"])
    assert StudioHook().get_schedule(schedule_id=by_hand.id).cron_expression == "0 6 * * *"
    assert pipeline_of(first["id"]) == definition.pipeline_id
    assert emulator.injector.count("POST", "/api/datachain/pipeline/delete-schedule") == 0


def test_the_same_dag_run_with_another_users_token_does_not_take_the_schedule(
    emulator: EmulatorServer, studio_connection: Callable[..., str], definition: Any
) -> None:
    mine = sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    other_user = studio_connection(emulator, token=EMULATOR_BOTH_TOKEN, conn_id="studio_other_user")
    with pytest.raises(StudioError, match=f"id {mine['id']}"):
        sync(
            schedule_name="nightly",
            pipeline_id=definition.pipeline_id,
            cron_expression="0 4 * * *",
            studio_conn_id=other_user,
        )
    assert StudioHook().get_schedule(schedule_id=mine["id"]).cron_expression == "0 3 * * *"


def test_a_retargeted_declaration_replaces_its_own_schedule_against_the_reference_listing(
    emulator: EmulatorServer, definition: Any, other_definition: Any
) -> None:
    first = sync(pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    listed = StudioHook().list_schedules()
    assert [item.id for item in listed] == [first["id"]]
    assert "pipeline_id" not in listed[0].raw  # the reference's PipelineScheduleItem carries none
    moved = sync(pipeline_id=other_definition.pipeline_id, cron_expression="0 3 * * *")
    assert moved["action"] == "replaced" and moved["id"] != first["id"]
    assert pipeline_of(moved["id"]) == other_definition.pipeline_id
    with pytest.raises(StudioNotFoundError):
        StudioHook().get_schedule(schedule_id=first["id"])
    emulator.injector.reset_observations()
    again = sync(pipeline_id=other_definition.pipeline_id, cron_expression="0 3 * * *")
    assert (again["action"], again["id"]) == ("unchanged", moved["id"])
    for path in ("create-schedule", "update-schedule", "delete-schedule"):
        assert emulator.injector.count("POST", f"/api/datachain/pipeline/{path}") == 0, path


def test_update_and_delete_by_name_leave_other_owners_schedules_alone(
    emulator: EmulatorServer, definition: Any
) -> None:
    hook = StudioHook()
    theirs = hook.create_schedule(
        schedule_name="weekly", pipeline_id=definition.pipeline_id, cron_expression="0 0 * * 0"
    )
    update = StudioUpdateScheduleOperator(
        task_id="update", schedule_name="weekly", cron_expression="0 1 * * 0"
    )
    with pytest.raises(StudioError, match=f"id {theirs.id}"):
        update.execute(task_context())
    with pytest.raises(StudioError, match=f"id {theirs.id}"):
        StudioDeleteScheduleOperator(task_id="delete", schedule_name="weekly").execute(task_context())
    assert hook.get_schedule(schedule_id=theirs.id).cron_expression == "0 0 * * 0"
    # An explicit id is an explicit choice: it reaches any schedule of the team.
    by_id = StudioUpdateScheduleOperator(task_id="update", schedule_id=theirs.id, cron_expression="0 1 * * 0")
    assert by_id.execute(task_context())["cron_expression"] == "0 1 * * 0"
    assert (
        StudioDeleteScheduleOperator(task_id="delete", schedule_id=theirs.id).execute(task_context()) is True
    )


def test_take_over_adopts_one_named_schedule(emulator: EmulatorServer, definition: Any) -> None:
    theirs = StudioHook().create_schedule(
        schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 5 * * *"
    )
    taken = sync(
        schedule_name="nightly",
        pipeline_id=definition.pipeline_id,
        cron_expression="0 3 * * *",
        take_over_schedule_id=theirs.id,
    )
    assert (taken["action"], taken["id"], taken["cron_expression"]) == ("taken_over", theirs.id, "0 3 * * *")
    again = sync(schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *")
    assert (again["action"], again["id"]) == ("unchanged", theirs.id)
