"""The deferrable path through a real DAG run (``dag.test()``: a metadata database, the task runner, the
trigger run inline) against the emulator.

``dag.test()`` on 3.3.2 drops the ``kwargs`` given to ``defer()``; the operator passes none, so nothing
is lost. It runs the trigger inline, without a triggerer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from tests.studio_tasks import studio_lines

DAGS = Path(__file__).resolve().parent.parent / "dags"


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the tests' AIRFLOW_HOME."""
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run(
        [airflow_bin, "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_deferrable_job_in_a_dag_run(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    studio_connection: Callable[..., str],
    fresh_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.dags.studio_job_dag import WORDS, dag

    studio_connection(fresh_emulator)
    # dag.test() syncs the DAG's bundle to the database: point the bundle list at the test DAGs.
    bundle = {
        "name": "studio-provider-tests",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS), "refresh_interval": 0},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    (job,) = StudioHook().list_jobs(limit=5)
    assert job.status.value == "COMPLETE" and job.name.startswith("dag_job.py [airflow:")
    assert job.raw["query"] == f"print('{run.run_id}')"  # the query was rendered
    assert studio_lines(capfd.readouterr().out, job.id) == WORDS

    # job_id and job_url went to XCom, and the worker stored the extra link's URL (the job's).
    xcoms = stored_xcoms(dag.dag_id, run.run_id, "run_job")
    assert xcoms["job_id"] == job.id and xcoms["job_url"] == job.url
    assert xcoms["_link_StudioJobLink"] == job.url
    assert xcoms["return_value"]["status"] == "COMPLETE"


def stored_xcoms(dag_id: str, run_id: str, task_id: str) -> dict[str, object]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).all()
        return {row.key: XComModel.deserialize_value(row) for row in rows}
