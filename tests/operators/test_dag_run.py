"""The deferrable path through a real DAG run (``dag.test()``: a metadata database, the task runner, the
trigger run inline) against the emulator.

``dag.test()`` on 3.3.2 drops the ``kwargs`` given to ``defer()``; the operator passes none, so nothing
is lost. It runs the trigger inline, without a triggerer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from tests.studio_tasks import studio_lines


def test_deferrable_job_in_a_dag_run(
    run_dag: Callable[..., Any], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.studio_job_dag import WORDS, dag

    run = run_dag(dag)

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    (job,) = StudioHook().list_jobs(limit=5)
    assert job.status.value == "COMPLETE" and job.name.startswith("dag_job.py [airflow:")
    assert job.raw["query"] == f"print('{run.run_id}')"  # the query was rendered
    out = capfd.readouterr().out
    assert studio_lines(out, job.id) == WORDS
    # The job's URL ends its line of the task log (then the logger's name): Airflow's log view links a URL
    # up to the next space, so a "," or ")" right after it would join the link. (Airflow 3.1's console log
    # colours the text: the codes are dropped first.)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(rf"Studio job {job.id} \(submitted\), status [A-Z]+: {re.escape(job.url)} \[", plain), out

    # job_id and job_url went to XCom, and the worker stored the extra link's URL (the job's).
    xcoms = stored_xcoms(dag.dag_id, run.run_id, "run_job")
    assert xcoms["job_id"] == job.id and xcoms["job_url"] == job.url
    assert xcoms["_link_StudioJobLink"] == job.url
    assert xcoms["return_value"]["status"] == "COMPLETE"


def test_the_documented_run_date_renders_in_a_manual_run(
    run_dag: Callable[..., Any], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """docs/jobs.md's run-date template works in a run without a logical date (a manual trigger of a
    ``schedule=None`` DAG, as the UI's Trigger button makes); ``{{ ds }}`` does not render there."""
    from pathlib import Path

    from tests.dags.studio_job_dag import RUN_DATE, run_date_dag

    assert f'"RUN_DATE": "{RUN_DATE}"' in (Path(__file__).parents[2] / "docs" / "jobs.md").read_text()

    run = run_dag(run_date_dag, logical_date=None)

    assert run.logical_date is None
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == {"dated_job": "success", "ds_job": "failed"}, states
    (job,) = StudioHook().list_jobs(limit=5)  # the ds_job failed while rendering: it submitted nothing
    assert job.raw["environment"]["RUN_DATE"] == run.run_after.strftime("%Y-%m-%d")
    assert "'ds' is undefined" in capfd.readouterr().out


def stored_xcoms(dag_id: str, run_id: str, task_id: str) -> dict[str, object]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}
