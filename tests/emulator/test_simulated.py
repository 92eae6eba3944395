"""The simulated executor: timing, outcome and logs from STUDIO_EMULATOR_* keys, and its cost."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM
from tests.emulator.helpers import client_for, create_job, simulated_job, wait_for, wait_job

pytestmark = pytest.mark.integration


def test_a_timed_job_is_running_before_its_duration_and_complete_after(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        started = time.monotonic()
        # 5 s: a window wide enough for a 20 ms poll to see RUNNING even on a loaded 2-core machine.
        job = create_job(client, EMULATOR_TEAM, "ignored", environment="STUDIO_EMULATOR_DURATION=5")
        running = wait_job(client, EMULATOR_TEAM, job["id"], ("RUNNING",))
        assert running["status"] == "RUNNING"
        done = wait_job(client, EMULATOR_TEAM, job["id"])
        elapsed = time.monotonic() - started
    assert done["status"] == "COMPLETE"
    assert done["exit_code"] == 0
    # Never early, as seen by the client; the server's own timestamps say the run lasted its duration.
    # (No upper bound: a loaded machine may lag; what a run costs is measured by `make bench`.)
    assert elapsed >= 5
    ran = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(done["started_at"])
    assert ran.total_seconds() >= 5


def test_exit_code_error_message_and_log_text(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        job = create_job(
            client,
            EMULATOR_TEAM,
            "ignored",
            environment="STUDIO_EMULATOR_DURATION=0.2\nSTUDIO_EMULATOR_EXIT_CODE=7\n"
            "STUDIO_EMULATOR_ERROR_MESSAGE=disk full\nSTUDIO_EMULATOR_LOG_TEXT=first\\nsecond",
        )
        done = wait_job(client, EMULATOR_TEAM, job["id"])
        logs = client.get(f"/datachain/jobs/{job['id']}/logs", params={"team_name": EMULATOR_TEAM}).json()
    assert (done["status"], done["exit_code"], done["error_message"]) == ("FAILED", 7, "disk full")
    assert [line["message"] for line in logs["logs"]] == ["first\n", "second\n"]


def test_generated_log_lines_and_queue_time(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        started = time.monotonic()
        job = simulated_job(client, EMULATOR_TEAM, duration=0.3, log_lines=5, queue_seconds=0.4)
        assert job["status"] == "CREATED"
        done = wait_job(client, EMULATOR_TEAM, job["id"])
        logs = client.get(f"/datachain/jobs/{job['id']}/logs", params={"team_name": EMULATOR_TEAM}).json()["logs"]
        steps = client.get(
            "/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "job_id": job["id"], "include_steps": "true"}
        ).json()[0]["steps"]
    assert time.monotonic() - started >= 0.7
    assert done["status"] == "COMPLETE"
    # The server's own timestamps: queued for the queue time, then running for the duration (never shorter).
    span = {
        step["name"]: datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])
        for step in steps
    }
    assert span["QUEUED"].total_seconds() >= 0.4
    assert span["RUNNING"].total_seconds() >= 0.3
    assert [line["id"] for line in logs] == [1, 2, 3, 4, 5]
    assert logs[0]["message"] == "Simulated log line 1/5\n"


def test_invalid_simulation_key_is_rejected(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        response = client.post(
            "/datachain/jobs/",
            json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "environment": "STUDIO_EMULATOR_DURATION=soon"},
        )
    assert response.status_code == 400
    assert "STUDIO_EMULATOR_DURATION" in response.json()["message"]


def test_cancel_a_simulated_job(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        job = simulated_job(client, EMULATOR_TEAM, duration=30)
        wait_job(client, EMULATOR_TEAM, job["id"], ("RUNNING",))
        response = client.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_TEAM})
        assert response.status_code == 200
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "CANCELED"


def test_a_thousand_jobs_all_complete(emulator_factory: Callable[..., EmulatorServer]) -> None:
    """A functional check at load; what 1000 jobs cost is measured by `make bench`, not asserted here."""
    server = emulator_factory(executor="simulated")
    body = {"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "environment": "STUDIO_EMULATOR_DURATION=1\nSTUDIO_EMULATOR_LOG_LINES=2"}
    with httpx.Client(base_url=server.api_url, headers=server.headers(), timeout=15) as client:
        for _ in range(1000):
            assert client.post("/datachain/jobs/", json=body).status_code == 200

        def all_done() -> bool:
            summary = httpx.get(f"{server.url}/_emulator/state", headers=server.headers()).json()
            return summary["jobs_by_status"].get("COMPLETE", 0) == 1000

        # A generous bound: this checks that they all complete, not how fast (that is `make bench`).
        wait_for(all_done, timeout=90, what="1000 simulated jobs to complete", interval=0.2)
    assert len(server.state.jobs) == 1000
    assert all(len(job.logs) == 2 for job in server.state.jobs.values())


def test_per_job_executor_override_on_a_local_emulator(emulator_client: httpx.Client) -> None:
    # The query would fail if it ran: the simulated executor never runs it.
    job = create_job(
        emulator_client, EMULATOR_TEAM, "raise SystemExit(5)",
        environment="STUDIO_EMULATOR_EXECUTOR=simulated\nSTUDIO_EMULATOR_DURATION=0.05",
    )
    assert wait_job(emulator_client, EMULATOR_TEAM, job["id"])["status"] == "COMPLETE"
