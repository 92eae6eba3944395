"""Pipeline operators against the emulator over real HTTP: trigger → run → wait, failures, pause and
resume, deadlines, lost responses and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioDeadlinePassedError, StudioTaskError
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.pipeline import (
    StudioPausePipelineOperator,
    StudioPipelineFailedError,
    StudioResumePipelineOperator,
    StudioRunPipelineOperator,
    StudioTriggerPipelineOperator,
)
from studio_provider.sensors.pipeline import StudioPipelineSensor
from tests.pipeline_helpers import assert_refused_before_any_request, pipelines, set_job_env
from tests.studio_tasks import DictStateStore, FakeTaskInstance, run_deferred, task_context

pytestmark = pytest.mark.integration


def trigger_op(**kwargs: Any) -> StudioTriggerPipelineOperator:
    kwargs.setdefault("task_id", "pipeline_task")
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("datasets", ["features", "stats"])
    return StudioTriggerPipelineOperator(**kwargs)


def test_trigger_run_completes_with_progress_and_job_run_logs(
    emulator: EmulatorServer, lineage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ti = FakeTaskInstance()
    result = trigger_op(stream_logs=True).execute(task_context(ti))

    assert result["status"] == "COMPLETED"
    assert (result["completed"], result["total"]) == (4, 4)
    assert ti.xcom["pipeline_id"] == result["pipeline_id"]
    assert ti.xcom["pipeline_name"] == result["name"]
    assert result["pipeline_id"] in ti.xcom["pipeline_url"] and ti.xcom["pipeline_url"] == result["url"]
    assert ti.xcom["definition_id"] == result["definition_id"] != result["pipeline_id"]
    output = capsys.readouterr().out
    assert "4/4 jobs completed" in output
    for run in result["job_runs"]:
        assert run["status"] == "COMPLETE"
        assert f"job run {run['name']}: COMPLETE (Studio job {run['studio_job_id']})" in output
        # Each job run's own lines, prefixed with its name.
        assert f"[{run['name']}] {run['name']}-line-1" in output
        assert f"[{run['name']}] {run['name']}-line-2" in output


def test_settings_are_applied_to_the_definition(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    ti = FakeTaskInstance()
    op = trigger_op(datasets="stats", run=False, environment={"MODE": "full"}, workers=2, priority=1)
    result = op.execute(task_context(ti))
    assert result["status"] == "PENDING" and result["is_definition"] is True
    definition = StudioHook().get_pipeline(pipeline_id=ti.xcom["pipeline_id"])
    environment = definition.raw["environment_variables"]
    assert environment.pop("AIRFLOW_STUDIO_TASK").startswith("airflow:")  # the task's marker, merged in
    assert environment == {"MODE": "full"}
    assert definition.raw["workers"] == 2 and definition.raw["priority"] == 1
    assert pipelines(emulator, definition=False) == []


def test_a_failed_middle_job_fails_the_task_naming_it_and_the_other_branch_completes(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(
        emulator,
        lineage["clean"]["id"],
        STUDIO_EMULATOR_EXIT_CODE=3,
        STUDIO_EMULATOR_ERROR_MESSAGE="bad rows",
    )
    ti = FakeTaskInstance()
    with pytest.raises(StudioPipelineFailedError) as info:
        trigger_op().execute(task_context(ti))

    message = str(info.value)
    assert "ended FAILED" in message and ti.xcom["pipeline_url"] in message
    assert "clean (FAILED" in message and "exit code 3" in message and "bad rows" in message
    assert "stats (" not in message and "features (" not in message
    final = StudioHook().get_pipeline(pipeline_id=ti.xcom["pipeline_id"])
    status = {run.name: run.status.value for run in final.job_runs}
    assert status == {"raw": "COMPLETE", "clean": "FAILED", "features": "CANCELED", "stats": "COMPLETE"}


def test_pause_and_resume_are_idempotent(
    emulator: EmulatorServer, lineage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=1.5)
    ti = FakeTaskInstance()
    started = trigger_op(wait_for_completion=False).execute(task_context(ti))
    assert started["status"] == "RUNNING"
    run_id = started["pipeline_id"]

    def control(cls: type, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = cls(task_id="control", **kwargs).execute(task_context())
        return result

    assert control(StudioPausePipelineOperator, pipeline_id=run_id)["status"] == "PAUSED"
    assert control(StudioPausePipelineOperator, pipeline_id=run_id)["status"] == "PAUSED"
    assert "is already PAUSED: nothing to pause" in capsys.readouterr().out
    paused = StudioPipelineSensor(
        task_id="paused", pipeline_id=run_id, target_statuses=["PAUSED"], poll_interval=0.2, timeout=30
    )
    assert paused.poke(task_context()) is True

    assert control(StudioResumePipelineOperator, pipeline_name=started["name"])["status"] == "RUNNING"
    assert control(StudioResumePipelineOperator, pipeline_id=run_id)["status"] in ("RUNNING", "COMPLETED")
    sensor = StudioPipelineSensor(
        task_id="done", pipeline_id=run_id, deferrable=True, poll_interval=0.2, timeout=60
    )
    assert run_deferred(sensor, task_context()) == "COMPLETED"
    assert len(pipelines(emulator, definition=False)) == 1


def test_a_deadline_that_expires_pauses_the_run_and_names_it(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=30)
    ti = FakeTaskInstance()
    op = trigger_op(timeout=1.0, deferrable=True)
    with pytest.raises(StudioDeadlinePassedError) as info:
        run_deferred(op, task_context(ti))
    message = str(info.value)
    assert ti.xcom["pipeline_name"] in message and ti.xcom["pipeline_url"] in message
    assert "it was paused" in message
    assert StudioHook().get_pipeline(pipeline_id=ti.xcom["pipeline_id"]).status.value == "PAUSED"


def test_lost_trigger_and_run_responses_still_make_one_definition_and_one_run(
    emulator: EmulatorServer, lineage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for path in ("/api/datachain/pipeline/trigger", "/api/datachain/pipeline/run"):
        emulator.injector.add_rule("lose_response", method="POST", path=path, count=1)
    ti = FakeTaskInstance()
    result = trigger_op().execute(task_context(ti, DictStateStore()))

    assert result["status"] == "COMPLETED"
    definitions, runs = pipelines(emulator, definition=True), pipelines(emulator, definition=False)
    with capsys.disabled():
        print(f"\nFIGURES lost-response: definitions={len(definitions)} runs={len(runs)}")
    assert len(definitions) == 1 and len(runs) == 1
    assert emulator.injector.count("POST", "/api/datachain/pipeline/trigger") == 1
    assert emulator.injector.count("POST", "/api/datachain/pipeline/run") == 1
    output = capsys.readouterr().out
    assert "Found the Studio pipeline definition" in output and "Found the Studio pipeline run" in output


def test_a_retry_reconnects_to_the_run_of_an_earlier_try(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    store, ti = DictStateStore(), FakeTaskInstance()
    first = trigger_op(wait_for_completion=False).execute(task_context(ti, store))
    second = trigger_op().execute(task_context(FakeTaskInstance(try_number=2), store))
    assert second["pipeline_id"] == first["pipeline_id"] and second["status"] == "COMPLETED"
    assert len(pipelines(emulator, definition=True)) == 1 and len(pipelines(emulator, definition=False)) == 1


def test_run_an_existing_definition_by_name(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    definition = trigger_op(datasets=["stats"], run=False).execute(task_context())
    result = StudioRunPipelineOperator(
        task_id="run", pipeline_name=definition["name"], poll_interval=0.2
    ).execute(task_context())
    assert result["status"] == "COMPLETED" and result["definition_id"] == definition["pipeline_id"]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: trigger_op(datasets=[]), ("datasets", "non-empty")),
        (lambda: trigger_op(datasets=["@only.two"]), ("datasets", "@only.two", "@namespace.project.name")),
        (lambda: trigger_op(datasets=["ok", "bad name"]), ("datasets", "bad name")),
        (lambda: trigger_op(priority=7), ("priority", "7")),
    ],
    ids=["empty-datasets", "malformed-ref", "ref-with-space", "priority-7"],
)
def test_bad_input_fails_before_any_request(
    emulator: EmulatorServer, make: Callable[[], Any], words: tuple[str, ...]
) -> None:
    assert_refused_before_any_request(emulator, make, words)


def test_definition_id_and_a_name_are_refused(emulator: EmulatorServer) -> None:
    emulator.injector.reset_observations()
    with pytest.raises(ValueError, match="definition_id and pipeline_name are mutually exclusive"):
        StudioRunPipelineOperator(task_id="run", definition_id="d-1", pipeline_name="name")
    with pytest.raises(ValueError, match="Pass definition_id or pipeline_name"):
        StudioRunPipelineOperator(task_id="run")
    assert emulator.injector.counters()["total"] == 0


# ---- retries and ownership -------------------------------------------------------------------------


def test_a_retry_resumes_the_run_its_deadline_paused(emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=3)
    store, ti = DictStateStore(), FakeTaskInstance()
    with pytest.raises(StudioDeadlinePassedError):
        run_deferred(trigger_op(timeout=1.0, deferrable=True), task_context(ti, store))
    run_id = ti.xcom["pipeline_id"]
    assert StudioHook().get_pipeline(pipeline_id=run_id).status.value == "PAUSED"
    retry = trigger_op(deferrable=True, timeout=60)
    result = run_deferred(retry, task_context(FakeTaskInstance(try_number=2), store))
    assert result["pipeline_id"] == run_id and result["status"] == "COMPLETED"
    assert len(pipelines(emulator, definition=False)) == 1


def test_a_run_paused_by_someone_else_fails_the_retry_at_once(
    emulator: EmulatorServer, lineage: dict[str, Any]
) -> None:
    set_job_env(emulator, lineage["raw"]["id"], STUDIO_EMULATOR_DURATION=1)
    store, ti = DictStateStore(), FakeTaskInstance()
    started = trigger_op(wait_for_completion=False).execute(task_context(ti, store))
    StudioHook().pause_pipeline(pipeline_id=started["pipeline_id"])  # a person, in Studio
    emulator.injector.reset_observations()
    with pytest.raises(StudioTaskError, match="not by this task") as info:
        trigger_op(timeout=60).execute(task_context(FakeTaskInstance(try_number=2), store))
    assert started["pipeline_id"] in str(info.value)
    assert StudioHook().get_pipeline(pipeline_id=started["pipeline_id"]).status.value == "PAUSED"
    assert emulator.injector.count("POST", "/api/datachain/pipeline/resume") == 0


@pytest.mark.parametrize("operator", ["trigger", "run"])
def test_without_a_state_store_a_retry_finds_the_definition_and_run_by_their_marker(
    emulator: EmulatorServer, lineage: dict[str, Any], operator: str
) -> None:
    """Airflow before 3.3, or a worker that died between the create and the store write: the marker in the
    definition's environment (and so in its runs') is what the next try finds."""
    existing = trigger_op(datasets=["stats"], run=False).execute(task_context(FakeTaskInstance(task_id="setup")))

    def make() -> Any:
        if operator == "trigger":
            return trigger_op(wait_for_completion=False)
        return StudioRunPipelineOperator(task_id="run", pipeline_name=existing["name"], wait_for_completion=False)

    definitions_before = len(pipelines(emulator, definition=True))
    first = make().execute(task_context(FakeTaskInstance(task_id="owner")))
    second = make().execute(task_context(FakeTaskInstance(task_id="owner", try_number=2)))
    assert second["pipeline_id"] == first["pipeline_id"]
    assert len(pipelines(emulator, definition=False)) == 1
    assert len(pipelines(emulator, definition=True)) == definitions_before + (operator == "trigger")


def test_settings_reach_an_existing_definition_with_repository_files_and_templated_numbers(
    emulator: EmulatorServer, lineage: dict[str, Any], tmp_path: Any
) -> None:
    definition = trigger_op(datasets=["stats"], run=False).execute(task_context(FakeTaskInstance(task_id="setup")))
    data = tmp_path / "lookup.csv"
    data.write_text("a,b\n")
    op = StudioRunPipelineOperator(
        task_id="run",
        pipeline_name=definition["name"],
        repository="https://github.com/acme/etl",
        python_version="3.12",
        workers="3",  # as a rendered template gives it
        priority="2",
        files=[str(data)],
        credentials_names=["s3-main"],
        poll_interval=0.2,
    )
    for field in ("python_version", "workers", "priority", "repository", "files", "credentials_names"):
        assert field in op.template_fields
    op.execute(task_context())
    (record,) = [item for item in pipelines(emulator, definition=True) if item.id == definition["pipeline_id"]]
    assert (record.repository, record.python_version, record.workers, record.priority) == (
        "https://github.com/acme/etl",
        "3.12",
        3,
        2,
    )
    assert len(record.files) == 1 and record.credentials_names == ["s3-main"]
    uploaded = emulator.state.files[int(record.files[0])]
    assert uploaded.filename == "lookup.csv"
