"""A deferrable pipeline run through a real DAG run (``dag.test()``: a metadata database, the task runner,
the trigger run inline) against the emulator. The operators pass no ``defer()`` kwargs, which
``dag.test()`` on 3.3.2 would drop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import build_lineage, pipelines

DAGS = Path(__file__).resolve().parent.parent / "dags"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the tests' AIRFLOW_HOME."""
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run(
        [airflow_bin, "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_deferrable_pipeline_in_a_dag_run(
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    studio_connection: Callable[..., str],
    fresh_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.dags.studio_pipeline_dag import dag

    studio_connection(fresh_emulator)
    build_lineage(fresh_emulator)
    bundle = {
        "name": "studio-provider-tests",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(DAGS), "refresh_interval": 0},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    (studio_run,) = pipelines(fresh_emulator, definition=False)
    assert studio_run.status == "COMPLETED"
    assert len(pipelines(fresh_emulator, definition=True)) == 1
    output = capfd.readouterr().out
    assert "4/4 jobs completed" in output  # the trigger's progress lines reach the task log
    assert "[clean] clean-line-2" in output
    assert f"Studio pipeline {studio_run.id} reached COMPLETED" in output  # the sensor, via XCom
