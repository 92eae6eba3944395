"""``airflow dags test`` of an example DAG, as users run it: the Airflow CLI of the installed version in its
own process (DAG parsing from ``dags_examples``, the task runner, the deferred waits run inline), against a
fresh local-executor emulator. ``make test-airflow-<version>`` runs it on each supported Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from tests.operators.test_dag_run import stored_xcoms

pytestmark = [pytest.mark.integration, pytest.mark.dag_run, pytest.mark.timeout(400)]

AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "studio_etl_chain"
TASKS = ("extract_cities", "city_stats", "city_stats_ready", "rebuild_stats", "report")


def test_airflow_dags_test_of_the_etl_example(
    airflow_db: None,
    emulator_factory: Callable[..., EmulatorServer],
    studio_connection: Callable[..., str],
) -> None:
    studio_connection(emulator_factory(executor="local"))  # an AIRFLOW_CONN_ variable, as a deployment sets

    from airflow.configuration import conf

    # In unit-test mode every Airflow process draws its own Fernet key; the CLI must share this one, or the
    # encrypted trigger kwargs it writes (the example's dataset watcher) are unreadable to later tests.
    env = {**os.environ, "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key")}
    done = subprocess.run(
        [AIRFLOW, "dags", "test", DAG_ID],
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    run_id = latest_run_id(DAG_ID)
    assert task_states(DAG_ID, run_id) == dict.fromkeys(TASKS, "success")
    hook = StudioHook()
    extract = hook.get_job(job_id=str(stored_xcoms(DAG_ID, run_id, "extract_cities")["job_id"]))
    stats = hook.get_job(job_id=str(stored_xcoms(DAG_ID, run_id, "city_stats")["job_id"]))
    assert extract.status.value == stats.status.value == "COMPLETE"
    # The jobs' own log lines reached the task log that the CLI prints.
    assert f"[studio {extract.id}] extract: read 6 cities from cities.csv" in output
    assert f"[studio {stats.id}] city_stats: read cities@v1.0.0; population by country:" in output


def latest_run_id(dag_id: str) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        assert run is not None, f"no run of {dag_id} in the metadata database"
        return str(run.run_id)


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id).all()
        return {row.task_id: str(getattr(row.state, "value", row.state)) for row in rows}
