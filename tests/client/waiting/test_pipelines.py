"""The pipeline wait: progress lines, failed job runs, log streaming through the job follower, and the
deadline as a result (never an exception)."""

from __future__ import annotations

import asyncio

import pytest

from studio_provider.client import AsyncStudioClient, StudioConfig
from studio_provider.client.waiting import Deadline, LogWriter, PipelineWaitResult, WaitEnd, wait_for_pipeline
from studio_provider.client.waiting.pipelines import progress_lines
from studio_provider.client.waiting.results import FailedJobRun
from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import build_lineage, pipeline_reading, set_job_env

CONFIG = StudioConfig.resolve(url="https://studio.example.com", token="t", team="my team")




def test_progress_lines_report_the_count_and_each_job_run_change() -> None:
    first = pipeline_reading(
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
    second = pipeline_reading(
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


@pytest.fixture
def server(fresh_emulator: EmulatorServer) -> EmulatorServer:
    build_lineage(fresh_emulator)
    return fresh_emulator


def client_config(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(url=server.url, token=server.token, team=server.team)


@pytest.mark.integration
def test_wait_for_pipeline_streams_each_job_runs_lines_once(server: EmulatorServer) -> None:
    progress: list[str] = []
    lines: list[str] = []

    async def main() -> PipelineWaitResult:
        async with AsyncStudioClient(client_config(server)) as client:
            definition = await client.trigger_pipeline(datasets=["features"])
            run = await client.run_pipeline(definition_id=definition.pipeline_id)
            return await wait_for_pipeline(
                client,
                run.pipeline_id,
                url=None,
                deadline=Deadline.after(60),
                poll_interval=0.2,
                on_progress=progress.append,
                writers=lambda prefix: LogWriter(lines.append, prefix=prefix),
            )

    result = asyncio.run(main())
    assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETED")
    assert "Pipeline " + str(result.name) + ": COMPLETED, 3/3 jobs completed." in progress
    for name in ("raw", "clean", "features"):
        assert lines.count(f"[{name}] {name}-line-1") == 1 and lines.count(f"[{name}] {name}-line-2") == 1


@pytest.mark.integration
def test_wait_for_pipeline_ends_at_the_deadline_with_the_last_reading(server: EmulatorServer) -> None:
    raw = next(job for job in server.state.jobs.values() if job.name == "raw")
    set_job_env(server, raw.id, STUDIO_EMULATOR_DURATION=30)

    async def main() -> PipelineWaitResult:
        async with AsyncStudioClient(client_config(server)) as client:
            definition = await client.trigger_pipeline(datasets=["stats"])
            run = await client.run_pipeline(definition_id=definition.pipeline_id)
            return await wait_for_pipeline(
                client, run.pipeline_id, url=None, deadline=Deadline.after(1.0), poll_interval=0.2
            )

    result = asyncio.run(main())
    assert result.end is WaitEnd.DEADLINE
    assert result.status in ("PENDING", "RUNNING") and "Studio pipeline" in result.message
