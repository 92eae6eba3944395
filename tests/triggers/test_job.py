"""StudioJobTrigger against the emulator: one final event, primitive serialize(), resume mid-wait,
on_kill, a shared client, and the event payload's checks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from studio_provider.client import JobStatus
from studio_provider.client.pool import shared_client_count
from studio_provider.client.waiting import JobWaitResult, WaitEnd
from studio_provider.compat import trigger_on_kill_supported
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.triggers.job import StudioJobTrigger
from tests.conftest import EMULATOR_TOKEN
from tests.studio_tasks import collect_events, rebuild, run_trigger, studio_lines


def simulated(words: list[str], duration: float, **extra: str) -> dict[str, str]:
    return {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": str(duration),
        "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(words),
        **extra,
    }


def words(count: int) -> list[str]:
    return [f"word-{i:03d}" for i in range(1, count + 1)]


@pytest.fixture
def hook(studio_connection: Callable[..., str], fresh_emulator: EmulatorServer) -> StudioHook:
    studio_connection(fresh_emulator)
    return StudioHook()


def test_serialize_holds_primitives_and_no_token(hook: StudioHook) -> None:
    trigger = StudioJobTrigger("42", deadline=1_800_000_000.5, last_log_id=7, target_statuses=["RUNNING"])
    classpath, kwargs = trigger.serialize()
    assert classpath == "studio_provider.triggers.job.StudioJobTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert EMULATOR_TOKEN not in json.dumps(kwargs)
    assert kwargs["deadline"] == 1_800_000_000.5 and kwargs["last_log_id"] == 7
    assert rebuild(trigger).serialize() == (classpath, kwargs)


def test_one_event_for_a_completed_job_with_its_lines(
    hook: StudioHook, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = words(5)
    job = hook.create_job(query="print(1)", environment=simulated(expected, 0.5))
    # The operator hands over the URL it got at submission; the WebSocket's job frames need not carry it.
    event = run_trigger(StudioJobTrigger(job.id, job_url=job.url, poll_interval=0.3))
    result = JobWaitResult.from_dict(event.payload)
    assert (result.end, result.job_status, result.exit_code) == (WaitEnd.FINISHED, JobStatus.COMPLETE, 0)
    assert result.job_url == job.url and result.last_log_id is not None
    assert studio_lines(capsys.readouterr().out, job.id) == expected


def test_rebuilt_mid_wait_it_resumes_after_the_last_line(
    hook: StudioHook, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = words(20)
    job = hook.create_job(query="print(1)", environment=simulated(expected, 2.0))

    async def scenario() -> list[Any]:
        first = StudioJobTrigger(job.id, poll_interval=0.3)
        runner = asyncio.ensure_future(collect_events(first))
        for _ in range(200):  # until some, not all, lines arrived
            if first.last_log_id is not None and first.last_log_id >= 5:
                break
            await asyncio.sleep(0.02)
        runner.cancel()  # the triggerer stops it (a restart); no event was yielded
        with pytest.raises(asyncio.CancelledError):
            await runner
        assert first.last_log_id is not None and first.last_log_id < 20
        return await collect_events(rebuild(first))

    events = asyncio.run(scenario())
    assert len(events) == 1
    assert JobWaitResult.from_dict(events[0].payload).job_status is JobStatus.COMPLETE
    assert studio_lines(capsys.readouterr().out, job.id) == expected


@pytest.mark.skipif(not trigger_on_kill_supported(), reason="BaseTrigger.on_kill arrived in Airflow 3.3")
def test_on_kill_cancels_the_job(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(["tick"], 60))

    async def scenario() -> None:
        trigger = StudioJobTrigger(job.id, poll_interval=0.3)
        runner = asyncio.ensure_future(collect_events(trigger))
        await asyncio.sleep(0.5)
        runner.cancel()  # the triggerer cancels the run, then calls on_kill (a user marked it failed)
        with pytest.raises(asyncio.CancelledError):
            await runner
        await trigger.on_kill()

    asyncio.run(scenario())
    for _ in range(200):
        if hook.get_job(job_id=job.id).status is JobStatus.CANCELED:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert hook.get_job(job_id=job.id).status is JobStatus.CANCELED


async def run_in_triggerer(trigger: StudioJobTrigger, *, user_action: bool, task_instance: Any = None) -> None:
    """Run the trigger in Airflow's own TriggerRunner.run_trigger, then cancel it the way the triggerer
    does: with the user-action message (mark failed/success, clear) or plainly (a shutdown/move)."""
    from airflow.jobs.triggerer_job_runner import _USER_ACTION_CANCEL_MSG, TriggerRunner

    runner = TriggerRunner()
    runner.triggers[1] = {"name": "studio-test", "events": 0, "task": None, "is_watcher": False}  # type: ignore[typeddict-item]
    task = asyncio.ensure_future(runner.run_trigger(1, trigger))
    runner.triggers[1]["task"] = task
    for _ in range(200):  # until it follows the job (the first log line is in)
        if trigger.last_log_id is not None:
            break
        await asyncio.sleep(0.02)
    if task_instance is not None:
        trigger.task_instance = task_instance  # what a triggerer sets (after the run started: spans read more)
    task.cancel(_USER_ACTION_CANCEL_MSG) if user_action else task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not runner.events  # a cancelled trigger sends no event


@pytest.mark.skipif(not trigger_on_kill_supported(), reason="BaseTrigger.on_kill arrived in Airflow 3.3")
@pytest.mark.parametrize(
    ("user_action", "task_state"),
    [(True, "failed"), (False, "deferred"), (True, "deferred")],
    ids=["marked_failed", "triggerer_restart", "moved_to_another_triggerer"],
)
def test_the_triggerer_cancels_the_job_only_on_a_user_action(
    hook: StudioHook, monkeypatch: pytest.MonkeyPatch, user_action: bool, task_state: str
) -> None:
    monkeypatch.setenv("AIRFLOW_DISABLE_GREENBACK_PORTAL", "true")  # no greenback portal outside a triggerer
    # Airflow 3.3.2 cancels a trigger that moved to another triggerer (this one missed its health check)
    # with the user-action message too; the task instance, still deferred, tells the two apart. Its state
    # comes from Airflow's execution API in a triggerer; here, from this stand-in.
    async def state_of(ti: object) -> str:
        return task_state

    monkeypatch.setattr("studio_provider.triggers.base.atask_instance_state", state_of)
    job = hook.create_job(query="print(1)", environment=simulated(words(60), 30))
    trigger = StudioJobTrigger(job.id, poll_interval=0.3)
    task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    asyncio.run(run_in_triggerer(trigger, user_action=user_action, task_instance=task_instance))
    cancelled = user_action and task_state != "deferred"
    for _ in range(200):
        status = hook.get_job(job_id=job.id).status
        if status is JobStatus.CANCELED or not cancelled:
            break
        time.sleep(0.05)
    if cancelled:
        assert status is JobStatus.CANCELED
    else:
        # Moved or restarted: the job goes on. Wait (bounded) until it wrote more lines after the cancel,
        # which a cancelled job cannot do, then check that it is still running.
        written = len(hook.get_job_logs(job_id=job.id))
        for _ in range(400):
            if len(hook.get_job_logs(job_id=job.id)) >= written + 2:
                break
            time.sleep(0.05)
        assert len(hook.get_job_logs(job_id=job.id)) >= written + 2
        assert not hook.get_job(job_id=job.id).status.is_terminal


def test_cleanup_does_not_cancel(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(["tick"], 3))
    asyncio.run(StudioJobTrigger(job.id).cleanup())
    assert hook.get_job(job_id=job.id).status is not JobStatus.CANCELED


def test_deadline_is_one_event_and_leaves_cancelling_to_the_operator(hook: StudioHook) -> None:
    job = hook.create_job(query="print(1)", environment=simulated(["tick"], 60))
    event = run_trigger(StudioJobTrigger(job.id, deadline=time.time() + 1, poll_interval=0.3))
    result = JobWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.DEADLINE and job.id in result.message
    assert not hook.get_job(job_id=job.id).status.is_terminal


def test_a_refused_token_is_one_error_event(
    studio_connection: Callable[..., str], fresh_emulator: EmulatorServer
) -> None:
    studio_connection(fresh_emulator, token="not-a-token", conn_id="bad_token")
    event = run_trigger(StudioJobTrigger("1", studio_conn_id="bad_token", poll_interval=0.3))
    result = JobWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.ERROR and "401" in result.message
    assert "not-a-token" not in json.dumps(event.payload)


def test_triggers_of_one_connection_share_one_client(hook: StudioHook) -> None:
    jobs = [hook.create_job(query="print(1)", environment=simulated(["x"], 1.0)) for _ in range(5)]
    peak: list[int] = []

    async def scenario() -> list[Any]:
        runs = [
            asyncio.ensure_future(collect_events(StudioJobTrigger(j.id, poll_interval=0.3))) for j in jobs
        ]
        while not all(run.done() for run in runs):  # every turn of the loop until all ended (bounded below)
            peak.append(shared_client_count())
            await asyncio.sleep(0.01)
        return await asyncio.gather(*runs)

    results = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert max(peak) == 1 and peak.count(1) > 0  # never more than one client, however many triggers
    assert [len(events) for events in results] == [1] * 5


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"end": "finished"},
        {"end": "nope", "job_id": "1"},
        {"end": "finished", "job_id": "1", "x": 1},
    ],
)
def test_event_payload_is_checked(payload: Any) -> None:
    with pytest.raises(ValueError):
        JobWaitResult.from_dict(payload)


def test_event_payload_round_trips() -> None:
    result = JobWaitResult(
        end=WaitEnd.FINISHED,
        job_id="7",
        job_url="http://s/jobs/7",
        status="FAILED",
        exit_code=2,
        error_message="boom",
        message="m",
        last_log_id=12,
        deadline=1.5,
    )
    assert JobWaitResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
