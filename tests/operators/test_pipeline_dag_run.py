"""A deferrable pipeline run through a real DAG run (``dag.test()``: a metadata database, the task runner,
the trigger run inline) against the emulator. The operators pass no ``defer()`` kwargs, which
``dag.test()`` on 3.3.2 would drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import build_lineage, pipelines

pytestmark = pytest.mark.integration


def test_deferrable_pipeline_in_a_dag_run(
    run_dag: Callable[..., Any],
    studio_connection: Callable[..., str],
    fresh_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.dags.studio_pipeline_dag import dag

    studio_connection(fresh_emulator)
    build_lineage(fresh_emulator)
    run = run_dag(dag)

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    (studio_run,) = pipelines(fresh_emulator, definition=False)
    assert studio_run.status == "COMPLETED"
    assert len(pipelines(fresh_emulator, definition=True)) == 1
    output = capfd.readouterr().out
    assert "4/4 jobs completed" in output  # the trigger's progress lines reach the task log
    assert "[clean] clean-line-2" in output
    assert f"Studio pipeline {studio_run.id} reached COMPLETED" in output  # the sensor, via XCom
