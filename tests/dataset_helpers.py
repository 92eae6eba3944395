"""Helpers for the dataset tests: dataset versions seeded, or written by simulated jobs, on the emulator."""

from __future__ import annotations

from typing import Any

import httpx

from studio_provider.client import StudioConfig
from studio_provider.emulator import EmulatorServer
from tests.emulator.helpers import client_for, create_job, wait_job


def seed(server: EmulatorServer, name: str, version: str | None = None, **fields: Any) -> dict[str, Any]:
    """A COMPLETE dataset version, through the emulator's admin API."""
    body = {"name": name, "team_name": server.team, **fields}
    if version:
        body["version"] = version
    response = httpx.post(f"{server.url}/_emulator/datasets", json=body, headers=server.headers(), timeout=15)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def run_writer(server: EmulatorServer, writes: str, *, exit_code: int = 0, duration: float = 0.05) -> str:
    """A simulated job that writes ``writes``; waits for it to end and returns its id."""
    env = {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": duration,
        "STUDIO_EMULATOR_WRITES": writes,
        "STUDIO_EMULATOR_EXIT_CODE": exit_code,
    }
    with client_for(server) as client:
        job = create_job(
            client, server.team, "print(1)", environment="\n".join(f"{k}={v}" for k, v in env.items())
        )
        wait_job(client, server.team, job["id"])
    return str(job["id"])


def start_writer(server: EmulatorServer, writes: str, duration: float = 1.0, **env: Any) -> str:
    """A simulated job that writes ``writes`` and ends ``duration`` seconds later (not awaited)."""
    values = {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": duration,
        "STUDIO_EMULATOR_WRITES": writes,
        **env,
    }
    with client_for(server) as client:
        environment = "\n".join(f"{k}={v}" for k, v in values.items())
        return str(create_job(client, server.team, "print(1)", environment=environment)["id"])


def config_for(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(url=server.url, token=server.token, team=server.team, environ={})
