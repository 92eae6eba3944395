"""Small helpers for the emulator tests: bounded waits and job shortcuts over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from studio_provider.emulator import EmulatorServer

T = TypeVar("T")

FINISHED = ("COMPLETE", "FAILED", "CANCELED", "TASK")
# Generous: a wait returns as soon as its condition holds; the bound only has to outlast a loaded machine.
MAX_WAIT = 30.0


def wait_for(probe: Callable[[], T | None], timeout: float = MAX_WAIT, interval: float = 0.02, what: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
        time.sleep(interval)


def gated_query(gate: Path, writes: str) -> str:
    """A Python query (for the local executor) that waits for the file ``gate``, then writes ``writes``.

    A job running it stays RUNNING while the gate is closed (the file absent), so a test can act while a
    job surely runs (pause its pipeline) and then let it finish, instead of racing a timer. It gives up
    with exit code 3 after 60 s, so a forgotten gate cannot hang a test.
    """
    return (
        "import os, sys, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit(3)\n"
        "    time.sleep(0.02)\n"
        f"print('::dataset-write {writes}')\n"
    )


def client_for(server: EmulatorServer, token: str | None = None, scheme: str = "Bearer") -> httpx.Client:
    return httpx.Client(base_url=server.api_url, headers=server.headers(token, scheme), timeout=15)


def create_job(client: httpx.Client, team: str, query: str, **fields: Any) -> dict[str, Any]:
    body = {"query": query, "query_type": fields.pop("query_type", "PYTHON"), "team_name": team, **fields}
    response = client.post("/datachain/jobs/", json=body)
    assert response.status_code == 200, response.text
    job = response.json()
    assert isinstance(job, dict)
    return job


def simulated_job(client: httpx.Client, team: str, **env: Any) -> dict[str, Any]:
    """A job forced onto the simulated executor, its behaviour set by ``STUDIO_EMULATOR_*`` keys."""
    lines = ["STUDIO_EMULATOR_EXECUTOR=simulated"] + [f"STUDIO_EMULATOR_{key.upper()}={value}" for key, value in env.items()]
    return create_job(client, team, "print('simulated')", environment="\n".join(lines))


def get_job(client: httpx.Client, team: str, job_id: str) -> dict[str, Any]:
    response = client.get("/datachain/jobs/", params={"team_name": team, "job_id": job_id, "limit": 20})
    assert response.status_code == 200, response.text
    data = response.json()
    assert len(data) == 1, data
    job = data[0]
    assert isinstance(job, dict)
    return job


def wait_job(client: httpx.Client, team: str, job_id: str, statuses: tuple[str, ...] = FINISHED) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``."""

    def probe() -> dict[str, Any] | None:
        job = get_job(client, team, job_id)
        return job if job["status"] in statuses else None

    return wait_for(probe, what=f"job {job_id} to reach {statuses}")
