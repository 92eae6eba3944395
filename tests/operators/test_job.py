"""StudioRunJobOperator and StudioCancelJobOperator against the emulator, over real HTTP and WebSocket.

Jobs use the emulator's simulated executor (timers, no processes): ``STUDIO_EMULATOR_LOG_TEXT`` gives the
log lines (one distinct word each, so the task log can be checked line by line), and
``STUDIO_EMULATOR_DURATION`` how long they run.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from studio_provider.client import JobStatus
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioDeadlinePassedError, StudioJobFailedError
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.cancel_job import StudioCancelJobOperator
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.submission import marker_for, with_marker
from tests.studio_tasks import (
    AirflowFailException,
    DictStateStore,
    FakeTaskInstance,
    TaskDeferred,
    jobs_of,
    marker_of,
    run_deferred,
    run_trigger,
    studio_line_times,
    studio_lines,
    task_context,
)


def lines_env(words: list[str], duration: float = 1.0, **extra: str) -> dict[str, str]:
    return {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": str(duration),
        "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(words),
        **extra,
    }


def words(count: int, prefix: str = "line") -> list[str]:
    return [f"{prefix}-{i:03d}" for i in range(1, count + 1)]


@pytest.fixture
def hook(emulator: EmulatorServer) -> StudioHook:
    return StudioHook()


def run_op(**kwargs: Any) -> StudioRunJobOperator:
    kwargs.setdefault("task_id", "studio_task")
    kwargs.setdefault("poll_interval", 0.3)
    return StudioRunJobOperator(**kwargs)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_success_writes_every_log_line_once_and_returns_the_summary(
    hook: StudioHook, capsys: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    expected = words(8)
    env = lines_env(expected, STUDIO_EMULATOR_WRITES="@acme.vision.thumbs")
    ti = FakeTaskInstance()
    op = run_op(query="print('hi')", query_name="etl.py", environment=env, deferrable=deferrable)
    context = task_context(ti)

    result = run_deferred(op, context) if deferrable else op.execute(context)

    job_id = ti.xcom["job_id"]
    assert ti.xcom["job_url"] and job_id in ti.xcom["job_url"]
    assert result["job_id"] == job_id and result["job_url"] == ti.xcom["job_url"]
    assert result["status"] == "COMPLETE" and result["exit_code"] == 0
    assert result["duration_seconds"] is not None and result["duration_seconds"] >= 0
    assert result["dataset_versions"] == [{"dataset_name": "thumbs", "version": "1.0.0"}]
    assert studio_lines(capsys.readouterr().out, job_id) == expected
    (job,) = jobs_of(hook, ti)
    assert job.id == job_id and job.name.startswith("etl.py [airflow:")


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_failure_names_exit_code_message_and_url(hook: StudioHook, deferrable: bool) -> None:
    env = lines_env(
        ["starting"], 0.3, STUDIO_EMULATOR_EXIT_CODE="3", STUDIO_EMULATOR_ERROR_MESSAGE="disk is full"
    )
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=env, deferrable=deferrable)
    context = task_context(ti)
    with pytest.raises(StudioJobFailedError) as failure:
        run_deferred(op, context) if deferrable else op.execute(context)
    text = str(failure.value)
    assert "FAILED" in text and "exit code 3" in text and "disk is full" in text
    assert ti.xcom["job_url"] in text and failure.value.remote_id == ti.xcom["job_id"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_deadline_cancels_the_job_and_fails_naming_it(hook: StudioHook, deferrable: bool) -> None:
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=lines_env(["tick"], 60), timeout=1.5, deferrable=deferrable)
    context = task_context(ti)
    with pytest.raises(StudioDeadlinePassedError) as failure:
        run_deferred(op, context) if deferrable else op.execute(context)
    job_id = ti.xcom["job_id"]
    text = str(failure.value)
    assert job_id in text and ti.xcom["job_url"] in text and "deadline" in text and "cancelled" in text
    deadline = time.monotonic() + 20
    while (status := hook.get_job(job_id=job_id).status) is not JobStatus.CANCELED:
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(0.1)


def test_websocket_cut_mid_run_loses_and_doubles_no_line(
    hook: StudioHook, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = words(30)
    # Cut after 3 frames: a loaded emulator may batch many lines into one frame, and a cut that never
    # happens proves nothing. The first frames (statuses, first lines) always come before the job ends.
    emulator.injector.add_rule("ws_disconnect", path="/api/logs/follow/", after_frames=3, count=2)
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=lines_env(expected, 3.0), deferrable=True)
    run_deferred(op, task_context(ti))
    seen = studio_lines(capsys.readouterr().out, ti.xcom["job_id"])
    print(f"WebSocket cut: expected {len(expected)} lines, seen {len(seen)}")
    assert seen == expected
    assert emulator.injector.count("WS", "/api/logs/follow/") >= 2  # it reconnected


def test_refused_handshake_falls_back_to_polling(
    hook: StudioHook, emulator: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = words(12)
    emulator.injector.add_rule("error", method="WS", path="/api/logs/follow/", status=503)
    ti = FakeTaskInstance()
    op = run_op(
        query="print(1)", environment=lines_env(expected, 3.0), deferrable=False, poll_interval=0.3
    )
    assert op.execute(task_context(ti))["status"] == "COMPLETE"
    output = capsys.readouterr().out
    seen = studio_lines(output, ti.xcom["job_id"])
    print(f"Refused handshake: expected {len(expected)} lines, seen {len(seen)}")
    assert seen == expected
    # The lines came over REST while the job ran, not only from the read after it ended.
    finished = hook.get_job(job_id=ti.xcom["job_id"]).finished_at
    assert finished is not None
    ended = datetime.fromisoformat(finished.replace("Z", "+00:00"))
    written = studio_line_times(output, ti.xcom["job_id"])
    assert len(written) == len(expected)
    assert sum(when < ended for when in written) >= 2, (written, ended)


def test_ten_second_outage_mid_wait_is_survived(hook: StudioHook, emulator: EmulatorServer) -> None:
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=lines_env(words(4), 3.0), deferrable=False, poll_interval=0.5)
    context = task_context(ti)
    stop = threading.Event()

    def outage_once_submitted() -> None:
        # Mid-wait, not mid-submit (a lost submission is another test's subject): bounded to 30 s.
        for _ in range(300):
            created = emulator.injector.requests(path="/api/datachain/jobs/", method="POST")
            if any(entry["status"] < 300 for entry in created) or stop.wait(0.1):
                break
        if not stop.wait(0.5):
            emulator.injector.add_rule("outage", seconds=10)

    starter = threading.Thread(target=outage_once_submitted, daemon=True)
    starter.start()
    try:
        result = op.execute(context)
    finally:
        stop.set()
        starter.join(timeout=5)
    assert result["status"] == "COMPLETE"
    assert any(entry["status"] == 503 for entry in emulator.injector.requests(limit=10_000))


def test_an_outage_while_the_task_resumes_does_not_fail_a_completed_job(emulator: EmulatorServer) -> None:
    # The job completed and the trigger said so; Studio is down when the task reads the final job
    # (longer than the client's own request retries): the read waits the outage out.
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=lines_env(words(1), 0.1), deferrable=True, poll_interval=0.5)
    context = task_context(ti)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    event = run_trigger(deferred.value.trigger, 60.0)
    emulator.injector.add_rule("outage", seconds=12)
    result = op.resume_execution(deferred.value.method_name, {"event": event.payload}, context)
    assert result["status"] == "COMPLETE" and result["job_id"] == ti.xcom["job_id"]
    assert any(entry["status"] == 503 for entry in emulator.injector.requests(limit=10_000))


@pytest.mark.parametrize("with_store", [True, False], ids=["task_state_store", "marker_only"])
def test_retry_after_a_worker_crash_reconnects_to_the_same_job(hook: StudioHook, with_store: bool) -> None:
    ti = FakeTaskInstance(run_id=f"crash-{with_store}")
    store = DictStateStore() if with_store else None
    env = lines_env(words(3), 2.0)
    # Try 1 submits and defers; the worker "crashes" (the trigger never runs).
    with pytest.raises(TaskDeferred):
        run_op(query="print(1)", environment=env, deferrable=True).execute(task_context(ti, store))
    first_job = ti.xcom["job_id"]
    # Try 2, on another worker, waits on the worker.
    ti.try_number = 2
    result = run_op(query="print(1)", environment=env, deferrable=False).execute(task_context(ti, store))
    jobs = jobs_of(hook, ti)
    print(f"Jobs found after the crash-and-retry test ({'store' if with_store else 'marker'}): {len(jobs)}")
    assert [job.id for job in jobs] == [first_job] and result["job_id"] == first_job
    # Try 3 (a clear after success) returns the completed job without a new one.
    ti.try_number = 3
    again = run_op(query="print(1)", environment=env).execute(task_context(ti, store))
    assert again["job_id"] == first_job and len(jobs_of(hook, ti)) == 1


def test_lost_create_response_still_makes_one_job(hook: StudioHook, emulator: EmulatorServer) -> None:
    emulator.injector.add_rule("lose_response", method="POST", path="/api/datachain/jobs/", count=1)
    ti = FakeTaskInstance()
    result = run_op(query="print(1)", environment=lines_env(words(2), 0.3)).execute(task_context(ti))
    jobs = jobs_of(hook, ti)
    print(f"Jobs found after the lost-response test: {len(jobs)}")
    assert [job.id for job in jobs] == [result["job_id"]]
    assert emulator.injector.count("POST", "/api/datachain/jobs/", status=502) == 1


def test_uploads_files_and_reads_query_file(hook: StudioHook, tmp_path: Path) -> None:
    script = tmp_path / "step.sh"
    script.write_text("echo hi\n")
    data = tmp_path / "input.csv"
    data.write_text("a,b\n")
    ti = FakeTaskInstance()
    op = run_op(query_file=str(script), files=[str(data)], environment=lines_env(["ok"], 0.2))
    result = op.execute(task_context(ti))
    job = hook.get_job(job_id=result["job_id"])
    assert job.raw["query_type"] == "SHELL" and job.raw["query"] == "echo hi\n"
    assert job.name.startswith("step.sh [airflow:") and len(job.raw["files"]) == 1


def test_cron_job_is_one_recurring_task_per_airflow_task(hook: StudioHook) -> None:
    """Every DAG run executes the task; it keeps one recurring Studio task, replacing it only when its
    settings change (and the first run starts from now, as the CLI does)."""
    runs = [FakeTaskInstance(run_id=f"scheduled__2026-12-0{day}T00:00:00+00:00") for day in (1, 2, 3)]
    first = run_op(query="print(1)", cron_expression="0 3 * * *").execute(task_context(runs[0]))
    assert first["status"] == "TASK" and first["dataset_versions"] == []
    assert hook.get_job(job_id=first["job_id"]).raw.get("start_after")  # defaults to now
    again = run_op(query="print(1)", cron_expression="0 3 * * *").execute(task_context(runs[1]))
    assert again["job_id"] == first["job_id"]
    changed = run_op(query="print(2)", cron_expression="0 3 * * *").execute(task_context(runs[2]))
    assert changed["job_id"] != first["job_id"]
    assert hook.get_job(job_id=first["job_id"]).status is JobStatus.CANCELED
    recurring = [job for job in hook.list_jobs(limit=100) if job.status is JobStatus.TASK]
    assert [job.id for job in recurring] == [changed["job_id"]]


def test_on_kill_cancels_the_job_waited_on_the_worker(hook: StudioHook) -> None:
    ti = FakeTaskInstance()
    op = run_op(query="print(1)", environment=lines_env(["tick"], 60), deferrable=False)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(task_context(ti))
        except BaseException as exc:  # the job ends CANCELED: the task fails
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while not op._waiting:
        assert time.monotonic() < deadline, "the operator never started waiting"
        time.sleep(0.05)
    op.on_kill()
    worker.join(30)
    assert not worker.is_alive()
    assert hook.get_job(job_id=ti.xcom["job_id"]).status is JobStatus.CANCELED
    assert errors and "CANCELED" in str(errors[0])


def test_cancel_operator_cancels_waits_and_accepts_a_finished_job(
    hook: StudioHook, capsys: pytest.CaptureFixture[str]
) -> None:
    job = hook.create_job(query="print(1)", environment=lines_env(["tick"], 60))
    ti = FakeTaskInstance(task_id="cancel")
    cancel = StudioCancelJobOperator(
        task_id="cancel", job_id=job.id, wait_for_completion=True, poll_interval=0.2
    )
    assert cancel.execute(task_context(ti)) == "CANCELED"
    assert hook.get_job(job_id=job.id).status is JobStatus.CANCELED
    # Cancelling it again is not an error, and says so.
    assert cancel.execute(task_context(ti)) == "CANCELED"
    assert "already finished" in capsys.readouterr().out


BAD_INIT = [
    ({"compute_cluster_name": "large", "compute_cluster_id": 2}, "mutually exclusive"),
    ({"priority": 7}, "priority"),
    ({"workers": 0}, "workers"),
    ({"query_type": "RUBY"}, "query_type"),
    ({"query": None}, "query_file"),
    ({"query_file": "x.py"}, "mutually exclusive"),
    ({"poll_interval": 0}, "poll_interval"),
    ({"timeout": -1}, "timeout"),
]


@pytest.mark.parametrize(("overrides", "names"), BAD_INIT, ids=[str(k) for k, _ in BAD_INIT])
def test_bad_input_is_refused_when_the_dag_is_built(overrides: dict[str, Any], names: str) -> None:
    arguments: dict[str, Any] = {"task_id": "t", "query": "print(1)", **overrides}
    with pytest.raises(ValueError, match=names):
        StudioRunJobOperator(**arguments)


BAD_EXECUTE = [
    ({"cron_expression": "61 * * * *"}, "cron_expression"),
    ({"query": "   "}, "query"),
    ({"query": None, "query_file": "/nonexistent/job.py"}, "query_file"),
    ({"files": ["/nonexistent/data.csv"]}, "files"),
    ({"environment": {"A=B": "1"}}, "environment"),
    ({"start_after": "tomorrow-ish"}, "start_after"),
]


@pytest.mark.parametrize(("overrides", "names"), BAD_EXECUTE, ids=[str(k) for k, _ in BAD_EXECUTE])
def test_bad_rendered_input_fails_before_any_request(
    emulator: EmulatorServer, overrides: dict[str, Any], names: str
) -> None:
    emulator.injector.reset_observations()
    op = StudioRunJobOperator(**{"task_id": "t", "query": "print(1)", **overrides})
    with pytest.raises(ValueError, match=names) as info:
        op.execute(task_context())
    assert emulator.injector.counters()["total"] == 0
    # Retrying cannot fix a wrong parameter: Airflow fails the task without its retries.
    assert isinstance(info.value, AirflowFailException)


# ---- retries, deadlines and ownership ------------------------------------------------------------


@pytest.mark.parametrize("from_checkpoint", [True, False], ids=["continues", "starts-over"])
def test_a_retry_after_a_failed_job_continues_from_its_checkpoints(
    hook: StudioHook, capsys: pytest.CaptureFixture[str], from_checkpoint: bool
) -> None:
    env = lines_env(["starting"], 0.2, STUDIO_EMULATOR_EXIT_CODE="1")
    ti, store = FakeTaskInstance(run_id=f"checkpoint-{from_checkpoint}"), DictStateStore()
    op_args = {"query": "print(1)", "environment": env, "retry_from_checkpoint": from_checkpoint}
    with pytest.raises(StudioJobFailedError):
        run_op(**op_args).execute(task_context(ti, store))
    failed = ti.xcom["job_id"]
    ti.try_number = 2
    with pytest.raises(StudioJobFailedError):
        run_op(**op_args).execute(task_context(ti, store))
    retried = ti.xcom["job_id"]
    assert retried != failed
    continued = hook.get_job(job_id=retried).raw.get("rerun_from_job_id")
    said = f"Continuing from Studio job {failed}" in capsys.readouterr().out
    assert (continued, said) == ((failed, True) if from_checkpoint else (None, False))


def test_execution_timeout_bounds_a_deferred_wait_and_cancels_the_job(hook: StudioHook) -> None:
    ti = FakeTaskInstance()
    op = run_op(
        query="print(1)",
        environment=lines_env(["tick"], 60),
        execution_timeout=timedelta(seconds=1.5),
        deferrable=True,
    )
    with pytest.raises(StudioDeadlinePassedError) as failure:
        run_deferred(op, task_context(ti))
    assert "execution_timeout" in str(failure.value)
    deadline = time.monotonic() + 20
    while (status := hook.get_job(job_id=ti.xcom["job_id"]).status) is not JobStatus.CANCELED:
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(0.1)


def test_the_earlier_of_timeout_and_execution_timeout_wins() -> None:
    context = task_context()
    both = run_op(query="print(1)", timeout=3600, execution_timeout=timedelta(seconds=60))
    bound = both.deadline(context, created=True)
    assert bound.at is not None and bound.at - time.time() < 61 and both.deadline_source() == "execution_timeout"
    shorter = run_op(query="print(1)", timeout=30, execution_timeout=timedelta(hours=1))
    bound = shorter.deadline(context, created=True)
    assert bound.at is not None and bound.at - time.time() < 31 and shorter.deadline_source() == "timeout"


def test_a_first_try_adopts_no_job_planted_under_its_name(hook: StudioHook) -> None:
    """Another member of the team cannot compute the marker (it is keyed with the connection's token), and
    a first try looks nothing up: even a job bearing the exact marker is not adopted."""
    ti = FakeTaskInstance(run_id="planted")
    env = lines_env(["ok"], 0.1)
    guessed = marker_for("another-members-token", ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
    assert guessed != marker_of(ti)
    planted = [
        hook.create_job(query="print('planted')", query_name=with_marker("etl.py", mark), environment=env)
        for mark in (guessed, marker_of(ti))
    ]
    result = run_op(query="print(1)", query_name="etl.py", environment=env).execute(task_context(ti))
    assert result["job_id"] not in {job.id for job in planted}
    # A retry (no state store: Airflow before 3.3) still never takes the guessed one.
    ti.try_number = 2
    again = run_op(query="print(1)", query_name="etl.py", environment=env).execute(task_context(ti))
    assert again["job_id"] != planted[0].id


def test_the_result_and_the_failure_carry_what_studio_returns(hook: StudioHook) -> None:
    completed = run_op(
        query="print(1)",
        environment=lines_env(
            ["ok"], 0.1, STUDIO_EMULATOR_METRICS='{"rows": 42}', STUDIO_EMULATOR_PARAMS='{"limit": "10"}'
        ),
    ).execute(task_context())
    assert completed["metrics"] == {"rows": 42} and completed["params"] == {"limit": "10"}
    env = lines_env(
        ["starting"],
        0.1,
        STUDIO_EMULATOR_EXIT_CODE="3",
        STUDIO_EMULATOR_ERROR_MESSAGE="disk is full",
        STUDIO_EMULATOR_ERROR_STACK="Traceback\\n  OSError: disk is full",
        STUDIO_EMULATOR_METRICS='{"rows": 7}',
    )
    with pytest.raises(StudioJobFailedError) as failure:
        run_op(query="print(1)", environment=env).execute(task_context(FakeTaskInstance(run_id="fails")))
    error = failure.value
    assert error.exit_code == 3 and error.error_message == "disk is full"
    assert error.error_stack == "Traceback\n  OSError: disk is full"
    assert error.metrics == {"rows": 7} and error.params == {}


def test_a_retry_that_finds_the_job_completed_shows_its_log(
    hook: StudioHook, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker died and the job completed before the retry started: the retry's own task log still
    shows every line of the job (each try has its own log)."""
    expected = words(5)
    ti, store = FakeTaskInstance(run_id="completed-meanwhile"), DictStateStore()
    with pytest.raises(TaskDeferred):  # try 1 defers; its trigger never runs (the worker died)
        run_op(query="print(1)", environment=lines_env(expected, 0.3), deferrable=True).execute(
            task_context(ti, store)
        )
    job_id = ti.xcom["job_id"]
    deadline = time.monotonic() + 20
    while hook.get_job(job_id=job_id).status is not JobStatus.COMPLETE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    capsys.readouterr()
    ti.try_number = 2
    result = run_op(query="print(1)", environment=lines_env(expected, 0.3)).execute(task_context(ti, store))
    assert result["job_id"] == job_id and result["status"] == "COMPLETE"
    assert studio_lines(capsys.readouterr().out, job_id) == expected
