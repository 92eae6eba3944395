"""StudioJobSensor against the emulator: poke, reschedule and deferrable modes, fail-fast, deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]


from studio_provider.client import JobStatus
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioSensorFailedError, StudioSensorTimeout
from studio_provider.hooks.studio import StudioHook
from studio_provider.sensors.job import StudioJobSensor
from tests.studio_tasks import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    FakeTaskInstance,
    TaskDeferred,
    collect_events,
    run_deferred,
    task_context,
)


def simulated(duration: float, **extra: str) -> dict[str, str]:
    return {"STUDIO_EMULATOR_EXECUTOR": "simulated", "STUDIO_EMULATOR_DURATION": str(duration), **extra}


@pytest.fixture
def hook(emulator: EmulatorServer) -> StudioHook:
    return StudioHook()


def sensor(job_id: str, **kwargs: Any) -> StudioJobSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return StudioJobSensor(task_id="wait", job_id=job_id, **kwargs)


def test_poke_waits_until_complete(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(0.8))
    waiting = sensor(job.id)
    assert waiting.poke(task_context()) is False
    assert waiting.execute(task_context()) == "COMPLETE"


def test_fails_fast_on_a_failed_job_naming_it(hook: StudioHook) -> None:
    job = hook.create_job(
        query="print(1)",
        environment=simulated(0.2, STUDIO_EMULATOR_EXIT_CODE="2", STUDIO_EMULATOR_ERROR_MESSAGE="bad row"),
    )
    ti = FakeTaskInstance()
    with pytest.raises(StudioSensorFailedError) as failure:
        sensor(job.id, timeout=60).execute(task_context(ti))
    assert job.id in str(failure.value) and "FAILED" in str(failure.value) and "bad row" in str(failure.value)
    assert ti.xcom["job_url"] in str(failure.value)


def test_a_targeted_failure_is_success(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(0.2, STUDIO_EMULATOR_EXIT_CODE="1"))
    assert sensor(job.id, target_statuses=["FAILED", "CANCELED"]).execute(task_context()) == "FAILED"


def test_reschedule_mode_frees_the_worker_until_the_job_is_done(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(0.8))
    waiting = sensor(job.id, mode="reschedule", poke_interval=5)
    with pytest.raises(AirflowRescheduleException):
        waiting.execute(task_context())
    deadline = time.monotonic() + 20
    while not hook.get_job(job_id=job.id).status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert sensor(job.id, mode="reschedule").execute(task_context()) == "COMPLETE"


def test_deferred_waits_for_a_non_terminal_target(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(5, STUDIO_EMULATOR_QUEUE_SECONDS="1"))
    waiting = sensor(job.id, deferrable=True, target_statuses="RUNNING", poll_interval=0.2)
    assert run_deferred(waiting, task_context()) == "RUNNING"


def test_deferred_fails_fast_and_obeys_the_deadline(hook: StudioHook) -> None:
    failed = hook.create_job(query="print(1)", environment=simulated(0.5, STUDIO_EMULATOR_EXIT_CODE="4"))
    with pytest.raises(StudioSensorFailedError, match="FAILED"):
        run_deferred(sensor(failed.id, deferrable=True, poll_interval=0.2), task_context())

    slow = hook.create_job(query="print(1)", environment=simulated(60))
    with pytest.raises(StudioSensorTimeout, match=slow.id):
        run_deferred(sensor(slow.id, deferrable=True, poll_interval=0.2, timeout=1), task_context())
    assert not hook.get_job(job_id=slow.id).status.is_terminal  # a sensor never cancels what it watches


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"target_statuses": ["DONE"]}, "target_statuses"), ({"target_statuses": []}, "target_statuses")],
)
def test_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sensor("1", **kwargs)


def test_empty_job_id_fails_before_any_request(emulator: EmulatorServer) -> None:
    emulator.injector.reset_observations()
    with pytest.raises(ValueError, match="job_id"):
        sensor(" ").execute(task_context())
    assert emulator.injector.counters()["total"] == 0


def test_a_deferred_sensor_never_cancels_the_job_it_watches(hook: StudioHook, emulator: EmulatorServer) -> None:
    """The sensor does not own the job: a user killing the deferred sensor (the trigger's on_kill) and
    the sensor's own deadline leave the job running."""
    job = hook.create_job(query="print(1)", environment=simulated(60))
    waiting = sensor(job.id, deferrable=True, timeout=1, poll_interval=0.2)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(task_context())
    trigger = deferred.value.trigger
    assert trigger.serialize()[1]["cancel_on_kill"] is False
    asyncio.run(trigger.on_kill())  # a user marked the deferred sensor failed
    events = asyncio.run(collect_events(trigger))  # then it runs to the sensor's deadline
    with pytest.raises(StudioSensorTimeout):
        waiting.execute_complete(task_context(), events[0].payload)
    assert hook.get_job(job_id=job.id).status is JobStatus.RUNNING
    cancels = [entry for entry in emulator.injector.requests() if str(entry["path"]).endswith("/cancel")]
    assert cancels == []


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferred"])
def test_one_ending_in_every_mode_a_failure_fails_without_retry_and_soft_fail_skips(
    hook: StudioHook, mode: str
) -> None:
    failed = hook.create_job(query="print(1)", environment=simulated(0.1, STUDIO_EMULATOR_EXIT_CODE="4"))
    deadline = time.monotonic() + 20
    while not hook.get_job(job_id=failed.id).status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    options: dict[str, Any] = {"deferrable": True} if mode == "deferred" else {"mode": mode}

    def run(waiting: StudioJobSensor) -> Any:
        return run_deferred(waiting, task_context()) if mode == "deferred" else waiting.execute(task_context())

    with pytest.raises(StudioSensorFailedError) as failure:
        run(sensor(failed.id, **options))
    assert isinstance(failure.value, AirflowFailException)  # retrying cannot change a FAILED job
    with pytest.raises(AirflowSkipException):
        run(sensor(failed.id, soft_fail=True, **options))


def test_a_deferred_sensor_timeout_ends_as_airflow_sensors_do(hook: StudioHook) -> None:
    slow = hook.create_job(query="print(1)", environment=simulated(60))
    with pytest.raises(AirflowSensorTimeout):  # not retried by Airflow
        run_deferred(sensor(slow.id, deferrable=True, poll_interval=0.2, timeout=1), task_context())
    with pytest.raises(AirflowSkipException):
        run_deferred(sensor(slow.id, deferrable=True, poll_interval=0.2, timeout=1, soft_fail=True), task_context())
