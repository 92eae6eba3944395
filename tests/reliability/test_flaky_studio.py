"""Scenario 1, a flaky Studio: 20 % of REST calls fail (429 with Retry-After, 500, 502, 503), 5 % of
connections are dropped and log WebSockets are cut every few frames, while 200 job waits run at once in
one event loop through the real trigger (rebuilt from ``serialize()``, as a triggerer does).

Every wait must end with the job's true final status, none may fail because of a transient error, and
every job's log lines must reach the task log exactly once, in order.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from studio_provider.client.waiting import JobWaitResult, WaitEnd
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.triggers.job import StudioJobTrigger
from tests.reliability.helpers import (
    add_token_count,
    captured_logs,
    job_words,
    record,
    request_log,
    simulated_env,
    true_status,
)
from tests.studio_tasks import collect_events, rebuild, studio_lines

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

WAITS = 200
LINES = 8
REST = "/api/datachain/*"


def flaky(server: EmulatorServer) -> None:
    """20 % of REST calls fail (5 % each of 429, 500, 502, 503), 5 % of connections drop, and WebSockets
    are cut after a few frames. A rule fires only when those before it did not, hence the rates."""
    faults = server.injector
    faults.seed(11)
    faults.add_rule("drop", path="*", rate=0.05)
    share = 0.05
    left = 1.0
    for status in (429, 500, 502, 503):
        extra = {"retry_after": 1} if status == 429 else {}
        faults.add_rule("error", path=REST, status=status, rate=share / left, **extra)
        left -= share
    faults.add_rule("ws_disconnect", method="WS", path="/api/logs/follow/*", after_frames=3, rate=0.7)


def test_200_waits_survive_a_flaky_studio(
    rel_emulator: EmulatorServer, rel_connection: str, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = StudioHook()
    rng = random.Random(5)
    expected: dict[str, list[str]] = {}
    for index in range(WAITS):
        failing = index % 5 == 4  # a fifth of the jobs fail: the true status is not always COMPLETE
        words = job_words(f"flaky{index:03d}", LINES)
        env = simulated_env(words, round(rng.uniform(2.0, 5.0), 2), exit_code=3 if failing else 0)
        job = hook.create_job(query="print(1)", environment=env)
        expected[job.id] = words
    hook.close()
    flaky(rel_emulator)

    async def wait_all() -> list[Any]:
        triggers = [
            rebuild(StudioJobTrigger(job_id, poll_interval=0.5, deadline=None)) for job_id in expected
        ]
        return await asyncio.gather(*(collect_events(trigger, timeout=110) for trigger in triggers))

    capsys.readouterr()
    with captured_logs() as logs:
        outcomes = asyncio.run(wait_all())
    rel_emulator.injector.clear()
    output = capsys.readouterr().out + logs.text  # the trigger log goes to stdout, the client's to logging

    results = [JobWaitResult.from_dict(events[0].payload) for events in outcomes]
    assert all(len(events) == 1 for events in outcomes)
    errors = [r for r in results if r.end is not WaitEnd.FINISHED]
    wrong = [r.job_id for r in results if r.end is WaitEnd.FINISHED and r.status != true_status(rel_emulator, r.job_id)]
    lines = {job_id: studio_lines(output, job_id) for job_id in expected}
    lost = sum(len(set(words) - set(lines[job_id])) for job_id, words in expected.items())
    doubled = sum(len(lines[job_id]) - len(set(lines[job_id])) for job_id in expected)
    faulted = [entry for entry in request_log(rel_emulator) if entry.get("fault")]
    record(
        "1 flaky Studio",
        {
            "waits": WAITS,
            "ended with the true status": WAITS - len(errors) - len(wrong),
            "failed by transient errors": len(errors),
            "log lines expected": WAITS * LINES,
            "lost": lost,
            "doubled": doubled,
            "requests": len(request_log(rel_emulator)),
            "faults injected": len(faulted),
        },
    )
    assert not errors, [r.message for r in errors[:5]]
    assert not wrong, wrong[:5]
    assert {r.status for r in results} == {"COMPLETE", "FAILED"}
    assert all(lines[job_id] == words for job_id, words in expected.items()), (lost, doubled)
    assert len(faulted) > WAITS  # the faults really fired, many times
    assert add_token_count("1 flaky Studio", output, request_log(rel_emulator), [r.to_dict() for r in results]) == 0
