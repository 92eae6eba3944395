"""The waiting-operator base: one absolute deadline per remote object, kept by a retry that reconnects to
it, for jobs and pipelines alike; and a new one for a new object."""

from __future__ import annotations

from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.operators.job import DEADLINE_STATE_KEY as JOB_DEADLINE_KEY
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import DEADLINE_STATE_KEY as PIPELINE_DEADLINE_KEY
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from tests.pipeline_helpers import set_job_env
from tests.studio_tasks import DictStateStore, FakeTaskInstance, TaskDeferred, task_context

SLOW_JOB = {"STUDIO_EMULATOR_EXECUTOR": "simulated", "STUDIO_EMULATOR_DURATION": "60"}


def deferred_deadline(operator: Any, ti: FakeTaskInstance, store: DictStateStore) -> float:
    """Run a try until it defers; the deadline its trigger got."""
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(task_context(ti, store))
    deadline = deferred.value.trigger.deadline
    assert isinstance(deadline, float)
    return deadline


def test_a_job_retry_that_reconnects_keeps_the_stored_deadline(emulator: EmulatorServer) -> None:
    store, ti = DictStateStore(), FakeTaskInstance(run_id="deadline-job")

    def operator() -> StudioRunJobOperator:
        return StudioRunJobOperator(
            task_id="job", query="print(1)", environment=SLOW_JOB, deferrable=True, timeout=3600
        )

    first = deferred_deadline(operator(), ti, store)
    assert store.get(JOB_DEADLINE_KEY) == first
    ti.try_number = 2  # the worker died while deferred: the retry finds the job still running
    assert deferred_deadline(operator(), ti, store) == first


def test_a_pipeline_retry_that_reconnects_keeps_the_stored_deadline(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    raw = next(job for job in emulator.state.jobs.values() if job.name == "raw")
    set_job_env(emulator, raw.id, STUDIO_EMULATOR_DURATION=60)
    store, ti = DictStateStore(), FakeTaskInstance(run_id="deadline-pipeline")

    def operator() -> StudioTriggerPipelineOperator:
        return StudioTriggerPipelineOperator(
            task_id="rebuild", datasets=["stats"], deferrable=True, timeout=3600, poll_interval=0.2
        )

    first = deferred_deadline(operator(), ti, store)
    assert store.get(PIPELINE_DEADLINE_KEY) == first
    ti.try_number = 2
    assert deferred_deadline(operator(), ti, store) == first


def test_a_new_remote_object_gets_a_new_deadline(emulator: EmulatorServer) -> None:
    store = DictStateStore()
    store.set(JOB_DEADLINE_KEY, 1.0)  # an earlier try's, long past
    operator = StudioRunJobOperator(
        task_id="job", query="print(1)", environment=SLOW_JOB, deferrable=True, timeout=3600
    )
    deadline = deferred_deadline(operator, FakeTaskInstance(run_id="deadline-new"), store)
    assert deadline > 1.0 and store.get(JOB_DEADLINE_KEY) == deadline
