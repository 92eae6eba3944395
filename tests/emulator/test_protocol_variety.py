"""Protocol shapes the emulator produces only when asked: the rarer job statuses, log ids that are not 1..n,
``log_blobs`` and ``{"message": ...}`` frames on the log WebSocket, and uploads that are not yet processed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM, EMULATOR_TOKEN
from tests.emulator.helpers import client_for, create_job, get_job, simulated_job, wait_for, wait_job

pytestmark = pytest.mark.integration

TEAM = {"team_name": EMULATOR_TEAM}


async def _frames(
    server: EmulatorServer, job_id: str, after_first: Callable[[], object] | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame of a follow session (pings dropped) and the close code; ``after_first`` runs once the
    first frame is in (the session is open), to move the job on from there."""
    url = f"{server.ws_url}/logs/follow/?job_id={job_id}&team_name={EMULATOR_TEAM}"
    frames: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=server.headers()) as socket:
        try:
            while len(frames) < limit:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 20))
                if frame.get("type") != "ping":
                    frames.append(frame)
                if len(frames) == 1 and after_first is not None:
                    after_first()
        except websockets.ConnectionClosed as closed:
            return frames, closed.rcvd.code if closed.rcvd else None
    return frames, None


def _statuses(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["job"]["status"] for frame in frames if "job" in frame]


def _future(hours: float = 1) -> str:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).isoformat()


def test_a_simulated_job_passes_through_provisioning_pending_and_init(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        environment = "\n".join(
            ["STUDIO_EMULATOR_STATUSES=PROVISIONING:0.05,PENDING,INIT:0.05", "STUDIO_EMULATOR_DURATION=0.05"]
        )
        job = create_job(client, EMULATOR_TEAM, "x", environment=environment, start_after=_future())
        assert job["status"] == "SCHEDULED"
        frames, code = asyncio.run(_frames(fresh_emulator, job["id"], lambda: fresh_emulator.advance_clock(7200)))
    assert code == 1000
    assert _statuses(frames) == [
        "SCHEDULED", "CREATED", "QUEUED", "PROVISIONING", "PENDING", "INIT", "RUNNING", "COMPLETE"
    ]
    assert fresh_emulator.state.jobs[job["id"]].history[-6:] == ["QUEUED", "PROVISIONING", "PENDING", "INIT", "RUNNING", "COMPLETE"]


def test_cancelling_a_scheduled_job_shows_canceling_scheduled(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        job = create_job(client, EMULATOR_TEAM, "x", environment="STUDIO_EMULATOR_CANCEL_SECONDS=0.3", start_after=_future())
        cancelled = client.post(f"/datachain/jobs/{job['id']}/cancel", json=TEAM)
        assert cancelled.status_code == 200, cancelled.text
        assert get_job(client, EMULATOR_TEAM, job["id"])["status"] == "CANCELING_SCHEDULED"
        # A second cancel while it is on its way is not an error.
        assert client.post(f"/datachain/jobs/{job['id']}/cancel", json=TEAM).status_code == 200
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "CANCELED"
    assert fresh_emulator.state.jobs[job["id"]].history == ["SCHEDULED", "CANCELING_SCHEDULED", "CANCELED"]


def test_log_ids_can_start_anywhere_and_skip(emulator_client: httpx.Client, studio_emulator: EmulatorServer) -> None:
    job = simulated_job(emulator_client, EMULATOR_TEAM, duration=0.05, log_lines=3, log_id_start=10, log_id_step=5)
    wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    rest = emulator_client.get(f"/datachain/jobs/{job['id']}/logs", params=TEAM).json()["logs"]
    assert [line["id"] for line in rest] == [10, 15, 20]
    frames, _ = asyncio.run(_frames(studio_emulator, job["id"]))
    streamed = [line for frame in frames for line in frame.get("logs", [])]
    assert streamed == rest


def test_older_lines_come_as_blobs_then_later_lines_with_their_ids(
    emulator_client: httpx.Client, studio_emulator: EmulatorServer, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    script = (
        "import os, time\n"
        "for i in range(3): print('early', i, flush=True)\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.02)\n"
        "for i in range(2): print('late', i, flush=True)\n"
    )
    environment = "STUDIO_EMULATOR_LOG_BLOB_LINES=2\nSTUDIO_EMULATOR_LOG_ID_STEP=10"
    job = create_job(emulator_client, EMULATOR_TEAM, script, environment=environment)

    def three_lines() -> bool:
        logs = emulator_client.get(f"/datachain/jobs/{job['id']}/logs", params=TEAM).json()["logs"]
        return len(logs) == 3

    wait_for(three_lines, what="the first three lines")

    frames, code = asyncio.run(_frames(studio_emulator, job["id"], lambda: gate.write_text("go")))
    assert code == 1000
    assert "log_blobs" in frames[0], frames[0]
    urls = frames[0]["log_blobs"]
    assert len(urls) == 2  # three lines, two a blob
    # A plain GET, no Authorization header, as the official client fetches them.
    blobs = [httpx.get(url, timeout=10) for url in urls]
    assert [blob.status_code for blob in blobs] == [200, 200]
    assert "".join(blob.text for blob in blobs) == "early 0\nearly 1\nearly 2\n"
    later = [line for frame in frames for line in frame.get("logs", [])]
    assert later == [{"id": 31, "message": "late 0\n"}, {"id": 41, "message": "late 1\n"}]
    assert _statuses(frames)[-1] == "COMPLETE"
    assert httpx.get(urls[0].rsplit("/", 1)[0] + "/not-a-key", timeout=10).status_code == 404


def test_error_frame_then_close(fresh_emulator: EmulatorServer) -> None:
    fresh_emulator.injector.add_rule(
        "ws_disconnect", path="/api/logs/follow/", after_frames=1, message="log stream failed", count=1
    )
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        job = simulated_job(client, EMULATOR_TEAM, duration=5)
        frames, code = asyncio.run(_frames(fresh_emulator, job["id"]))
        assert code == 1011
        assert frames == [frames[0], {"message": "log stream failed"}] and "job" in frames[0]
        # The rule is spent: the reader's reconnect gets the stream.
        client.post(f"/datachain/jobs/{job['id']}/cancel", json=TEAM)
        again, code = asyncio.run(_frames(fresh_emulator, job["id"]))
        assert code == 1000 and _statuses(again)[-1] == "CANCELED"


def test_upload_states_pending_and_error(fresh_emulator: EmulatorServer) -> None:
    admin = f"{fresh_emulator.url}/_emulator/uploads"
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        def upload() -> dict[str, Any]:
            response = client.post("/datachain/jobs/files", params=TEAM, files={"file": ("a.txt", b"abc")})
            assert response.status_code == 200, response.text
            answer = response.json()
            assert isinstance(answer, dict)
            return answer

        assert httpx.post(admin, json={"state": "pending", "count": 2}, headers=fresh_emulator.headers()).status_code == 200
        first, second, third = upload(), upload(), upload()
        assert [first["state"], second["state"], third["state"]] == ["pending", "pending", "uploaded"]
        assert first["error"] is None and first["size"] == 3
        httpx.post(admin, json={"state": "error", "error": "virus found"}, headers=fresh_emulator.headers())
        failed = upload()
        assert (failed["state"], failed["error"]) == ("error", "virus found")
        assert failed["id"] not in fresh_emulator.state.files
        assert httpx.post(admin, json={"state": "lost"}, headers=fresh_emulator.headers()).status_code == 400


@pytest.mark.parametrize(
    "environment",
    [
        "STUDIO_EMULATOR_STATUSES=RUNNING",
        "STUDIO_EMULATOR_STATUSES=INIT:soon",
        "STUDIO_EMULATOR_LOG_ID_STEP=0",
        "STUDIO_EMULATOR_LOG_ID_START=-1",
        "STUDIO_EMULATOR_LOG_BLOB_LINES=two",
        "STUDIO_EMULATOR_CANCEL_SECONDS=inf",
    ],
)
def test_malformed_emulator_keys_are_400(emulator_client: httpx.Client, environment: str) -> None:
    response = emulator_client.post(
        "/datachain/jobs/",
        json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM,
              "environment": "STUDIO_EMULATOR_EXECUTOR=simulated\n" + environment},
    )
    assert response.status_code == 400, response.text
    assert environment.split("=")[0] in response.json()["message"]
