"""Scenario 8, team isolation: with two tokens bound to different teams, a connection for team A can
neither see nor cancel team B's jobs, and asking for team B gets a clear 403."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from studio_provider.client import StudioAuthenticationError, StudioNotFoundError
from studio_provider.client.waiting import JobWaitResult, WaitEnd
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.cancel_job import StudioCancelJobOperator
from studio_provider.triggers.job import StudioJobTrigger
from tests.reliability.helpers import (
    OTHER_TEAM,
    OTHER_TOKEN,
    TEAM,
    TOKEN,
    add_token_count,
    record,
    request_log,
    simulated_env,
    true_status,
)
from tests.studio_tasks import FakeTaskInstance, run_trigger, task_context

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def test_team_a_can_neither_see_nor_cancel_team_b_jobs(
    rel_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    studio_connection(rel_emulator, token=OTHER_TOKEN, team=OTHER_TEAM, conn_id="studio_team_b")
    studio_connection(rel_emulator, token=TOKEN, team=TEAM, conn_id="studio_team_a")
    team_b = StudioHook("studio_team_b")
    job = team_b.create_job(query="print('b')", environment=simulated_env(["b-w01"], 120))
    team_a = StudioHook("studio_team_a")
    a_for_b = StudioHook("studio_team_a", team=OTHER_TEAM)

    errors: list[str] = []
    # Within its own team, A does not see B's job at all.
    assert job.id not in {item.id for item in team_a.list_jobs(limit=100)}
    with pytest.raises(StudioNotFoundError) as not_found:
        team_a.get_job(job_id=job.id)
    errors.append(str(not_found.value))
    # Naming team B with A's token: a clear 403, for reads, the cancel, and the log stream.
    for call in (lambda: a_for_b.list_jobs(limit=1), lambda: a_for_b.get_job(job_id=job.id),
                 lambda: a_for_b.cancel_job(job_id=job.id)):
        with pytest.raises(StudioAuthenticationError) as denied:
            call()
        assert denied.value.status == 403
        errors.append(str(denied.value))
    operator = StudioCancelJobOperator(task_id="cancel_b", job_id=job.id, studio_conn_id="studio_team_a", team=OTHER_TEAM)
    with pytest.raises(StudioAuthenticationError) as denied_task:
        operator.execute(task_context(FakeTaskInstance(task_id="cancel_b")))
    errors.append(str(denied_task.value))
    event = run_trigger(StudioJobTrigger(job.id, studio_conn_id="studio_team_a", team=OTHER_TEAM, poll_interval=0.5))
    result = JobWaitResult.from_dict(event.payload)
    errors.append(result.message)
    ok, said = a_for_b.test_connection()
    errors.append(said)

    still = true_status(rel_emulator, job.id)
    record("8 team isolation", {"calls denied": len(errors), "team B job after A's attempts": still, "messages": errors[1:3]})
    assert result.end is WaitEnd.ERROR and "403" in result.message
    assert ".." not in result.message and not re.search(r"https?://\S*[:,.)]\s", result.message), result.message
    assert not ok and "403" in said and OTHER_TEAM in said
    assert still in ("QUEUED", "RUNNING")  # nothing A did reached B's job
    for message in errors[1:4]:
        assert "403" in message and OTHER_TEAM in message, message
    assert add_token_count("8 team isolation", errors, request_log(rel_emulator)) == 0
    team_b.cancel_job(job_id=job.id)
