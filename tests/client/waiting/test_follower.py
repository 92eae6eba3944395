"""The job follower against the emulator over real HTTP and WebSocket sockets, faults included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from studio_provider.client import (
    AsyncStudioClient,
    Job,
    JobStatus,
    LogLine,
    StudioAuthenticationError,
    StudioConfig,
    StudioDeadlineExceeded,
    StudioNotFoundError,
)
from studio_provider.client.waiting import Deadline, LogEvent, StatusEvent, follow_job, websocket_url
from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_TEAM, EMULATOR_TOKEN

pytestmark = pytest.mark.integration

WS_PATH = "/api/logs/follow/"
JOBS_PATH = "/api/datachain/jobs/"
BOUND = 60.0  # every follow in these tests ends well before this


def config_for(server: EmulatorServer, token: str = EMULATOR_TOKEN, team: str = EMULATOR_TEAM) -> StudioConfig:
    # One retry keeps the fault tests quick; the follower, not the transport, rides out outages.
    return StudioConfig.resolve(
        url=server.url, token=token, team=team, environ={}, extras={"max_retries": 1, "timeout": 5}
    )


def simulated(duration: float = 1.0, lines: int = 5, **keys: object) -> str:
    values = {"STUDIO_EMULATOR_DURATION": duration, "STUDIO_EMULATOR_LOG_LINES": lines, **keys}
    return "\n".join(f"{key}={value}" for key, value in values.items())


@dataclass
class Followed:
    lines: list[LogLine] = field(default_factory=list)
    #: When each line arrived (wall clock, as the emulator's ``finished_at``).
    arrived: list[datetime] = field(default_factory=list)
    statuses: list[Job] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [line.message for line in self.lines]

    @property
    def final(self) -> Job:
        return self.statuses[-1]


async def follow(client: AsyncStudioClient, job_id: str, **kwargs: Any) -> Followed:
    seen = Followed()

    async def run() -> None:
        async for event in follow_job(client, job_id, **kwargs):
            if isinstance(event, LogEvent):
                seen.lines.append(event.line)
                seen.arrived.append(datetime.now(timezone.utc))
                seen.order.append("log")
            else:
                assert isinstance(event, StatusEvent)
                seen.statuses.append(event.job)
                seen.order.append("status")

    await asyncio.wait_for(run(), BOUND)
    return seen


@pytest.fixture
def emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_factory(executor="simulated", ws_ping_interval=0.2)


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[AsyncStudioClient]:
    async with AsyncStudioClient(config_for(emulator)) as studio:
        yield studio


async def all_lines(client: AsyncStudioClient, job_id: str) -> list[LogLine]:
    return await client.get_job_logs(job_id=job_id)


def assert_statuses_in_order(statuses: list[Job]) -> None:
    names = [job.status for job in statuses]
    assert len(names) == len(set(names)), f"a status was reported twice: {names}"
    assert names[-1].is_terminal
    assert not any(status.is_terminal for status in names[:-1])


async def test_a_job_is_followed_to_complete_over_the_websocket(
    emulator: EmulatorServer, client: AsyncStudioClient
) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(1.2, 6))
    emulator.injector.reset_observations()

    seen = await follow(client, job.id, deadline=Deadline.after(BOUND))

    # The request budget of a WebSocket wait: one handshake; the stream's last frame has the outcome.
    assert emulator.injector.counters()["total"] == 1
    assert emulator.injector.count("WS", WS_PATH) == 1
    expected = await all_lines(client, job.id)
    assert len(expected) == 6
    assert seen.lines == expected
    assert_statuses_in_order(seen.statuses)
    assert seen.final.status is JobStatus.COMPLETE
    assert seen.final.exit_code == 0
    assert seen.final.finished_at
    assert seen.order[-1] == "status"


async def test_the_final_status_read_fills_the_full_record(
    emulator: EmulatorServer, client: AsyncStudioClient
) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(0.4, 2))
    emulator.injector.reset_observations()

    seen = await follow(client, job.id, final_status_read=True)

    assert seen.final.status is JobStatus.COMPLETE
    assert seen.final.url and job.id in seen.final.url
    assert seen.final.name == job.name
    # Still within the budget of two requests per wait.
    assert emulator.injector.count("WS", WS_PATH) == 1
    assert emulator.injector.count("GET", JOBS_PATH) == 1
    assert emulator.injector.counters()["total"] == 2


async def test_a_failing_job_ends_failed_with_its_exit_code_and_message(client: AsyncStudioClient) -> None:
    env = simulated(0.5, 2, STUDIO_EMULATOR_EXIT_CODE=3, STUDIO_EMULATOR_ERROR_MESSAGE="disk full")
    job = await client.create_job(query="x", query_type="SHELL", environment=env)

    seen = await follow(client, job.id)

    assert (seen.final.status, seen.final.exit_code, seen.final.error_message) == (JobStatus.FAILED, 3, "disk full")
    assert seen.lines == await all_lines(client, job.id)


async def test_a_canceled_job_ends_canceled(client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(30, 30))
    statuses: list[JobStatus] = []

    async def run() -> None:
        canceled = False
        async for event in follow_job(client, job.id):
            if isinstance(event, LogEvent) and not canceled:
                canceled = True
                await client.cancel_job(job_id=job.id)
            if isinstance(event, StatusEvent):
                statuses.append(event.job.status)

    await asyncio.wait_for(run(), BOUND)
    assert statuses[-1] is JobStatus.CANCELED


@pytest.mark.parametrize("mode", ["close", "reset"])
async def test_a_cut_websocket_loses_and_doubles_no_line(
    emulator: EmulatorServer, client: AsyncStudioClient, mode: str
) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(3.0, 12))
    # The job frame, then two log frames; then the socket is cut (once).
    emulator.injector.add_rule("ws_disconnect", path=WS_PATH, after_frames=3, count=1, mode=mode)

    seen = await follow(client, job.id, poll_interval=0.5)

    expected = await all_lines(client, job.id)
    assert len(expected) == 12
    assert seen.lines == expected
    assert seen.final.status is JobStatus.COMPLETE
    assert_statuses_in_order(seen.statuses)
    assert emulator.injector.count("WS", WS_PATH) >= 2  # it reconnected


async def test_a_refused_handshake_falls_back_to_polling(
    emulator: EmulatorServer, client: AsyncStudioClient
) -> None:
    emulator.injector.add_rule("error", method="WS", path=WS_PATH, status=503)
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(1.5, 6))

    seen = await follow(client, job.id, poll_interval=0.2)

    assert seen.lines == await all_lines(client, job.id)
    assert seen.final.status is JobStatus.COMPLETE
    assert emulator.injector.count("WS", WS_PATH, status=101) == 0
    # Lines came over REST while the job ran, not only from the read after it ended.
    assert seen.final.finished_at is not None
    finished = datetime.fromisoformat(seen.final.finished_at.replace("Z", "+00:00"))
    assert sum(arrived < finished for arrived in seen.arrived) >= 2, (seen.arrived, finished)
    assert emulator.injector.count("GET", f"{JOBS_PATH}{job.id}/logs") >= 2


@pytest.mark.parametrize("use_websocket", [True, False])
async def test_a_rejected_token_raises_at_once(emulator: EmulatorServer, use_websocket: bool) -> None:
    job_id = "00000000-0000-0000-0000-000000000001"
    async with AsyncStudioClient(config_for(emulator, token="wrong-T0KEN-value")) as bad:
        with pytest.raises(StudioAuthenticationError) as caught:
            await follow(bad, job_id, use_websocket=use_websocket)
    assert caught.value.status == 401
    assert "wrong-T0KEN-value" not in str(caught.value)
    assert "wrong-T0KEN-value" not in repr(caught.value)


async def test_a_team_the_token_cannot_act_for_is_an_authentication_error(emulator: EmulatorServer) -> None:
    async with AsyncStudioClient(config_for(emulator, team=EMULATOR_OTHER_TEAM)) as other:
        with pytest.raises(StudioAuthenticationError) as caught:
            await follow(other, "some-job")
    assert caught.value.status == 403


@pytest.mark.parametrize("use_websocket", [True, False])
async def test_an_unknown_job_is_not_found(client: AsyncStudioClient, use_websocket: bool) -> None:
    with pytest.raises(StudioNotFoundError) as caught:
        await follow(client, "no-such-job", use_websocket=use_websocket)
    assert "no-such-job" in str(caught.value)


async def test_an_outage_mid_wait_is_survived(emulator: EmulatorServer, client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(2.0, 8))
    # The socket is cut right after the job frame and the first log frame ...
    emulator.injector.add_rule("ws_disconnect", path=WS_PATH, after_frames=2, count=1)
    outage_started = False

    async def run() -> Followed:
        nonlocal outage_started
        seen = Followed()
        async for event in follow_job(client, job.id, poll_interval=0.3):
            if isinstance(event, LogEvent):
                seen.lines.append(event.line)
                if not outage_started:
                    # ... and from then on every request fails for 3 s: reconnects and REST reads alike.
                    emulator.injector.add_rule("outage", seconds=3)
                    outage_started = True
            else:
                seen.statuses.append(event.job)
        return seen

    seen = await asyncio.wait_for(run(), BOUND)

    assert outage_started
    refused = [r for r in emulator.injector.requests() if "outage" in str(r.get("fault"))]
    assert refused, "the outage refused nothing: the test did not test it"
    assert seen.final.status is JobStatus.COMPLETE
    assert seen.lines == await all_lines(client, job.id)
    assert_statuses_in_order(seen.statuses)


@pytest.mark.parametrize("use_websocket", [True, False])
async def test_the_deadline_ends_the_follow(
    emulator: EmulatorServer, client: AsyncStudioClient, use_websocket: bool
) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(60, 2))
    deadline = Deadline.after(1.0)

    with pytest.raises(StudioDeadlineExceeded) as caught:
        await follow(client, job.id, deadline=deadline, use_websocket=use_websocket, poll_interval=10)

    assert deadline.expired
    assert job.id in str(caught.value)
    assert caught.value.deadline == deadline.at
    assert (await client.get_job(job_id=job.id)).status is JobStatus.RUNNING  # the caller decides


async def test_resume_after_a_log_id_skips_earlier_lines(client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(1.0, 6))
    first = await follow(client, job.id)

    resumed = await follow(client, job.id, after_log_id=first.lines[3].id)

    assert resumed.lines == first.lines[4:]
    assert resumed.final.status is JobStatus.COMPLETE
    polled = await follow(client, job.id, after_log_id=first.lines[3].id, use_websocket=False)
    assert polled.lines == first.lines[4:]


async def test_polling_mode_gives_the_same_result(emulator: EmulatorServer, client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(1.0, 5))
    emulator.injector.reset_observations()

    seen = await follow(client, job.id, use_websocket=False, poll_interval=0.2)

    assert seen.lines == await all_lines(client, job.id)
    assert_statuses_in_order(seen.statuses)
    assert seen.final.status is JobStatus.COMPLETE
    assert emulator.injector.count("WS", WS_PATH) == 0


async def test_status_only_follow_reads_no_logs(emulator: EmulatorServer, client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(0.6, 3))

    seen = await follow(client, job.id, with_logs=False)

    assert seen.lines == []
    assert seen.final.status is JobStatus.COMPLETE


async def test_stopping_the_iteration_closes_the_socket(emulator: EmulatorServer, client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(30, 2))
    events = follow_job(client, job.id)
    first = await asyncio.wait_for(events.__anext__(), BOUND)
    assert isinstance(first, StatusEvent)
    await events.aclose()  # type: ignore[attr-defined]

    # The emulator records a WebSocket session when it ends: its pings find the socket closed.
    for _ in range(100):
        if emulator.injector.requests(path=WS_PATH, method="WS"):
            break
        await asyncio.sleep(0.05)
    assert emulator.injector.requests(path=WS_PATH, method="WS")


async def test_a_cancelled_task_closes_the_socket(emulator: EmulatorServer, client: AsyncStudioClient) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(30, 2))
    got_status = asyncio.Event()

    async def consume() -> None:
        async for event in follow_job(client, job.id):
            if isinstance(event, StatusEvent):
                got_status.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(got_status.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if emulator.injector.requests(path=WS_PATH, method="WS"):
            break
        await asyncio.sleep(0.05)
    assert emulator.injector.requests(path=WS_PATH, method="WS")


def test_websocket_url_encodes_the_job_and_team() -> None:
    config = StudioConfig.resolve(url="https://studio.example/", token="t", team="my team&co", environ={})
    assert websocket_url(config, "a/b c") == (
        "wss://studio.example/api/logs/follow/?job_id=a%2Fb+c&team_name=my+team%26co"
    )
    plain = StudioConfig.resolve(url="http://127.0.0.1:1", token="t", team="t", environ={})
    assert websocket_url(plain, "7").startswith("ws://127.0.0.1:1/api/logs/follow/?job_id=7&")


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": 0}, {"poll_interval": -1}, {"after_log_id": "3"}],
)
async def test_bad_arguments_fail_before_any_request(
    emulator: EmulatorServer, client: AsyncStudioClient, kwargs: dict[str, Any]
) -> None:
    emulator.injector.reset_observations()
    with pytest.raises(ValueError) as caught:
        await follow(client, "42", **kwargs)
    assert next(iter(kwargs)) in str(caught.value)
    assert emulator.injector.counters()["total"] == 0


async def test_an_empty_job_id_fails_before_any_request(client: AsyncStudioClient) -> None:
    with pytest.raises(ValueError, match="job_id"):
        await follow(client, " ")


def _json(frame: dict[str, Any]) -> str:
    return json.dumps(frame)
