"""StudioDatasetSensor against the emulator: it waits for a version a later job creates (poke, deferred,
reschedule), fails on a FAILED version, and refuses bad references before any request."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import PokeReturnValue

from studio_provider.emulator import EmulatorServer
from studio_provider.sensors.dataset import (
    BASELINE_STATE_KEY,
    StudioDatasetSensor,
    StudioDatasetVersionFailedError,
)
from tests.dataset_helpers import run_writer, seed, start_writer
from tests.studio_tasks import DictStateStore, run_deferred, task_context

DATASET = "@acme.zoo.cats"


def sensor(**kwargs: Any) -> StudioDatasetSensor:
    kwargs.setdefault("task_id", "wait_for_cats")
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 60)
    return StudioDatasetSensor(**kwargs)


@pytest.mark.integration
def test_poke_mode_waits_for_the_version_a_later_job_creates(emulator: EmulatorServer) -> None:
    job_id = start_writer(emulator, DATASET)
    result = sensor(dataset=DATASET, version="v1.0.0").execute(task_context())
    assert result["version"] == "1.0.0" and result["status"] == 4 and result["job_id"] == job_id
    assert (result["namespace"], result["project"], result["name"]) == ("acme", "zoo", "cats")


@pytest.mark.integration
def test_without_a_version_it_waits_for_one_newer_than_at_the_start(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    start_writer(emulator, DATASET)  # writes 1.0.1, COMPLETE about a second later
    result = sensor(namespace="acme", project="zoo", name="cats").execute(task_context())
    assert result["version"] == "1.0.1"


@pytest.mark.integration
def test_min_version_accepts_the_highest_complete_at_or_above(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    seed(emulator, DATASET, "1.3.0")
    assert sensor(dataset="cats", min_version="1.2").execute(task_context())["version"] == "1.3.0"


@pytest.mark.integration
def test_a_failed_version_fails_the_sensor_clearly(emulator: EmulatorServer) -> None:
    job_id = run_writer(emulator, DATASET, exit_code=1)
    with pytest.raises(StudioDatasetVersionFailedError) as caught:
        sensor(dataset=f"{DATASET}@v1.0.0").execute(task_context())
    message = str(caught.value)
    assert "cats version 1.0.0 ended FAILED (3)" in message and job_id in message
    assert "did not complete" in message


@pytest.mark.integration
def test_deferred_it_waits_in_the_trigger(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    start_writer(emulator, DATASET)
    result = run_deferred(sensor(dataset=DATASET, deferrable=True, poll_interval=0.1), task_context())
    assert result["version"] == "1.0.1"


@pytest.mark.integration
def test_deferred_it_fails_on_a_failed_version(emulator: EmulatorServer) -> None:
    start_writer(emulator, DATASET, STUDIO_EMULATOR_EXIT_CODE=2)
    with pytest.raises(StudioDatasetVersionFailedError, match="ended FAILED"):
        run_deferred(
            sensor(dataset=DATASET, version="1.0.0", deferrable=True, poll_interval=0.1), task_context()
        )


@pytest.mark.integration
def test_reschedule_mode_keeps_the_baseline_in_the_task_state_store(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    store = DictStateStore()
    first = sensor(dataset=DATASET, mode="reschedule")
    assert first.poke(task_context(store=store)) is False
    assert store.values[BASELINE_STATE_KEY] == {"dataset": DATASET, "after": "1.0.0"}

    seed(emulator, DATASET, "1.0.1")
    # A reschedule is a new process: a new sensor object, the same store.
    again = sensor(dataset=DATASET, mode="reschedule").poke(task_context(store=store))
    assert isinstance(again, PokeReturnValue) and again.is_done
    assert again.xcom_value["version"] == "1.0.1"


@pytest.mark.integration
def test_reschedule_without_a_state_store_needs_a_version(emulator: EmulatorServer) -> None:
    before = len(emulator.injector.requests())
    with pytest.raises(ValueError, match=r"reschedule mode needs Airflow 3\.3"):
        sensor(dataset=DATASET, mode="reschedule").poke(task_context())
    assert len(emulator.injector.requests()) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "cats dogs"}, "invalid dataset reference"),
        ({"dataset": "@acme.cats"}, "expected @namespace.project.name"),
        ({}, "Pass the dataset"),
        ({"dataset": DATASET, "version": "latest"}, r"version must be a version such as 1\.2\.3"),
        ({"dataset": DATASET, "min_version": "x"}, "min_version must be a version"),
        ({"dataset": DATASET, "version": "1", "min_version": "1"}, "mutually exclusive"),
        ({"dataset": f"{DATASET}@v1.0.0", "version": "2.0.0"}, "pass one of them"),
        ({"name": "cats", "project": "zoo"}, "namespace and project together"),
    ],
)
def test_bad_input_fails_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sensor(**kwargs)


@pytest.mark.integration
def test_templated_input_is_checked_before_any_request(emulator: EmulatorServer) -> None:
    templated = sensor(dataset="{{ params.dataset }}")  # not checkable before rendering
    templated.dataset = "not a ref!"  # what rendering produced
    before = len(emulator.injector.requests())
    with pytest.raises(ValueError, match="invalid dataset reference"):
        templated.execute(task_context())
    assert len(emulator.injector.requests()) == before
