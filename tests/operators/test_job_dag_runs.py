"""Jobs in real DAG runs (``dag.test()``: the metadata database, the task runner, the trigger run inline)
against the emulator, beyond the plain deferrable job of ``test_dag_run.py``: a mapped job, and a create
whose response is lost. These run on every supported Airflow version (``make test-airflow-<version>``):
the map index is part of each task's identity, and before 3.3 a lost create is found again by the task's
marker alone (no task state store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.submission import marker_for
from tests.conftest import EMULATOR_TOKEN
from tests.operators.test_dag_run import stored_xcoms
from tests.studio_tasks import studio_lines

pytestmark = pytest.mark.integration

JOBS_PATH = "/api/datachain/jobs/"


def succeeded(run: Any) -> bool:
    return str(run.state) in ("success", "DagRunState.SUCCESS")


def test_mapped_job_runs_one_studio_job_per_map_index(
    run_dag: Callable[..., Any], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.studio_mapped_dag import MAP_SIZE, dag, words

    run = run_dag(dag)

    assert succeeded(run)
    jobs = StudioHook().list_jobs(limit=10)
    assert len(jobs) == MAP_SIZE
    by_query = {job.raw["query"]: job for job in jobs}
    output = capfd.readouterr().out
    for index in range(MAP_SIZE):
        job = by_query[f"print('{index}')"]  # the template saw its own map index
        assert job.status.value == "COMPLETE"
        # Each map index is its own task instance: its own marker, and its own lines in the log.
        assert f"[{marker_for(EMULATOR_TOKEN, dag.dag_id, 'run_jobs', run.run_id, index)}]" in job.name
        assert studio_lines(output, job.id) == words(index)
    returned = stored_map_xcoms(dag.dag_id, run.run_id, "run_jobs", "job_id")
    assert returned == {index: by_query[f"print('{index}')"].id for index in range(MAP_SIZE)}


@pytest.mark.parametrize("mode", ["error", "reset"])
def test_a_lost_create_response_still_makes_exactly_one_job(
    run_dag: Callable[..., Any], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str], mode: str
) -> None:
    """Studio creates the job but its answer is lost (a 502, or the connection reset): the task finds the
    job by its marker instead of sending the create again, then waits for it as usual."""
    from tests.dags.studio_job_dag import WORDS, dag

    emulator.injector.add_rule("lose_response", method="POST", path=JOBS_PATH, count=1, mode=mode)

    run = run_dag(dag)

    assert succeeded(run)
    (job,) = StudioHook().list_jobs(limit=5)
    assert job.status.value == "COMPLETE"
    assert emulator.injector.count("POST", JOBS_PATH) == 1  # found again, never created twice
    output = capfd.readouterr().out
    assert "The response to creating the Studio job was lost" in output
    assert f"Found the Studio job {job.id} created by the lost request" in output
    assert studio_lines(output, job.id) == WORDS
    assert stored_xcoms(dag.dag_id, run.run_id, "run_job")["job_id"] == job.id


def stored_map_xcoms(dag_id: str, run_id: str, task_id: str, key: str) -> dict[int, object]:
    """One XCom of every map index of a mapped task, by map index."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key).all()
        )
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}
