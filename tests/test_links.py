"""The extra links of a task that failed before it submitted anything: no link, and no error in the log.

The worker asks every link for its URL at the end of each try; the job's URL is an XCom pushed once the
job exists. A task that failed before (bad input) has none, and reading it must not log Airflow's
``[error] XCom not found``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.operators.test_dag_run import stored_xcoms


def test_a_task_that_failed_before_submitting_has_an_empty_link_and_no_error(
    run_dag: Callable[..., Any], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    from tests.dags.studio_job_dag import bad_input_dag

    run = run_dag(bad_input_dag)

    assert str(run.state) in ("failed", "DagRunState.FAILED")
    out = capfd.readouterr()
    text = out.out + out.err
    assert "no-such-script.py' does not exist" in text  # it failed where expected, before any request
    assert emulator.injector.counters()["total"] == 0
    assert "XCom not found" not in text
    xcoms = stored_xcoms(bad_input_dag.dag_id, run.run_id, "missing_script")
    assert xcoms.get("_link_StudioJobLink") == ""
    assert "job_url" not in xcoms
