"""The client's pipeline and schedule conveniences: URLs, progress lines, lookups by name, lost-response
reconciliation, the pipeline wait with log streaming, and the schedule sync's checks and diff."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pendulum
import pytest

from studio_provider.client import (
    AsyncStudioClient,
    Pipeline,
    Schedule,
    StudioClient,
    StudioConfig,
    StudioError,
    StudioNotFoundError,
)
from studio_provider.client.errors import StudioDeadlineExceeded
from studio_provider.client.pipelines_wait import (
    FailedJobRun,
    definitions_from,
    find_pipeline,
    find_schedule,
    newest_unknown,
    pipeline_url,
    progress_lines,
    resolve_definition,
    runs_of,
    wait_for_pipeline,
)
from studio_provider.client.schedule_sync import ScheduleSpec, aware_start_after, schedule_changes
from studio_provider.client.wait import Deadline
from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import build_lineage, set_job_env

CONFIG = StudioConfig.resolve(url="https://studio.example.com", token="t", team="my team")


def pipeline(status: str, runs: list[dict[str, Any]], completed: int = 0, **extra: Any) -> Pipeline:
    return Pipeline.from_dict(
        {
            "pipeline_id": "p-1",
            "name": "brave-otter",
            "status": status,
            "job_runs": runs,
            "completed": completed,
            "total": len(runs),
            **extra,
        }
    )


def test_pipeline_url_prefers_the_servers_and_otherwise_follows_the_job_pages() -> None:
    assert pipeline_url(CONFIG, "p/1") == "https://studio.example.com/team/my%20team/datasets/pipelines/p%2F1"
    sent = pipeline("RUNNING", [], url="https://studio.example.com/x")
    assert pipeline_url(CONFIG, sent) == "https://studio.example.com/x"


def test_progress_lines_report_the_count_and_each_job_run_change() -> None:
    first = pipeline(
        "RUNNING",
        [
            {"job_id": "a", "name": "raw", "status": "RUNNING", "created_job_id": "j-1"},
            {"job_id": "b", "name": "clean", "status": "PENDING"},
        ],
    )
    assert progress_lines(None, first) == [
        "Pipeline brave-otter: RUNNING, 0/2 jobs completed.",
        "  job run raw: RUNNING (Studio job j-1)",
    ]
    assert progress_lines(first, first) == []
    second = pipeline(
        "RUNNING",
        [
            {"job_id": "a", "name": "raw", "status": "COMPLETE", "created_job_id": "j-1"},
            {"job_id": "b", "name": "clean", "status": "QUEUED", "created_job_id": "j-2"},
        ],
        1,
    )
    assert progress_lines(first, second) == [
        "Pipeline brave-otter: RUNNING, 1/2 jobs completed.",
        "  job run raw: COMPLETE (Studio job j-1)",
        "  job run clean: QUEUED (Studio job j-2)",
    ]


def test_failed_job_run_round_trips_and_describes_itself() -> None:
    item = FailedJobRun("clean", "b", "j-2", "FAILED", "bad rows", 3)
    assert FailedJobRun.from_dict(item.to_dict()) == item
    assert item.describe() == "clean (FAILED, Studio job j-2, exit code 3): bad rows"


def test_newest_unknown_picks_the_first_new_id() -> None:
    items = [pipeline("PENDING", [], pipeline_id=i) for i in ("new-2", "new-1", "old")]
    assert newest_unknown(items, {"old"}).pipeline_id == "new-2"  # type: ignore[union-attr]
    assert newest_unknown(items, {"old", "new-1", "new-2"}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2031, 1, 2, 3, 4), "2031-01-02T03:04:00+00:00"),
        ("2031-01-02T03:04:00", "2031-01-02T03:04:00+00:00"),
        ("2031-01-02T03:04:00Z", "2031-01-02T03:04:00+00:00"),
        (pendulum.datetime(2031, 1, 2, 4, 4, tz="Europe/Paris"), "2031-01-02T04:04:00+01:00"),
    ],
    ids=["naive", "naive-iso", "z", "pendulum"],
)
def test_start_after_becomes_timezone_aware_iso_text(value: Any, expected: str) -> None:
    assert aware_start_after("start_after", value) == expected


def test_schedule_spec_checks_before_any_request() -> None:
    with pytest.raises(ValueError, match="cron_expression '61 \\* \\* \\* \\*' is not a valid cron"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p", cron_expression="61 * * * *")
    with pytest.raises(ValueError, match="cron_expression, start_after, or both"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p")
    with pytest.raises(ValueError, match="start_after must be a datetime"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p", start_after="soon")
    with pytest.raises(ValueError, match="mutually exclusive"):
        ScheduleSpec.build(schedule_name="s", pipeline_id="i", pipeline_name="p", cron_expression="0 3 * * *")


def test_schedule_changes_lists_only_declared_differences() -> None:
    existing = Schedule.from_dict(
        {
            "id": 1,
            "schedule_name": "s",
            "cron_expression": "0 3 * * *",
            "start_after": "2031-01-02T03:04:00Z",
            "paused": False,
        }
    )
    same = ScheduleSpec.build(
        schedule_name="s",
        pipeline_name="p",
        cron_expression="0  3 * * *",
        start_after=datetime(2031, 1, 2, 3, 4, tzinfo=timezone.utc),
    )
    assert schedule_changes(existing, same) == {}
    other = ScheduleSpec.build(schedule_name="s", pipeline_name="p", cron_expression="0 4 * * *", paused=True)
    assert schedule_changes(existing, other) == {
        "cron_expression": ("0 3 * * *", "0 4 * * *"),
        "paused": (False, True),
    }


# ---- against the emulator ------------------------------------------------------------------------


@pytest.fixture
def server(fresh_emulator: EmulatorServer) -> EmulatorServer:
    build_lineage(fresh_emulator)
    return fresh_emulator


def client_config(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(url=server.url, token=server.token, team=server.team)


@pytest.mark.integration
def test_lookups_by_name_and_the_runs_of_a_definition(server: EmulatorServer) -> None:
    with StudioClient(client_config(server)) as client:
        before = {item.pipeline_id for item in definitions_from(client, ["stats"])}
        definition = client.trigger_pipeline(datasets=["stats"])
        assert before == set()
        assert [item.pipeline_id for item in definitions_from(client, ["stats"])] == [definition.pipeline_id]
        assert definitions_from(client, ["features"]) == []
        assert definition.name
        assert find_pipeline(client, definition.name, definition=True) == definition
        assert find_pipeline(client, "no-such-name") is None
        run = client.run_pipeline(definition_id=definition.pipeline_id)
        assert [item.pipeline_id for item in runs_of(client, definition)] == [run.pipeline_id]
        assert resolve_definition(client, name=definition.name).pipeline_id == definition.pipeline_id
        assert resolve_definition(client, definition_id=run.pipeline_id).pipeline_id == definition.pipeline_id
        with pytest.raises(StudioNotFoundError, match="No Studio pipeline definition is named 'nope'"):
            resolve_definition(client, name="nope")


@pytest.mark.integration
def test_find_schedule_refuses_ambiguous_names(server: EmulatorServer) -> None:
    with StudioClient(client_config(server)) as client:
        definition = client.trigger_pipeline(datasets=["stats"])
        assert find_schedule(client, "twin") is None
        first = client.create_schedule(
            schedule_name="twin", pipeline_id=definition.pipeline_id, cron_expression="0 1 * * *"
        )
        assert find_schedule(client, "twin") == first
        second = client.create_schedule(
            schedule_name="twin", pipeline_id=definition.pipeline_id, cron_expression="0 2 * * *"
        )
        with pytest.raises(StudioError, match=f"ids {first.id}, {second.id}"):
            find_schedule(client, "twin")


@pytest.mark.integration
def test_wait_for_pipeline_streams_each_job_runs_lines_once(server: EmulatorServer) -> None:
    progress: list[str] = []
    lines: list[str] = []

    async def main() -> Pipeline:
        async with AsyncStudioClient(client_config(server)) as client:
            definition = await client.trigger_pipeline(datasets=["features"])
            run = await client.run_pipeline(definition_id=definition.pipeline_id)
            return await wait_for_pipeline(
                client,
                run.pipeline_id,
                deadline=Deadline.after(60),
                poll_interval=0.2,
                on_progress=progress.append,
                stream_logs=True,
                on_log=lines.append,
            )

    final = asyncio.run(main())
    assert final.status.value == "COMPLETED"
    assert "Pipeline " + str(final.name) + ": COMPLETED, 3/3 jobs completed." in progress
    for name in ("raw", "clean", "features"):
        assert lines.count(f"[{name}] {name}-line-1") == 1 and lines.count(f"[{name}] {name}-line-2") == 1


@pytest.mark.integration
def test_wait_for_pipeline_raises_at_the_deadline(server: EmulatorServer) -> None:
    raw = next(job for job in server.state.jobs.values() if job.name == "raw")
    set_job_env(server, raw.id, STUDIO_EMULATOR_DURATION=30)

    async def main() -> None:
        async with AsyncStudioClient(client_config(server)) as client:
            definition = await client.trigger_pipeline(datasets=["stats"])
            run = await client.run_pipeline(definition_id=definition.pipeline_id)
            await wait_for_pipeline(client, run.pipeline_id, deadline=Deadline.after(1.0), poll_interval=0.2)

    with pytest.raises(StudioDeadlineExceeded, match="Studio pipeline"):
        asyncio.run(main())
