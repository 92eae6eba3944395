"""Follow a Studio job until it ends: its log lines and status changes, over the WebSocket or REST.

:func:`follow_job` (a :class:`JobFollower`) is what every job wait iterates:

- it streams ``logs/follow/`` (the API URL with ``http`` → ``ws``, the REST ``Authorization`` header,
  ``job_id`` and ``team_name`` URL-encoded) through :mod:`.socket`, ignoring keep-alives, reading
  ``log_blobs`` through :mod:`.blobs`, and ignoring frames that name another job;
- it yields each log line once, in order (de-duplicated by id), and each status change;
- when the socket is refused, cut, or silent for :data:`SILENCE_TIMEOUT` seconds (Studio sends a
  keep-alive every 30 s, so that many means a dead or stuck connection), it reads the job over REST,
  reconnects with :data:`~..retry.RECONNECT_BACKOFF`, and polls ``get_job`` + ``get_job_logs`` while
  the socket is unavailable;
- it survives transient failures (5xx, 429, resets, outages) until the caller's deadline;
- it ends with the terminal :class:`StatusEvent`, or raises :class:`~..errors.StudioDeadlineExceeded`,
  :class:`~..errors.StudioAuthenticationError` or :class:`~..errors.StudioNotFoundError`.

**An unknown status** (a name this provider does not know) is not terminal: the job is still in
progress as far as the follower can tell, and waiting goes on (the pipeline wait treats an unknown run
status the same way). It is never taken for success.

In the steady state a WebSocket follow sends no REST request at all: one handshake, then at most one
final status read once the socket reported the end (only when the stream's record lacks the outcome,
unless asked for).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..api import AsyncStudioClient
from ..config import StudioConfig
from ..errors import StudioAuthenticationError, StudioError, StudioNotFoundError
from ..models import Job, JobStatus, LogLine
from ..redaction import scrub
from ..responses import sentence
from ..retry import RECONNECT_BACKOFF, is_transient
from ..tls import ssl_context
from .blobs import fetch_blob_lines
from .deadline import Deadline
from .frames import Frame, RawLine, is_keepalive, read_frame
from .socket import LogStream, Opener, open_lean_socket, open_stock_socket, proxied
from .status_batch import StatusBatch, status_batch

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds to wait for the closing handshake when the consumer stops.
WS_CLOSE_TIMEOUT = 2.0
#: Seconds without anything at all on an open log socket (Studio's keep-alives come every 30 s) after
#: which the follower reads the job over REST and reconnects.
SILENCE_TIMEOUT = 3 * 30.0
#: Attempts at reading the logs of a finished job over REST before giving up on them.
FINAL_LOG_ATTEMPTS = 5
#: Log blobs read per follow at most.
MAX_BLOBS = 1000
#: A message at least this large is decoded in a worker thread, off the (shared) event loop.
DECODE_IN_THREAD = 256 * 1024
#: Statuses of a job that has not started: polling skips its log read (the lines are read later, by id).
NOT_STARTED = frozenset(
    {JobStatus.CREATED, JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.PROVISIONING}
)


@dataclass(frozen=True)
class LogEvent:
    """One new log line of the job (each line once, in order).

    Lines that come without an id (a plain-text log blob, a ``{"type": "log"}`` frame) carry the id of
    the last identified line before them, so ``line.id`` is always a safe resume point.
    """

    line: LogLine


@dataclass(frozen=True)
class StatusEvent:
    """The job's status: the first one seen, then each change. The last one is terminal."""

    job: Job


FollowEvent = LogEvent | StatusEvent


def websocket_url(config: StudioConfig, job_id: str) -> str:
    """The ``logs/follow/`` URL of a job: the API URL with ``ws``/``wss``, ``job_id`` and ``team_name``.

    :param config: the client configuration (URL and team).
    :param job_id: the job to follow.
    """
    query = urlencode({"job_id": str(job_id), "team_name": config.team})
    return f"{config.websocket_url}/logs/follow/?{query}"


async def open_log_stream(url: str, config: StudioConfig, open_timeout: float, opener: Opener | None = None) -> LogStream:
    """Open the log socket of ``url``: the lean socket, or ``websockets``' client through a proxy.

    :param url: the ``logs/follow/`` URL.
    :param config: the connection (token, TLS settings).
    :param open_timeout: seconds for the whole handshake.
    :param opener: open with this instead (the benchmark's stock design).
    """
    chosen = opener or (open_stock_socket if proxied(url) else open_lean_socket)
    stream: LogStream = await chosen(
        url,
        headers={"Authorization": config.authorization},
        ssl=ssl_context(config.verify) if url.startswith("wss:") else None,
        open_timeout=open_timeout,
        close_timeout=WS_CLOSE_TIMEOUT,
        skip=is_keepalive,
    )
    return stream


class _Skip(Exception):
    """A transient REST failure: skip this round."""


class JobFollower:
    """The state of one follow: the last log id, the job as last seen, fetched blobs.

    Use :meth:`events` (or :func:`follow_job`). One follower iterates once.

    :param client: the async client (usually the loop's :func:`~..pool.shared_client`).
    :param job_id: the job to follow.
    :param deadline: when to give up (default: never).
    :param after_log_id: resume after this log id (lines up to it are not yielded again).
    :param poll_interval: seconds between REST reads while the WebSocket is unavailable (or always,
        with ``use_websocket=False``).
    :param use_websocket: follow over the WebSocket; ``False`` polls REST only.
    :param with_logs: yield log lines; ``False`` follows the status only.
    :param final_status_read: after the socket reported a terminal status, read the job once over REST
        for its full record: ``True`` always, ``False`` never, ``None`` (default) only when the stream's
        record lacks the outcome (no ``exit_code``, or a failure without ``error_message``).
    :param coalesce_status: with ``use_websocket=False``, after the first read take the status from the
        loop's shared list of active jobs (:mod:`.status_batch`, one request per interval for all
        polling follows of the client) and read the job on its own only when the list does not show it.
    :param silence_timeout: seconds of nothing at all on an open socket before it is given up (default
        :data:`SILENCE_TIMEOUT`).
    :param opener: how to open sockets (default: :func:`open_log_stream`'s choice).
    """

    def __init__(
        self,
        client: AsyncStudioClient,
        job_id: str,
        *,
        deadline: Deadline | None = None,
        after_log_id: int | None = None,
        poll_interval: float = 10.0,
        use_websocket: bool = True,
        with_logs: bool = True,
        final_status_read: bool | None = None,
        coalesce_status: bool = True,
        silence_timeout: float | None = None,
        opener: Opener | None = None,
    ) -> None:
        if not isinstance(job_id, str) or not job_id.strip():
            raise ValueError(f"job_id must be a non-empty Studio job id, got {job_id!r}.")
        silence_timeout = SILENCE_TIMEOUT if silence_timeout is None else silence_timeout
        for name, value in (("poll_interval", poll_interval), ("silence_timeout", silence_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
        if after_log_id is not None and (isinstance(after_log_id, bool) or not isinstance(after_log_id, int)):
            raise ValueError(f"after_log_id must be an integer log id or None, got {after_log_id!r}.")
        self.client = client
        self.job_id = job_id.strip()
        self.deadline = deadline or Deadline(None)
        self.poll_interval = float(poll_interval)
        self.use_websocket = use_websocket
        self.with_logs = with_logs
        self.final_status_read = final_status_read
        self.coalesce_status = coalesce_status
        self.silence_timeout = float(silence_timeout)
        self.opener = opener
        #: The highest log id yielded (or the resume point); ``None`` before any.
        self.last_log_id: int | None = after_log_id
        #: The job as last seen (``None`` before the first status).
        self.job: Job | None = None
        self.finished = False
        self._raw: dict[str, Any] = {"id": self.job_id}
        self._reported: tuple[JobStatus, object] | None = None
        self._blobs: set[str] = set()
        self._backoff = RECONNECT_BACKOFF.delays()
        self._deadline_hit = False
        self._silent = False
        self._foreign_warned = False

    @property
    def awaited(self) -> str:
        return f"Studio job {self.job_id}"

    # ---- the loop ------------------------------------------------------------------------------------

    async def events(self) -> AsyncGenerator[FollowEvent, None]:
        """Yield log lines and status changes until the terminal status (the last event).

        :raises StudioDeadlineExceeded: the deadline passed first (the job may still run).
        :raises StudioAuthenticationError: the token was refused (401/403).
        :raises StudioNotFoundError: the team has no such job.
        """
        loop = asyncio.get_running_loop()
        next_socket = loop.time() if self.use_websocket else float("inf")
        next_poll = float("inf") if self.use_websocket else loop.time()
        batch = None if self.use_websocket or not self.coalesce_status else status_batch(
            self.client, self.poll_interval
        )
        if batch is not None:
            batch.join()
        try:
            # Polling reads take the status from the shared list when there is one: the first read from
            # an early round, later ones from the next round of its cadence.
            fresh = True
            while True:
                if self.deadline.expired:
                    raise self.deadline.exceeded(self.awaited)
                now = loop.time()
                if now >= next_socket:
                    # aclosing: a consumer that stops iterating closes the socket now, not at garbage
                    # collection.
                    async with aclosing(self._socket_session()) as session:
                        async for event in session:
                            yield event
                    if self.finished:
                        return
                    next_socket = loop.time() + next(self._backoff)
                    # The socket ended early: ask REST whether the job is done (logs only if it is).
                    for event in await self._rest_round(logs=False):
                        yield event
                    if self.finished:
                        return
                    next_poll = loop.time() + self.poll_interval
                elif now >= next_poll:
                    shared = batch if batch is not None and batch.running else None
                    for event in await self._rest_round(logs=self.with_logs, batch=shared, fresh=fresh):
                        yield event
                    if self.finished:
                        return
                    fresh = False
                    # With a shared list the wait for its next round is the pause.
                    pause = 0.0 if batch is not None and batch.running else self.poll_interval
                    next_poll = loop.time() + pause
                wake = min(next_socket, next_poll)
                await self.deadline.sleep(max(0.0, wake - loop.time()))
        finally:
            if batch is not None:
                batch.leave()

    # ---- WebSocket -----------------------------------------------------------------------------------

    async def _socket_session(self) -> AsyncGenerator[FollowEvent, None]:
        """One connection: yields until the socket closes or the job ended; fatal refusals raise."""
        config = self.client.config
        url = websocket_url(config, self.job_id)
        slots = _handshake_slots()
        await self.deadline.bound(slots.acquire(), self.awaited)
        try:
            open_timeout = self.deadline.cap(config.timeout)
            if open_timeout <= 0:
                raise self.deadline.exceeded(self.awaited)
            stream = await open_log_stream(url, config, open_timeout, self.opener)
        except InvalidStatus as exc:
            self._raise_if_fatal(exc)
            log.warning("Log stream of %s refused (%s); polling over REST meanwhile.", self.awaited, exc)
            return
        except (asyncio.CancelledError, StudioError):
            raise
        except Exception as exc:
            if self.deadline.expired:
                raise self.deadline.exceeded(self.awaited) from None
            log.warning(
                "Log stream of %s unavailable (%s); polling over REST meanwhile.",
                self.awaited,
                scrub(f"{type(exc).__name__}: {exc}", config.token, 300),
            )
            return
        finally:
            slots.release()
        self._silent = False
        stop_watching = self._watch(stream)
        try:
            try:
                while True:
                    message = await stream.recv()
                    if len(message) > DECODE_IN_THREAD:
                        # Decoding a large backlog would hold a shared event loop for a while.
                        frame = await asyncio.to_thread(read_frame, message, self.job_id)
                    else:
                        frame = read_frame(message, self.job_id)
                    if frame is None:
                        continue
                    if frame.foreign:
                        self._warn_foreign()
                        continue
                    self._backoff.reset()  # data arrived: the next reconnect starts from the shortest delay
                    async for event in self._frame_events(frame):
                        yield event
                    if self.finished:
                        return
                    if frame.error is not None:
                        log.warning("Log stream of %s ended with: %s", self.awaited, frame.error)
                        return
            except ConnectionClosed as exc:
                if self._silent:
                    log.warning(
                        "Log stream of %s was silent for %.0fs (no keep-alive); checking the job over REST "
                        "and reconnecting.",
                        self.awaited,
                        self.silence_timeout,
                    )
                elif not self._deadline_hit:
                    log.info("Log stream of %s was cut (%s); checking the job over REST.", self.awaited, exc)
        finally:
            stop_watching()
            if stream.received:
                self._backoff.reset()  # keep-alives arrived (dropped by the socket): data all the same
            await stream.close()
        if self._deadline_hit and not self.finished:
            raise self.deadline.exceeded(self.awaited)

    def _watch(self, stream: LogStream) -> Callable[[], None]:
        """One timer per socket (cheap for thousands of idle follows): drop the socket when the deadline
        passes, or when nothing arrived for :attr:`silence_timeout` seconds. Returns the canceller."""
        loop = asyncio.get_running_loop()
        handle: list[asyncio.TimerHandle] = []

        def check() -> None:
            now = loop.time()
            if self.deadline.expired:
                self._deadline_hit = True
                stream.abort()
                return
            quiet_until = stream.last_activity + self.silence_timeout
            if now >= quiet_until:
                self._silent = True
                stream.abort()
                return
            left = self.deadline.remaining()
            handle[:] = [loop.call_at(quiet_until if left is None else min(quiet_until, now + left), check)]

        left = self.deadline.remaining()
        first = self.silence_timeout if left is None else min(self.silence_timeout, left)
        handle.append(loop.call_later(first, check))
        return lambda: handle[0].cancel()

    def _warn_foreign(self) -> None:
        if not self._foreign_warned:
            self._foreign_warned = True
            log.warning("Ignoring frames naming another job on the log stream of %s.", self.awaited)

    async def _frame_events(self, frame: Frame) -> AsyncGenerator[FollowEvent, None]:
        """The events of one frame, lines one at a time (the consumer may yield to the loop between)."""
        if self.with_logs:
            for url in frame.blobs:  # older lines: before the frame's own
                for event in await self._blob_events(url):
                    yield event
            for event in self._new_lines(frame.lines, identified_only=False):
                yield event
        for status in await self._status_events(frame):
            yield status

    async def _status_events(self, frame: Frame) -> list[FollowEvent]:
        events: list[FollowEvent] = []
        if frame.job is None:
            return events
        previous = self._raw
        self._merge(frame.job)
        try:
            status = Job.from_dict(self._raw).status
        except (ValueError, TypeError):
            # A malformed job object in a frame must not end the wait: REST reads still decide.
            self._raw = previous
            log.warning("Ignoring an unreadable job frame on the log stream of %s.", self.awaited)
            return events
        if status.is_terminal:
            await self._final_read()
            self.finished = True
            events.append(StatusEvent(self._current()))
            return events
        status_event = self._status_event()
        if status_event is not None:
            events.append(status_event)
        return events

    def _needs_final_read(self) -> bool:
        if self.final_status_read is not None:
            return self.final_status_read
        if "exit_code" not in self._raw:
            return True
        failed = JobStatus.parse(self._raw.get("status")) is JobStatus.FAILED
        return failed and not self._raw.get("error_message")

    async def _final_read(self) -> None:
        """The socket said the job ended: one REST read for the full record (best effort, bounded)."""
        if not self._needs_final_read():
            return
        timeout = max(self.deadline.cap(self.client.config.timeout), 0.001)
        try:
            job = await asyncio.wait_for(self.client.get_job(job_id=self.job_id), timeout)
        except (StudioAuthenticationError, StudioNotFoundError):
            raise
        except Exception as exc:  # the socket's own status stands
            log.info("Final status read of %s failed (%r); using the stream's status.", self.awaited, exc)
            return
        if job.status.is_terminal:
            self._raw = {**self._raw, **job.raw}

    def _raise_if_fatal(self, exc: InvalidStatus) -> None:
        status = exc.response.status_code
        if status not in (401, 403, 404):
            return
        config = self.client.config
        body = bytes(exc.response.body or b"")[:4096].decode("utf-8", "replace")
        frame = read_frame(body, self.job_id) if body.lstrip().startswith("{") else None
        text = scrub(frame.error if frame is not None and frame.error else body, config.token, 500)
        path = "logs/follow/"
        if status == 404:
            raise StudioNotFoundError(
                f"Studio job {self.job_id} was not found in team {config.team!r} (log stream: 404 {text}).",
                status=404,
                server_message=text,
                method="GET",
                path=path,
            )
        what = "rejected the token" if status == 401 else "denied the token access to the team"
        raise StudioAuthenticationError(
            f"Studio at {config.url} {what} ({status}) for the log stream of job {self.job_id}, team "
            f"{config.team!r}: {sentence(text)} Check the connection's password (the Studio token) and 'team'.",
            status=status,
            server_message=text,
            method="GET",
            path=path,
        )

    # ---- REST ----------------------------------------------------------------------------------------

    async def _rest_round(
        self, *, logs: bool, batch: StatusBatch | None = None, fresh: bool = False
    ) -> list[FollowEvent]:
        """Read the status (and, when asked or when the job ended, the new log lines) over REST.

        :param batch: take the status from this shared list's next round when it shows the job active.
        :param fresh: ask the shared list for an early round instead of its next regular one.
        """
        try:
            job: Job | None = None
            if batch is not None:
                job = (await self._rest(batch.next_round(fresh=fresh))).active(self.job_id)
            if job is None:  # not listed as active: it ended, or the list was cut
                job = await self._rest(self.client.get_job(job_id=self.job_id))
        except _Skip:
            return []
        if job.id != self.job_id:
            log.warning("Studio answered a read of %s with job %s; ignoring it.", self.awaited, job.id)
            return []
        self._raw = {**self._raw, **job.raw}
        terminal = job.status.is_terminal
        events: list[FollowEvent] = []
        if self.with_logs and (terminal or (logs and job.status not in NOT_STARTED)):
            # Read after the status: once the job has ended, every line is in this answer.
            lines = await self._rest_logs(attempts=FINAL_LOG_ATTEMPTS if terminal else 1)
            events.extend(self._new_lines(lines, identified_only=False))  # a REST answer: bounded in size
        if terminal:
            self.finished = True
            events.append(StatusEvent(self._current()))
            return events
        status_event = self._status_event()
        if status_event is not None:
            events.append(status_event)
        return events

    async def _rest_logs(self, *, attempts: int) -> list[RawLine]:
        for attempt in range(attempts):
            try:
                lines = await self._rest(self.client.get_job_logs(job_id=self.job_id))
            except StudioNotFoundError:
                return []  # logs are not served for this job (any more)
            except _Skip:
                if attempt + 1 < attempts and not self.deadline.expired:
                    await self.deadline.sleep(next(self._backoff))
                continue
            except StudioError as exc:  # too large, unreadable: the lines are lost, the wait is not
                log.warning("Could not read the log lines of %s over REST: %s", self.awaited, exc)
                return []
            return [RawLine(line.id, line.message) for line in lines]
        log.warning("Could not read the final log lines of %s over REST.", self.awaited)
        return []

    async def _rest(self, call: Awaitable[T]) -> T:
        """Await one REST call within the deadline; transient failures become :class:`_Skip`."""
        try:
            return await self.deadline.bound(call, self.awaited)
        except asyncio.TimeoutError:
            raise _Skip from None
        except Exception as exc:
            if is_transient(exc):
                log.warning("Reading %s over REST failed (%s); will try again.", self.awaited, exc)
                raise _Skip from exc
            raise

    # ---- lines, blobs and status ---------------------------------------------------------------------

    def _new_lines(self, items: list[RawLine], *, identified_only: bool) -> Iterator[LogEvent]:
        for item in items:
            if item.id is None:
                if identified_only:
                    continue
                yield LogEvent(LogLine(id=self.last_log_id or 0, message=item.message))
                continue
            if self.last_log_id is not None and item.id <= self.last_log_id:
                continue  # already yielded (a replay after a reconnect, or before the resume point)
            self.last_log_id = item.id
            yield LogEvent(LogLine(id=item.id, message=item.message))

    async def _blob_events(self, url: str) -> list[LogEvent]:
        """The lines of one log blob, fetched once per follow.

        A blob holds older lines. Lines with ids are de-duplicated like any other; plain-text lines have
        none, so they are only taken while no identified line has been seen (a resumed follow, or a blob
        that arrives after live lines, re-archives what was already yielded).
        """
        if url in self._blobs or len(self._blobs) >= MAX_BLOBS:
            return []
        self._blobs.add(url)
        lines = await fetch_blob_lines(self.client, self.client.config, url, self.deadline)
        if lines is None:
            return []
        return list(self._new_lines(lines, identified_only=self.last_log_id is not None))

    def _merge(self, update: dict[str, Any]) -> None:
        merged = dict(self._raw)
        for key, value in update.items():
            if value is not None or key not in merged:
                merged[key] = value
        merged["id"] = self.job_id  # the followed job, whatever the frame said
        self._raw = merged

    def _current(self) -> Job:
        self.job = Job.from_dict(self._raw)
        return self.job

    def _status_event(self) -> StatusEvent | None:
        job = self._current()
        said = (job.status, job.raw.get("status") if job.status is JobStatus.UNKNOWN else None)
        if said == self._reported:
            return None
        self._reported = said
        if job.status is JobStatus.UNKNOWN and said[1] not in (None, ""):
            log.warning(
                "Studio reported status %.80r for %s, which this provider does not know: still waiting "
                "(it is not taken for an end). Upgrade the provider if Studio added a status.",
                said[1],
                self.awaited,
            )
        return StatusEvent(job)


#: TLS and WebSocket handshakes in flight at once per event loop. A triggerer that starts (or restarts
#: with) thousands of follows would otherwise run all their handshakes together: each holds tens of KiB of
#: OpenSSL state meanwhile, and the heap keeps that peak for good. Queued handshakes cost nothing, and
#: Studio sees a gentler burst.
MAX_HANDSHAKES = 32
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _handshake_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        slots = _SLOTS[loop] = asyncio.Semaphore(MAX_HANDSHAKES)
    return slots


async def follow_job(client: AsyncStudioClient, job_id: str, **options: Any) -> AsyncGenerator[FollowEvent, None]:
    """Follow a job until it ends: yields :class:`LogEvent` and :class:`StatusEvent`, ending right after
    the terminal :class:`StatusEvent`.

    >>> async with shared_client(config) as client:  # doctest: +SKIP
    ...     async for event in follow_job(client, "42", deadline=Deadline.after(3600)):
    ...         if isinstance(event, LogEvent):
    ...             print(event.line.message, end="")

    Stopping the iteration (or cancelling the task) closes the socket.

    :param client: the async client (share one per loop: :func:`~..pool.shared_client`).
    :param job_id: the job to follow.
    :param options: :class:`JobFollower`'s keyword arguments.
    """
    follower = JobFollower(client, job_id, **options)
    async with aclosing(follower.events()) as events:
        async for event in events:
            yield event


__all__ = [
    "FollowEvent",
    "JobFollower",
    "LogEvent",
    "StatusEvent",
    "follow_job",
    "open_log_stream",
    "websocket_url",
]
