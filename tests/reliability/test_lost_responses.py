"""Scenario 2, lost responses: 30 % of the create-job, pipeline trigger and pipeline run responses are
lost after Studio acted (half as a 502, half as a dropped connection). Every operator execution must
end up owning exactly one Studio object: no duplicate, none missing, each task reporting its own."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from studio_provider.operators.submission import MARKER_PREFIX
from tests.emulator.helpers import wait_for
from tests.pipeline_helpers import build_lineage, pipelines
from tests.reliability.helpers import add_token_count, captured_logs, record, request_log, simulated_env
from tests.studio_tasks import DictStateStore, FakeTaskInstance, marker_of, task_context

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

EXECUTIONS = 200
PIPELINE_EXECUTIONS = 30


def lose(server: EmulatorServer, *paths: str) -> None:
    """30 % of the responses to POSTs on ``paths`` are lost after the server acted."""
    server.injector.seed(23)
    for path in paths:
        server.injector.add_rule("lose_response", method="POST", path=path, rate=0.15)
        server.injector.add_rule("lose_response", method="POST", path=path, rate=0.15 / 0.85, mode="reset")


def lost_count(server: EmulatorServer, path: str) -> int:
    return sum(1 for e in request_log(server) if e["path"] == path and str(e.get("fault", "")).startswith("lose"))


def run_job_task(index: int) -> tuple[FakeTaskInstance, dict[str, Any]]:
    ti = FakeTaskInstance(task_id=f"lost_{index:03d}")
    operator = StudioRunJobOperator(
        task_id=ti.task_id,
        query="print('lost responses')",
        query_name=f"{ti.task_id}.py",
        environment=simulated_env(["one"], 0.2),
        wait_for_completion=False,
    )
    # Half the tasks run on Airflow 3.3 (a task state store), half as on Airflow 3.1/3.2 (markers only).
    store = DictStateStore() if index % 2 else None
    try:
        return ti, operator.execute(task_context(ti, store))
    finally:
        operator.hook.close()


def test_200_job_submissions_with_lost_responses_create_exactly_200_jobs(
    rel_emulator: EmulatorServer, rel_connection: str
) -> None:
    lose(rel_emulator, "/api/datachain/jobs/")
    with captured_logs() as logs, ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(run_job_task, range(EXECUTIONS)))
    rel_emulator.injector.clear()

    jobs = rel_emulator.call(lambda: list(rel_emulator.state.jobs.values()))
    markers = Counter(
        name[name.index(f"[{MARKER_PREFIX}") :] for name in (job.name or "" for job in jobs) if MARKER_PREFIX in name
    )
    reported = [result["job_id"] for _, result in outcomes]
    own = [
        rel_emulator.call(lambda job_id=job_id: rel_emulator.state.jobs[job_id].name)
        for job_id in reported
    ]
    lost = lost_count(rel_emulator, "/api/datachain/jobs/")
    record(
        "2 lost responses (jobs)",
        {"executions": EXECUTIONS, "responses lost": lost, "jobs expected": EXECUTIONS, "jobs found": len(jobs),
         "duplicated markers": sum(1 for n in markers.values() if n > 1)},
    )
    assert lost >= 0.2 * EXECUTIONS  # the fault really hit about 30 % of the creates
    assert len(jobs) == EXECUTIONS
    assert len(markers) == EXECUTIONS and set(markers.values()) == {1}
    assert len(set(reported)) == EXECUTIONS
    for (ti, result), name in zip(outcomes, own, strict=True):
        assert f"[{marker_of(ti)}]" in name, (ti.task_id, name)  # each task reports its own job
        assert ti.xcom["job_id"] == result["job_id"]
    assert add_token_count("2 lost responses", logs.text, request_log(rel_emulator), [r for _, r in outcomes]) == 0


def test_pipeline_trigger_and_run_with_lost_responses_create_one_definition_and_one_run_each(
    rel_emulator: EmulatorServer, rel_connection: str
) -> None:
    build_lineage(rel_emulator, prefix="lost-")
    jobs_before = len(rel_emulator.state.jobs)
    lose(rel_emulator, "/api/datachain/pipeline/trigger", "/api/datachain/pipeline/run")
    outcomes = []
    with captured_logs() as logs:
        for index in range(PIPELINE_EXECUTIONS):
            ti = FakeTaskInstance(task_id=f"pipeline_{index:02d}")
            operator = StudioTriggerPipelineOperator(
                task_id=ti.task_id, datasets=["lost-clean"], wait_for_completion=False
            )
            store = DictStateStore() if index % 2 else None
            outcomes.append((ti, operator.execute(task_context(ti, store))))
            operator.hook.close()
    rel_emulator.injector.clear()

    definitions = pipelines(rel_emulator, definition=True)
    runs = wait_for(
        lambda: (found := pipelines(rel_emulator, definition=False))
        and all(run.status == "COMPLETED" for run in found)
        and found,
        what="every pipeline run to complete",
    )
    lost = lost_count(rel_emulator, "/api/datachain/pipeline/trigger") + lost_count(
        rel_emulator, "/api/datachain/pipeline/run"
    )
    run_jobs = len(rel_emulator.state.jobs) - jobs_before
    record(
        "2 lost responses (pipelines)",
        {"executions": PIPELINE_EXECUTIONS, "responses lost": lost, "definitions found": len(definitions),
         "runs found": len(runs), "jobs started by the runs": run_jobs, "jobs expected": 2 * PIPELINE_EXECUTIONS},
    )
    assert lost >= 0.3 * PIPELINE_EXECUTIONS  # over 60 requests, about 30 % lost
    assert len(definitions) == PIPELINE_EXECUTIONS
    assert len(runs) == PIPELINE_EXECUTIONS
    assert run_jobs == 2 * PIPELINE_EXECUTIONS  # raw and clean, once per run
    assert len({ti.xcom["pipeline_id"] for ti, _ in outcomes}) == PIPELINE_EXECUTIONS
    assert len({ti.xcom["definition_id"] for ti, _ in outcomes}) == PIPELINE_EXECUTIONS
    for ti, result in outcomes:
        assert result["pipeline_id"] == ti.xcom["pipeline_id"]
        assert result["definition_id"] == ti.xcom["definition_id"]
    assert add_token_count("2 lost responses", logs.text, request_log(rel_emulator), [r for _, r in outcomes]) == 0
