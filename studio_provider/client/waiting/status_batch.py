"""Coalesced status reads: one ``list_jobs`` per team, event loop and interval for every polling follow.

Studio has no ``GET /jobs/{id}``, and ``GET datachain/jobs/`` filters by at most one ``job_id``, but it
does filter by several statuses. So instead of one ``get_job`` per waiting job per interval, the polling
follows of one shared client (one loop, one configuration, hence one team) and one interval share a
:class:`StatusBatch`: every interval it lists the team's *active* jobs (every non-terminal status, newest
first) once, and each follow picks its own job out of that answer.

A job missing from the answer is not known to be finished: it may have ended, or the list may have been
cut (Studio documents no maximum ``limit``, and other jobs of the team share the list). The follower then
reads that job on its own, so the answer is only ever used to say "still active, with this record".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field

from ..api import AsyncStudioClient
from ..errors import StudioError, StudioValidationError
from ..models import Job, JobStatus

log = logging.getLogger(__name__)

#: Every status after which a job still changes (the list's ``status`` filter).
ACTIVE_STATUSES: tuple[str, ...] = tuple(
    status.value for status in JobStatus if status is not JobStatus.UNKNOWN and not status.is_terminal
)
#: The largest ``limit`` asked for. Studio documents none; a refused limit is halved (down to Studio's
#: default of 20) and a silently smaller answer only means more jobs are read on their own.
MAX_LIST_LIMIT = 5000
MIN_LIST_LIMIT = 20
#: How long a first read waits for followers starting at the same time to share its round.
EARLY_ROUND_DELAY = 0.2
#: Room in the limit for the team's other active jobs (humans, other triggerers).
LIST_LIMIT_MARGIN = 100


@dataclass(frozen=True)
class Snapshot:
    """One round's answer: the active jobs by id, or ``None`` when the list could not be read."""

    jobs: dict[str, Job] | None
    complete: bool = False

    def active(self, job_id: str) -> Job | None:
        """The job's record when the list shows it still active; ``None``: read it on its own."""
        if self.jobs is None:
            return None
        return self.jobs.get(job_id)


@dataclass
class StatusBatch:
    """The shared poller of one client and interval. Use :func:`status_batch` to get it.

    Members :meth:`join` before waiting on :meth:`next_round` and :meth:`leave` when done; the poll
    loop runs while there are members and stops with the last one.

    :param client: the shared client (its configuration fixes URL, token and team).
    :param interval: seconds between rounds.
    """

    client: AsyncStudioClient
    interval: float
    members: int = 0
    #: The largest limit this batch asks for (lowered when Studio refuses one); default :data:`MAX_LIST_LIMIT`.
    limit_cap: int | None = None
    rounds: int = 0
    #: The next round's answer (a round takes it out when it starts: later callers wait for the next).
    _round: asyncio.Future[Snapshot] | None = None
    _in_flight: asyncio.Future[Snapshot] | None = None
    _early_at: float | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _task: asyncio.Task[None] | None = None
    _disabled: bool = False
    _owner: dict[float, StatusBatch] | None = field(default=None, repr=False)

    def join(self) -> None:
        """Become a member; starts the poll loop if it is not running."""
        self.members += 1
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="studio-status-batch")

    def leave(self) -> None:
        """Stop being a member; the last one out stops the poll loop."""
        self.members = max(0, self.members - 1)
        if self.members == 0:
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = None
            if self._owner is not None and self._owner.get(self.interval) is self:
                del self._owner[self.interval]

    @property
    def running(self) -> bool:
        """Rounds are being taken (members wait on :meth:`next_round` instead of pausing themselves)."""
        return not self._disabled and self._task is not None and not self._task.done()

    async def next_round(self, *, fresh: bool = False) -> Snapshot:
        """Wait for the answer of the next round that starts from now (shared by all members; cancelling
        one wait cancels nothing else). An empty snapshot when no rounds are taken any more.

        :param fresh: do not wait for the cadence: a round starts within :data:`EARLY_ROUND_DELAY` (the
            first read of a follow; followers starting together share that round too).
        """
        if not self.running:
            return Snapshot(None)
        loop = asyncio.get_running_loop()
        if self._round is None:
            self._round = loop.create_future()
        if fresh:
            early = loop.time() + EARLY_ROUND_DELAY
            if self._early_at is None or early < self._early_at:
                self._early_at = early
                self._wake.set()
        return await asyncio.shield(self._round)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval
        try:
            while self.members > 0:
                wake_at = next_at if self._early_at is None else min(next_at, self._early_at)
                self._wake.clear()
                if wake_at > loop.time():
                    # Sleep until the cadence or an early round asked for meanwhile, whichever is first.
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wake_at - loop.time())
                    continue
                if loop.time() >= next_at:
                    next_at += self.interval
                    if loop.time() > next_at:  # a slow round: keep the cadence, skip what was missed
                        next_at = loop.time() + self.interval
                self._early_at = None
                waiting, self._round = self._round, None
                if waiting is None:
                    continue  # nobody waits for this round: no request
                self._in_flight = waiting
                snapshot = await self._list()
                self.rounds += 1
                self._in_flight = None
                if not waiting.done():
                    waiting.set_result(snapshot)
        finally:
            # Members still waiting read their jobs on their own.
            for future in (self._in_flight, self._round):
                if future is not None and not future.done():
                    future.set_result(Snapshot(None))
            self._in_flight = self._round = None

    def _limit(self) -> int:
        cap = MAX_LIST_LIMIT if self.limit_cap is None else self.limit_cap
        return max(MIN_LIST_LIMIT, min(cap, self.members + LIST_LIMIT_MARGIN))

    async def _list(self) -> Snapshot:
        limit = self._limit()
        try:
            jobs = await self.client.list_jobs(status=list(ACTIVE_STATUSES), limit=limit)
        except asyncio.CancelledError:
            raise
        except StudioValidationError as exc:
            # Studio refused the request (a limit above its maximum?): ask for less next time, and give
            # up coalescing once even its default is refused.
            if limit <= MIN_LIST_LIMIT:
                self._disabled = True
                log.warning("Listing active Studio jobs was refused (%s); reading each job on its own.", exc)
            else:
                self.limit_cap = max(MIN_LIST_LIMIT, limit // 2)
                log.info("Listing %d active Studio jobs was refused (%s); asking for fewer.", limit, exc)
            return Snapshot(None)
        except (StudioError, OSError, ValueError) as exc:
            log.info("Listing active Studio jobs failed (%s); each job is read on its own this round.", exc)
            return Snapshot(None)
        active = {job.id: job for job in jobs if job.status.value in ACTIVE_STATUSES}
        return Snapshot(active, complete=len(jobs) < limit)


# client -> {interval -> batch}; a client that is garbage collected takes its batches with it.
_BATCHES: weakref.WeakKeyDictionary[AsyncStudioClient, dict[float, StatusBatch]] = weakref.WeakKeyDictionary()


def status_batch(client: AsyncStudioClient, interval: float) -> StatusBatch:
    """The shared poller of ``client`` (one per loop and configuration) at ``interval`` seconds.

    :param client: the loop's shared client (:func:`~.pool.shared_client`).
    :param interval: seconds between rounds.
    """
    batches = _BATCHES.setdefault(client, {})
    batch = batches.get(float(interval))
    if batch is None:
        batch = StatusBatch(client, float(interval), _owner=batches)
        batches[float(interval)] = batch
    return batch
