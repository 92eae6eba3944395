"""WebSocket log follow (/api/logs/follow/) with a real websockets client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM, EMULATOR_TOKEN
from tests.emulator.helpers import create_job, get_job, simulated_job, wait_for

pytestmark = pytest.mark.integration


def follow_url(server: EmulatorServer, job_id: str, team: str = EMULATOR_TEAM, extra: str = "", slash: bool = True) -> str:
    path = "/logs/follow/" if slash else "/logs/follow"
    return f"{server.ws_url}{path}?job_id={job_id}&team_name={team}{extra}"


Frames = list[dict[str, Any]]


async def collect(
    url: str,
    token: str = EMULATOR_TOKEN,
    scheme: str = "token",
    when: Callable[[Frames], bool] | None = None,
    then: Callable[[], object] | None = None,
) -> tuple[Frames, int | None]:
    """All frames until the server closes, and the close code (bounded: 30 s).

    ``then`` (blocking, run in a thread) is called once, as soon as the frames so far satisfy ``when``:
    that lets a test act at a point of the stream (advance the clock) instead of racing it.
    """

    async def read_all() -> tuple[Frames, int | None]:
        frames: Frames = []
        action = (when, then) if when is not None and then is not None else None
        async with websockets.connect(url, additional_headers={"Authorization": f"{scheme} {token}"}) as socket:
            try:
                while True:
                    frames.append(json.loads(await socket.recv()))
                    if action is not None and action[0](frames):
                        await asyncio.to_thread(action[1])
                        action = None
            except ConnectionClosed:
                pass
            return frames, socket.close_code

    return await asyncio.wait_for(read_all(), timeout=30)


def scheduled_job(server: EmulatorServer, environment: str) -> str:
    """A simulated job that waits (SCHEDULED) until the emulator clock is advanced by an hour."""
    start = datetime.now(timezone.utc) + timedelta(hours=1)
    with httpx.Client(base_url=server.api_url, headers=server.headers()) as client:
        job = create_job(client, EMULATOR_TEAM, "x", environment=environment, start_after=start.isoformat())
    assert job["status"] == "SCHEDULED"
    job_id = job["id"]
    assert isinstance(job_id, str)
    return job_id


def start_scheduled(server: EmulatorServer) -> Callable[[], object]:
    """Advance the clock past every ``scheduled_job``'s start."""
    return lambda: server.advance_clock(2 * 3600)


async def test_follow_from_start_to_terminal_status(fresh_emulator: EmulatorServer) -> None:
    # The reader is connected before the job starts: the clock is advanced once it saw SCHEDULED.
    job_id = await asyncio.to_thread(
        scheduled_job, fresh_emulator, "STUDIO_EMULATOR_DURATION=0.6\nSTUDIO_EMULATOR_LOG_LINES=4"
    )
    frames, code = await collect(
        follow_url(fresh_emulator, job_id), when=lambda frames: len(frames) == 1, then=start_scheduled(fresh_emulator)
    )
    assert code == 1000
    first = frames[0]["job"]
    assert (first["id"], first["status"], first["finished_at"]) == (job_id, "SCHEDULED", None)
    statuses = [frame["job"]["status"] for frame in frames if "job" in frame]
    lines = [line for frame in frames if "logs" in frame for line in frame["logs"]]
    assert statuses[-1] == "COMPLETE"
    assert "RUNNING" in statuses
    assert statuses.index("RUNNING") < statuses.index("COMPLETE")
    assert [line["id"] for line in lines] == [1, 2, 3, 4]
    assert all(line["message"].endswith("\n") for line in lines)
    # The terminal status comes after every log line.
    last_log = max(index for index, frame in enumerate(frames) if "logs" in frame)
    assert last_log < len(frames) - 1 and "job" in frames[-1]
    assert frames[-1]["job"]["exit_code"] == 0


async def test_follow_a_real_process_and_a_failure(studio_emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=studio_emulator.api_url, headers=studio_emulator.headers()) as client:
        job = create_job(client, EMULATOR_TEAM, "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.1)\nraise SystemExit(2)\n")
    frames, code = await collect(follow_url(studio_emulator, job["id"], slash=False), scheme="Bearer")
    assert code == 1000
    messages = [line["message"] for frame in frames if "logs" in frame for line in frame["logs"]]
    assert messages == ["0\n", "1\n", "2\n"]
    final = frames[-1]["job"]
    assert (final["status"], final["exit_code"]) == ("FAILED", 2)


async def test_no_follow_sends_what_exists_and_closes(studio_emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=studio_emulator.api_url, headers=studio_emulator.headers()) as client:
        job = create_job(client, EMULATOR_TEAM, "import time\nprint('early', flush=True)\ntime.sleep(30)\n")
        await asyncio.to_thread(wait_for, lambda: studio_emulator.state.jobs[job["id"]].logs)
        frames, code = await collect(follow_url(studio_emulator, job["id"], extra="&no_follow=true"))
        rest = await asyncio.to_thread(get_job, client, EMULATOR_TEAM, job["id"])
        client.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_TEAM})
    assert code == 1000
    # The job frame says what a REST read of the still-running job says.
    assert rest["status"] == "RUNNING"
    fields = ("id", "status", "exit_code", "error_message", "finished_at")
    assert frames == [
        {"logs": [{"id": 1, "message": "early\n"}]},
        {"job": {key: rest[key] for key in fields}},
    ]


async def test_pings_while_nothing_happens(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(executor="simulated", ws_ping_interval=0.1)
    # Nothing happens to a SCHEDULED job until the clock moves: the clock is advanced after two pings.
    job_id = await asyncio.to_thread(scheduled_job, server, "STUDIO_EMULATOR_DURATION=0.05\nSTUDIO_EMULATOR_LOG_LINES=0")

    def two_pings(frames: Frames) -> bool:
        return sum(1 for frame in frames if frame == {"type": "ping"}) == 2

    frames, code = await collect(follow_url(server, job_id), when=two_pings, then=start_scheduled(server))
    assert code == 1000
    assert frames[:3] == [frames[0], {"type": "ping"}, {"type": "ping"}]
    assert frames[0]["job"]["status"] == "SCHEDULED"
    assert frames[-1]["job"]["status"] == "COMPLETE"


@pytest.mark.parametrize(
    ("token", "team", "status"),
    [
        ("wrong-token", EMULATOR_TEAM, 401),
        (EMULATOR_TOKEN, EMULATOR_OTHER_TEAM, 403),
        (EMULATOR_OTHER_TOKEN, EMULATOR_OTHER_TEAM, 404),
    ],
)
async def test_handshake_is_rejected_with_http_status(
    studio_emulator: EmulatorServer, token: str, team: str, status: int
) -> None:
    with httpx.Client(base_url=studio_emulator.api_url, headers=studio_emulator.headers()) as client:
        job = simulated_job(client, EMULATOR_TEAM, duration=0.01)
    with pytest.raises(InvalidStatus) as caught:
        await collect(follow_url(studio_emulator, job["id"], team=team), token=token)
    assert caught.value.response.status_code == status


async def test_handshake_without_token_is_401(studio_emulator: EmulatorServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(follow_url(studio_emulator, "anything")):
            pass
    assert caught.value.response.status_code == 401
