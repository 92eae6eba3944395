"""StudioPipelineTrigger against the emulator: one final event, primitive serialize(), transient errors,
deadlines, an unknown status, and one shared client for many triggers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.client.pool import shared_client_count
from studio_provider.client.waiting import PipelineWaitResult, WaitEnd
from studio_provider.emulator import EmulatorServer
from studio_provider.triggers.pipeline import StudioPipelineTrigger
from tests.conftest import EMULATOR_TOKEN
from tests.pipeline_helpers import set_job_env, start_run
from tests.studio_tasks import collect_events, rebuild, run_trigger

pytestmark = pytest.mark.integration


def start_run_id(datasets: list[str]) -> str:
    return start_run(datasets).pipeline_id


def trigger(pipeline_id: str, **kwargs: Any) -> StudioPipelineTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    return StudioPipelineTrigger(pipeline_id, pipeline_url=f"http://studio/p/{pipeline_id}", **kwargs)


def test_serialize_holds_primitives_and_no_token() -> None:
    original = trigger("p-1", deadline=1.5e9, target_statuses=["paused", "COMPLETED"], stream_logs=True)
    classpath, kwargs = original.serialize()
    assert classpath == "studio_provider.triggers.pipeline.StudioPipelineTrigger"
    text = json.dumps(kwargs)
    assert EMULATOR_TOKEN not in text and "token" not in text.lower()
    assert kwargs["target_statuses"] == ["PAUSED", "COMPLETED"]
    copy = rebuild(original)
    assert copy.serialize() == original.serialize()


def test_one_final_event_with_progress_in_the_log(
    emulator: EmulatorServer, lineage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = start_run_id(["features", "stats"])
    event = run_trigger(trigger(run_id, stream_logs=True, deadline=None))
    result = PipelineWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.FINISHED and result.status == "COMPLETED"
    assert (result.completed, result.total) == (4, 4) and result.failures == []
    output = capsys.readouterr().out
    assert "4/4 jobs completed" in output
    assert "[clean] clean-line-2" in output


def test_a_failed_run_reports_its_failed_job_runs(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    set_job_env(
        emulator, lineage["stats"]["id"], STUDIO_EMULATOR_EXIT_CODE=2, STUDIO_EMULATOR_ERROR_MESSAGE="no disk"
    )
    result = PipelineWaitResult.from_dict(run_trigger(trigger(start_run_id(["stats"]))).payload)
    assert result.end is WaitEnd.FINISHED and result.status == "FAILED"
    [failed] = result.failed_job_runs
    assert (failed.name, failed.exit_code, failed.error_message) == ("stats", 2, "no disk")
    assert "stats (FAILED" in result.message


def test_transient_errors_are_survived_until_the_run_ends(
    studio_connection: Callable[..., str], emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    # No transport retries: the trigger's own tolerance (poll_until) has to carry the wait.
    conn_id = studio_connection(emulator, conn_id="studio_no_retries", max_retries=0)
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=1.0)
    run_id = start_run_id(["stats"])
    status_path = "/api/datachain/pipeline/status"
    emulator.injector.add_rule("error", method="GET", path=status_path, status=503, count=4)
    emulator.injector.add_rule("outage", method="GET", path=status_path, seconds=1.5)
    event = run_trigger(trigger(run_id, deadline=None, studio_conn_id=conn_id))
    result = PipelineWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.FINISHED and result.status == "COMPLETED"
    assert emulator.injector.count("GET", status_path, 503) >= 4


def test_the_deadline_ends_the_wait_with_one_event(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    import time

    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=30)
    run_id = start_run_id(["stats"])
    result = PipelineWaitResult.from_dict(run_trigger(trigger(run_id, deadline=time.time() + 1.0)).payload)
    assert result.end is WaitEnd.DEADLINE and result.pipeline_id == run_id
    assert "deadline" in result.message


def test_an_unknown_status_is_never_success(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    import time

    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=30)
    run_id = start_run_id(["stats"])

    def strange() -> None:
        emulator.state.pipelines[run_id].status = "WOBBLING"  # a status this provider does not know

    emulator.call(strange)
    result = PipelineWaitResult.from_dict(run_trigger(trigger(run_id, deadline=time.time() + 1.5)).payload)
    assert result.end is WaitEnd.DEADLINE and result.status == "UNKNOWN"


def test_triggers_of_one_connection_share_one_client(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=1.0)
    runs = [start_run_id(["stats"]) for _ in range(3)]

    async def main() -> tuple[list[Any], int]:
        tasks = [asyncio.ensure_future(collect_events(rebuild(trigger(run_id)))) for run_id in runs]
        seen = 0
        while not all(task.done() for task in tasks):
            seen = max(seen, shared_client_count())
            await asyncio.sleep(0.05)
        return [task.result() for task in tasks], seen

    events, clients = asyncio.run(main())
    assert clients == 1
    assert [len(item) for item in events] == [1, 1, 1]
    assert all(item[0].payload["status"] == "COMPLETED" for item in events)
