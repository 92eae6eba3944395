"""Scenario 3, a Studio outage: every request (REST and WebSocket) answers 503 for a while.

- A 30 s outage in the middle of 40 waits: every wait resumes and ends with the job's true status and
  all its log lines, once each.
- An outage longer than the task's deadline: the task fails at the deadline with a clear message, and
  the cancel is retried until Studio is back, so the job does not run on unseen.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

from studio_provider.client.waiting import JobWaitResult, WaitEnd
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioDeadlinePassedError
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.triggers.job import StudioJobTrigger
from tests.emulator.helpers import wait_for
from tests.reliability.helpers import (
    add_token_count,
    captured_logs,
    job_words,
    record,
    request_log,
    simulated_env,
    true_status,
)
from tests.studio_tasks import (
    FakeTaskInstance,
    collect_events,
    rebuild,
    run_trigger,
    studio_lines,
    task_context,
)


def request_log_of(server: EmulatorServer, path: str) -> list[dict[str, Any]]:
    return [entry for entry in request_log(server) if entry["path"] == path]


pytestmark = [pytest.mark.reliability, pytest.mark.integration]

WAITS = 40
LINES = 10
OUTAGE = 30.0


def test_every_wait_resumes_after_a_30_second_outage(
    rel_emulator: EmulatorServer, rel_connection: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = StudioHook()
    expected: dict[str, list[str]] = {}
    for index in range(WAITS):
        words = job_words(f"outage{index:02d}", LINES)
        job = hook.create_job(query="print(1)", environment=simulated_env(words, 12 + index % 10))
        expected[job.id] = words
    hook.close()

    async def wait_all() -> list[Any]:
        # Half follow the WebSocket (cut every few frames, so they must reconnect through the outage),
        # half poll REST only.
        triggers = [
            rebuild(StudioJobTrigger(job_id, poll_interval=1.0, use_websocket=index % 2 == 0))
            for index, job_id in enumerate(expected)
        ]
        waits = asyncio.gather(*(collect_events(trigger, timeout=110) for trigger in triggers))
        await asyncio.sleep(2.0)  # the waits are under way, some lines written
        rel_emulator.injector.add_rule("outage", seconds=OUTAGE)
        return await waits

    rel_emulator.injector.add_rule("ws_disconnect", method="WS", path="/api/logs/follow/*", after_frames=3)
    capsys.readouterr()
    started = time.monotonic()
    with captured_logs() as logs:
        outcomes = asyncio.run(wait_all())
    elapsed = time.monotonic() - started
    output = capsys.readouterr().out + logs.text

    results = [JobWaitResult.from_dict(events[0].payload) for events in outcomes]
    refused = [e for e in request_log(rel_emulator) if str(e.get("fault", "")).startswith("outage")]
    lines = {job_id: studio_lines(output, job_id) for job_id in expected}
    record(
        "3 outage of 30 s mid-wait",
        {
            "waits": WAITS,
            "succeeded after the outage": sum(r.end is WaitEnd.FINISHED and r.status == "COMPLETE" for r in results),
            "failed by the outage": sum(r.end is not WaitEnd.FINISHED for r in results),
            "requests refused by the outage": len(refused),
            "log lines lost": sum(len(set(w) - set(lines[j])) for j, w in expected.items()),
            "log lines doubled": sum(len(lines[j]) - len(set(lines[j])) for j in expected),
            "wall seconds": round(elapsed, 1),
        },
    )
    assert elapsed > OUTAGE  # the waits really lived through the outage
    assert refused
    assert all(r.end is WaitEnd.FINISHED and r.status == "COMPLETE" for r in results), [
        r.message for r in results if r.end is not WaitEnd.FINISHED
    ][:3]
    assert all(true_status(rel_emulator, r.job_id) == "COMPLETE" for r in results)
    assert all(lines[job_id] == words for job_id, words in expected.items())
    assert add_token_count("3 outage", output, request_log(rel_emulator)) == 0


def test_an_outage_past_the_deadline_fails_the_task_clearly_and_cancels_the_job_once_studio_is_back(
    rel_emulator: EmulatorServer, rel_connection: str
) -> None:
    operator = StudioRunJobOperator(
        task_id="outage_deadline",
        query="print('long')",
        environment=simulated_env(["long-w01"], 300),
        deferrable=True,
        poll_interval=0.5,
        timeout=4,
    )
    ti = FakeTaskInstance(task_id="outage_deadline")
    context = task_context(ti)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    job_id = ti.xcom["job_id"]
    # Studio goes away for longer than the deadline and longer than the client's own retries (~10 s).
    rel_emulator.injector.add_rule("outage", seconds=20)
    event = run_trigger(deferred.value.trigger, timeout=60)
    assert JobWaitResult.from_dict(event.payload).end is WaitEnd.DEADLINE
    with captured_logs() as logs, pytest.raises(StudioDeadlinePassedError) as failure:
        operator.execute_complete(context, event=event.payload)
    cancels = request_log_of(rel_emulator, f"/api/datachain/jobs/{job_id}/cancel")
    message = str(failure.value)
    status = wait_for(
        lambda: (s := true_status(rel_emulator, job_id)) in ("CANCELED", "CANCELING") and s,
        what="the job to be cancelled",
    )
    record(
        "3 outage past the deadline",
        {"task error": message, "job status": status, "cancel attempts refused": len(cancels) - 1},
    )
    assert "did not finish by its deadline" in message and job_id in message
    # The cancel was refused during the outage (more often than the client's own retries), then went through.
    assert [e["status"] for e in cancels[:-1]] == [503] * (len(cancels) - 1) and len(cancels) > 4
    assert cancels[-1]["status"] == 200
    assert add_token_count("3 outage", logs.text, message, request_log(rel_emulator), ti.xcom) == 0
