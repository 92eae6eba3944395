"""StudioPipelineSensor against the emulator: poke and deferred modes, fast failure, targets, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioSensorFailedError, StudioSensorTimeout
from studio_provider.hooks.studio import StudioHook
from studio_provider.sensors.pipeline import StudioPipelineSensor
from studio_provider.triggers.pipeline import StudioPipelineTrigger
from tests.emulator.helpers import wait_for
from tests.pipeline_helpers import set_job_env, start_run
from tests.studio_tasks import FakeTaskInstance, TaskDeferred, run_deferred, task_context

pytestmark = pytest.mark.integration


def sensor(**kwargs: Any) -> StudioPipelineSensor:
    kwargs.setdefault("task_id", "wait_pipeline")
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 60)
    return StudioPipelineSensor(**kwargs)


def test_poke_is_false_while_running_then_true_at_completed(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=1.0)
    run = start_run(["stats"])
    ti = FakeTaskInstance()
    probe = sensor(pipeline_id=run.pipeline_id)
    assert probe.poke(task_context(ti)) is False
    assert run.pipeline_id in ti.xcom["pipeline_url"]
    assert wait_for(lambda: probe.poke(task_context(ti)), timeout=30, interval=0.2, what="COMPLETED")


def test_a_failed_pipeline_fails_fast_unless_failed_is_a_target(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_EXIT_CODE=1)
    run = start_run(["stats"])
    wait_for(
        lambda: StudioHook().get_pipeline(pipeline_id=run.pipeline_id).status.is_terminal, what="the end"
    )
    with pytest.raises(StudioSensorFailedError, match="ended FAILED, not one of the awaited COMPLETED"):
        sensor(pipeline_id=run.pipeline_id).poke(task_context())
    assert sensor(pipeline_name=run.name, target_statuses="failed").poke(task_context()) is True


def test_deferred_mode_waits_in_the_trigger(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=0.5)
    run = start_run(["features"])
    deferred = sensor(pipeline_id=run.pipeline_id, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        deferred.execute(task_context())
    trigger = info.value.trigger
    assert isinstance(trigger, StudioPipelineTrigger) and trigger.target_statuses == ["COMPLETED"]
    assert trigger.pause_on_kill is False  # a sensor only watches
    assert run_deferred(sensor(pipeline_id=run.pipeline_id, deferrable=True), task_context()) == "COMPLETED"


def test_deferred_mode_fails_at_the_sensor_deadline(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=30)
    run = start_run(["stats"])
    with pytest.raises(StudioSensorTimeout, match="did not reach COMPLETED by the sensor's deadline"):
        run_deferred(sensor(pipeline_id=run.pipeline_id, deferrable=True, timeout=1.0), task_context())
    # A sensor only watches: the run goes on.
    assert StudioHook().get_pipeline(pipeline_id=run.pipeline_id).status.value == "RUNNING"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pipeline_id": "p", "target_statuses": ["DONE"]}, "target_statuses holds 'DONE'"),
        ({"pipeline_id": "p", "target_statuses": ["UNKNOWN"]}, "target_statuses holds 'UNKNOWN'"),
        ({"pipeline_id": "p", "pipeline_name": "n"}, "mutually exclusive"),
        ({}, "Pass pipeline_id or pipeline_name"),
    ],
    ids=["unknown-name", "unknown-member", "both", "neither"],
)
def test_bad_input_is_refused_at_construction(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sensor(**kwargs)
