"""A retried ``cancel_job`` whose first attempt took effect is a success, not an error.

The first attempt cancels the job but its answer is lost (``lose_response``); the retry then finds the
job finished and Studio answers 400 "already finished". Against the emulator, over real sockets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import respx

from studio_provider.client import (
    AsyncStudioClient,
    JobStatus,
    StudioClient,
    StudioConfig,
    StudioValidationError,
)
from studio_provider.emulator import EmulatorServer

from .conftest import API, SleepRecorder, make_config, sync_client

CANCEL_ROUTE = "/api/datachain/jobs/*/cancel"
LONG_JOB = {"STUDIO_EMULATOR_DURATION": "60", "STUDIO_EMULATOR_LOG_LINES": "0"}


def client_config(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(
        url=server.url, token=server.token, team=server.team, extras={"max_retries": 2}, environ={}
    )


def lose_the_first_cancel_answer(server: EmulatorServer) -> None:
    rule = {"kind": "lose_response", "method": "POST", "path": CANCEL_ROUTE, "count": 1}
    response = httpx.post(f"{server.url}/_emulator/faults", json=rule, headers=server.headers(), timeout=10)
    assert response.status_code in (200, 201), response.text


def cancel_requests(server: EmulatorServer) -> list[dict[str, object]]:
    response = httpx.get(f"{server.url}/_emulator/requests", headers=server.headers(), timeout=10)
    entries = response.json()
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if e.get("method") == "POST" and str(e.get("path", "")).endswith("/cancel")]


def wait_until_terminal(client: StudioClient, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get_job(job_id=job_id).status
        if status.is_terminal:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_retried_cancel_whose_first_attempt_worked_succeeds(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(executor="simulated")
    with StudioClient(client_config(server)) as client:
        job = client.create_job(query="print(1)", environment=LONG_JOB)
        lose_the_first_cancel_answer(server)
        result = client.cancel_job(job_id=job.id)
        assert wait_until_terminal(client, job.id) is JobStatus.CANCELED
    sent = cancel_requests(server)
    assert [entry["status"] for entry in sent] == [502, 400]  # lost answer, then "already finished"
    assert result["already_done"] is True
    assert "already" in str(result["message"])


async def test_a_retried_cancel_whose_first_attempt_worked_succeeds_async(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(executor="simulated")
    async with AsyncStudioClient(client_config(server)) as client:
        job = await client.create_job(query="print(1)", environment=LONG_JOB)
        lose_the_first_cancel_answer(server)
        result = await client.cancel_job(job_id=job.id)
    assert result["already_done"] is True
    assert [entry["status"] for entry in cancel_requests(server)] == [502, 400]


def test_cancelling_a_finished_job_on_the_first_attempt_is_still_an_error(
    fresh_emulator: EmulatorServer,
) -> None:
    with StudioClient(client_config(fresh_emulator)) as client:
        job = client.create_job(query="print(1)", environment={"STUDIO_EMULATOR_DURATION": "0.1"})
        assert wait_until_terminal(client, job.id) is JobStatus.COMPLETE
        with pytest.raises(StudioValidationError) as info:
            client.cancel_job(job_id=job.id)
    assert info.value.status == 400
    assert "already" in str(info.value)


def test_another_400_after_a_retry_is_still_an_error(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.post(f"{API}/datachain/jobs/j-1/cancel").mock(
        side_effect=[httpx.Response(503), httpx.Response(400, json={"message": "Invalid job id"})]
    )
    with sync_client(router, make_config(max_retries=2)) as client, pytest.raises(StudioValidationError):
        client.cancel_job(job_id="j-1")
    assert route.call_count == 2


def test_a_successful_cancel_returns_the_server_answer(router: respx.MockRouter) -> None:
    router.post(f"{API}/datachain/jobs/j-1/cancel").mock(
        return_value=httpx.Response(200, json={"message": "Successfully canceled"})
    )
    with sync_client(router) as client:
        assert client.cancel_job(job_id="j-1") == {"message": "Successfully canceled"}
