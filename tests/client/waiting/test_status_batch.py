"""Coalesced status reads of polling follows: one list of active jobs per round, against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from studio_provider.client import AsyncStudioClient, JobStatus, StudioConfig
from studio_provider.client.errors import StudioValidationError
from studio_provider.client.waiting import StatusEvent, follow_job
from studio_provider.client.waiting import status_batch as batch_module
from studio_provider.client.waiting.status_batch import ACTIVE_STATUSES, StatusBatch, status_batch
from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM, EMULATOR_TOKEN

pytestmark = pytest.mark.integration

JOBS_PATH = "/api/datachain/jobs/"
BOUND = 60.0


def simulated(duration: float, lines: int = 2) -> str:
    return f"STUDIO_EMULATOR_DURATION={duration}\nSTUDIO_EMULATOR_LOG_LINES={lines}"


@pytest.fixture
def emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_factory(executor="simulated")


@pytest.fixture
async def client(emulator: EmulatorServer) -> AsyncIterator[AsyncStudioClient]:
    config = StudioConfig.resolve(
        url=emulator.url, token=EMULATOR_TOKEN, team=EMULATOR_TEAM, environ={}, extras={"timeout": 5}
    )
    async with AsyncStudioClient(config) as studio:
        yield studio


async def final_status(client: AsyncStudioClient, job_id: str, **kwargs: Any) -> StatusEvent:
    last: StatusEvent | None = None
    async for event in follow_job(client, job_id, use_websocket=False, **kwargs):
        if isinstance(event, StatusEvent):
            last = event
    assert last is not None
    return last


def reads(emulator: EmulatorServer) -> tuple[list[str], list[str]]:
    """(queries of single-job reads, queries of active-job lists) seen by the emulator."""
    queries = [str(e.get("query") or "") for e in emulator.injector.requests(path=JOBS_PATH, method="GET")]
    singles = [q for q in queries if "job_id=" in q]
    lists = [q for q in queries if "job_id=" not in q]
    return singles, lists


async def test_polling_follows_share_one_list_per_round(
    emulator: EmulatorServer, client: AsyncStudioClient
) -> None:
    durations = [0.5, 0.8, 1.1, 1.4, 1.7, 2.0]
    jobs = [
        await client.create_job(query="x", query_type="SHELL", environment=simulated(d)) for d in durations
    ]
    emulator.injector.reset_observations()

    events = await asyncio.wait_for(
        asyncio.gather(*(final_status(client, job.id, poll_interval=0.3, with_logs=False) for job in jobs)),
        BOUND,
    )

    assert [e.job.status for e in events] == [JobStatus.COMPLETE] * len(jobs)
    assert [e.job.id for e in events] == [job.id for job in jobs]
    singles, lists = reads(emulator)
    # Each job is read on its own exactly once: when it left the active list (it had ended).
    assert len(singles) == len(jobs)
    # Every list asks for the active statuses only, and the rounds are shared: far fewer than a read per
    # job per interval (2.0 s / 0.3 s = 7 rounds for the longest job).
    assert lists and all(q.count("status=") == len(ACTIVE_STATUSES) for q in lists)
    assert len(lists) <= 12
    assert not status_batch(client, 0.3).running  # the last follow out stopped the rounds


async def test_a_cut_list_falls_back_to_reading_each_job(
    emulator: EmulatorServer, client: AsyncStudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lists of at most 2 jobs for 5 waiting follows: most jobs are never in the list.
    monkeypatch.setattr(batch_module, "MAX_LIST_LIMIT", 2)
    monkeypatch.setattr(batch_module, "MIN_LIST_LIMIT", 1)
    monkeypatch.setattr(batch_module, "LIST_LIMIT_MARGIN", 0)
    jobs = [
        await client.create_job(query="x", query_type="SHELL", environment=simulated(0.6 + 0.2 * i, 3))
        for i in range(5)
    ]

    events = await asyncio.wait_for(
        asyncio.gather(*(final_status(client, job.id, poll_interval=0.2) for job in jobs)), BOUND
    )

    for job, event in zip(jobs, events, strict=True):
        assert event.job.id == job.id
        assert event.job.status is JobStatus.COMPLETE
        assert event.job.exit_code == 0
    singles, lists = reads(emulator)
    limits = [int(q.rsplit("limit=", 1)[1]) for q in lists]
    assert limits and max(limits) == 2  # the cap held (fewer once fewer follows are left)
    assert len(singles) > len(jobs)  # the jobs left out were read on their own while they ran


async def test_a_job_that_already_ended_is_seen_at_once(
    emulator: EmulatorServer, client: AsyncStudioClient
) -> None:
    job = await client.create_job(query="x", query_type="SHELL", environment=simulated(0.2))
    await asyncio.wait_for(_until_terminal(client, job.id), BOUND)

    loop = asyncio.get_running_loop()
    started = loop.time()
    event = await asyncio.wait_for(final_status(client, job.id, poll_interval=30.0), BOUND)

    assert event.job.status is JobStatus.COMPLETE
    # An early round, not the 30 s cadence (a generous bound: this is not a speed test).
    assert loop.time() - started < 20.0


async def _until_terminal(client: AsyncStudioClient, job_id: str) -> None:
    while not (await client.get_job(job_id=job_id)).status.is_terminal:
        await asyncio.sleep(0.05)


class _RefusingClient:
    """Stands in for the client: every list is refused with a 400, as a server with a smaller maximum."""

    def __init__(self) -> None:
        self.limits: list[int] = []

    async def list_jobs(self, *, status: list[str], limit: int) -> list[Any]:
        self.limits.append(limit)
        raise StudioValidationError("limit too large", status=400, server_message="limit too large")


async def test_a_refused_limit_is_halved_then_coalescing_stops() -> None:
    refusing = _RefusingClient()
    batch = StatusBatch(refusing, 0.01)  # type: ignore[arg-type]
    for _ in range(300):
        batch.join()
    try:
        snapshots = []
        for _ in range(10):
            if not batch.running:
                break
            snapshots.append(await asyncio.wait_for(batch.next_round(fresh=True), BOUND))
        # Every refused round answers "read it yourself", never a stale or empty list.
        assert all(s.jobs is None for s in snapshots)
        assert refusing.limits[:2] == [400, 200]
        assert refusing.limits[-1] == batch_module.MIN_LIST_LIMIT
        assert not batch.running
        assert (await batch.next_round()).jobs is None  # answered at once, no wait
    finally:
        for _ in range(300):
            batch.leave()
