"""A deferrable pipeline run through a real DAG run (``dag.test()``: a metadata database, the task runner,
the trigger run inline) against the emulator. The operators pass no ``defer()`` kwargs, which
``dag.test()`` on 3.3.2 would drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.pipeline_helpers import pipelines

pytestmark = pytest.mark.integration


def test_deferrable_pipeline_in_a_dag_run(
    run_dag: Callable[..., Any],
    emulator: EmulatorServer,
    lineage: dict[str, dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.dags.studio_pipeline_dag import dag

    run = run_dag(dag)

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    (studio_run,) = pipelines(emulator, definition=False)
    assert studio_run.status == "COMPLETED"
    assert len(pipelines(emulator, definition=True)) == 1
    output = capfd.readouterr().out
    assert "4/4 jobs completed" in output  # the trigger's progress lines reach the task log
    assert "[clean] clean-line-2" in output
    assert f"Studio pipeline {studio_run.id} reached COMPLETED" in output  # the sensor, via XCom
