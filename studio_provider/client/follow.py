"""Follow a Studio job until it ends: its log lines and status changes, over the WebSocket or REST.

This is the one waiting machine for jobs. The Airflow trigger, the worker-side wait and the pipeline
waits iterate :func:`follow_job`; it

- streams ``logs/follow/`` (the API URL with ``http`` → ``ws``, the REST ``Authorization`` header,
  ``job_id`` and ``team_name`` URL-encoded), ignoring pings and fetching ``log_blobs``;
- yields each log line once, in order (de-duplicated by id), and each status change;
- when the socket is refused, cut or closes before the job ended, reads the status over REST,
  reconnects with the official client's backoff and polls ``get_job`` + ``get_job_logs`` while the
  socket is unavailable;
- survives transient failures (5xx, 429, resets, outages) until the caller's deadline;
- ends with the terminal :class:`StatusEvent`, or raises :class:`~.errors.StudioDeadlineExceeded`,
  :class:`~.errors.StudioAuthenticationError` or :class:`~.errors.StudioNotFoundError`.

In the steady state a WebSocket follow sends no REST request at all: one handshake, then at most one
final status read once the socket reported the end (only when the stream's record lacks the outcome,
unless asked for).
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import json
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.uri import parse_uri

from .api import AsyncStudioClient
from .config import StudioConfig
from .errors import StudioAuthenticationError, StudioError, StudioNotFoundError
from .log_socket import LogSocket, open_log_socket
from .models import Job, JobStatus, LogLine
from .status_batch import StatusBatch, status_batch
from .tls import ssl_context
from .wait import Deadline, ReconnectDelays, is_transient, reconnect_delays, sleep_within

log = logging.getLogger(__name__)

#: Seconds between the client's own WebSocket keep-alive pings, through a proxy only (they detect
#: half-open connections; the lean socket of :mod:`.log_socket` leaves that to TCP keep-alive).
WS_PING_INTERVAL = 60.0
#: Seconds to wait for a pong, and for the closing handshake when the consumer stops.
WS_PING_TIMEOUT = 30.0
WS_CLOSE_TIMEOUT = 2.0
#: Attempts at reading the logs of a finished job over REST before giving up on them.
FINAL_LOG_ATTEMPTS = 5
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


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class JobFollower:
    """The state of one follow: the last log id, the job as last seen, fetched blobs.

    Use :meth:`events` (or :func:`follow_job`). One follower iterates once.

    :param client: the async client (usually the loop's :func:`~.pool.shared_client`).
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
        loop's shared list of active jobs (:mod:`~.status_batch`, one request per interval for all
        polling follows of the client) and read the job on its own only when the list does not show it.
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
    ) -> None:
        if not isinstance(job_id, str) or not job_id.strip():
            raise ValueError(f"job_id must be a non-empty Studio job id, got {job_id!r}.")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}.")
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
        #: The highest log id yielded (or the resume point); ``None`` before any.
        self.last_log_id: int | None = after_log_id
        #: The job as last seen (``None`` before the first status).
        self.job: Job | None = None
        self.finished = False
        self._raw: dict[str, Any] = {"id": self.job_id}
        self._reported: JobStatus | None = None
        self._blobs: set[str] = set()
        self._backoff: ReconnectDelays = reconnect_delays()
        self._deadline_hit = False

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
                await sleep_within(max(0.0, wake - loop.time()), self.deadline)
        finally:
            if batch is not None:
                batch.leave()

    # ---- WebSocket -----------------------------------------------------------------------------------

    async def _socket_session(self) -> AsyncGenerator[FollowEvent, None]:
        """One connection: yields until the socket closes or the job ended; fatal refusals raise."""
        config = self.client.config
        url = websocket_url(config, self.job_id)
        slots = _handshake_slots()
        left = self.deadline.remaining()
        try:
            await (slots.acquire() if left is None else asyncio.wait_for(slots.acquire(), max(left, 0.001)))
        except asyncio.TimeoutError:
            raise self.deadline.exceeded(self.awaited) from None
        try:
            open_timeout = self.deadline.cap(config.timeout)
            if open_timeout <= 0:
                raise self.deadline.exceeded(self.awaited)
            with _small_tls_read_buffers():
                connection = await self._connect(url, config, open_timeout)
        except InvalidStatus as exc:
            self._raise_if_fatal(exc)
            log.warning("Log stream of %s refused (%s); polling over REST meanwhile.", self.awaited, exc)
            return
        except (asyncio.CancelledError, StudioError):
            raise
        except Exception as exc:
            if self.deadline.expired:
                raise self.deadline.exceeded(self.awaited) from None
            log.warning("Log stream of %s unavailable (%s); polling over REST meanwhile.", self.awaited, exc)
            return
        finally:
            slots.release()
        watchdog = self._arm_deadline(connection)
        try:
            try:
                async for message in connection:
                    self._backoff.reset()  # data arrived: the next reconnect starts from the shortest delay
                    frame = _decode_frame(message)
                    if frame is None:
                        continue
                    for event in await self._frame_events(frame):
                        yield event
                    if self.finished:
                        return
                    if _is_error_frame(frame):
                        log.warning("Log stream of %s ended with: %s", self.awaited, frame.get("message"))
                        return
            except ConnectionClosed as exc:
                if not self._deadline_hit:
                    log.info("Log stream of %s was cut (%s); checking the job over REST.", self.awaited, exc)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if getattr(connection, "received", 0):
                self._backoff.reset()  # keep-alives arrived (dropped by the lean socket): data all the same
            await connection.close()
        if self._deadline_hit and not self.finished:
            raise self.deadline.exceeded(self.awaited)

    async def _connect(self, url: str, config: StudioConfig, open_timeout: float) -> ClientConnection | LogSocket:
        context = ssl_context(config.verify) if url.startswith("wss:") else None
        connection: ClientConnection | LogSocket
        if not _proxied(url):
            # The lean socket: keep-alives answered and dropped as they arrive, TCP keep-alive for dead peers.
            connection = await open_log_socket(
                url,
                headers={"Authorization": config.authorization},
                ssl=context,
                open_timeout=open_timeout,
                close_timeout=WS_CLOSE_TIMEOUT,
                skip=_is_keepalive,
            )
        else:
            connection = await connect(
                url,
                additional_headers={"Authorization": config.authorization},
                ssl=context,
                compression=None,  # small JSON frames: deflate would only cost memory per socket
                open_timeout=open_timeout,
                ping_interval=WS_PING_INTERVAL,
                ping_timeout=WS_PING_TIMEOUT,
                close_timeout=WS_CLOSE_TIMEOUT,
                user_agent_header=None,
            )
        _trim_tls_read_buffer(connection.transport)
        _drop_peer_certificate(connection.transport)
        return connection

    def _arm_deadline(self, connection: ClientConnection | LogSocket) -> asyncio.TimerHandle | None:
        # One timer per socket instead of a timeout per frame: cheap for thousands of idle follows.
        left = self.deadline.remaining()
        if left is None:
            return None

        def expire() -> None:
            self._deadline_hit = True
            connection.transport.abort()

        return asyncio.get_running_loop().call_later(left, expire)

    async def _frame_events(self, frame: dict[str, Any]) -> list[FollowEvent]:
        kind = frame.get("type")
        if kind == "ping":
            return []
        events: list[FollowEvent] = []
        if self.with_logs:
            if isinstance(frame.get("log_blobs"), list):
                for url in frame["log_blobs"]:  # older lines: before the frame's own
                    events.extend(await self._blob_events(str(url)))
            if isinstance(frame.get("logs"), list):
                events.extend(self._new_lines(frame["logs"], identified_only=False))
            if kind == "log" and "message" in frame:
                events.extend(self._new_lines([frame], identified_only=False))
        update: dict[str, Any] | None = None
        if isinstance(frame.get("job"), dict):
            update = frame["job"]
        elif kind == "status" and frame.get("status") is not None:
            update = {"status": frame["status"]}
        if update is None:
            return events
        previous = self._raw
        self._merge(update)
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
        body = bytes(exc.response.body or b"").decode("utf-8", "replace")
        try:
            text = str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            text = body
        text = text.replace(config.token, "***")[:500]
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
            f"Studio {what} ({status}) for the log stream of job {self.job_id}, team {config.team!r} at "
            f"{config.url}: {text}. Check the connection's password (the Studio token) and 'team'.",
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
        self._raw = {**self._raw, **job.raw}
        terminal = job.status.is_terminal
        events: list[FollowEvent] = []
        if self.with_logs and (terminal or (logs and job.status not in NOT_STARTED)):
            # Read after the status: once the job has ended, every line is in this answer.
            lines = await self._rest_logs(attempts=FINAL_LOG_ATTEMPTS if terminal else 1)
            events.extend(self._new_lines(lines, identified_only=False))
        if terminal:
            self.finished = True
            events.append(StatusEvent(self._current()))
            return events
        status_event = self._status_event()
        if status_event is not None:
            events.append(status_event)
        return events

    async def _rest_logs(self, *, attempts: int) -> list[dict[str, Any]]:
        for attempt in range(attempts):
            try:
                lines = await self._rest(self.client.get_job_logs(job_id=self.job_id))
            except StudioNotFoundError:
                return []  # logs are not served for this job (any more)
            except _Skip:
                if attempt + 1 < attempts and not self.deadline.expired:
                    await sleep_within(next(self._backoff), self.deadline)
                continue
            return [{"id": line.id, "message": line.message} for line in lines]
        log.warning("Could not read the final log lines of %s over REST.", self.awaited)
        return []

    async def _rest(self, call: Any) -> Any:
        """Await one REST call within the deadline; transient failures become :class:`_Skip`."""
        left = self.deadline.remaining()
        try:
            if left is None:
                return await call
            return await asyncio.wait_for(call, timeout=max(left, 0.001))
        except asyncio.TimeoutError:
            if self.deadline.expired:
                raise self.deadline.exceeded(self.awaited) from None
            raise _Skip from None
        except Exception as exc:
            if is_transient(exc):
                log.warning("Reading %s over REST failed (%s); will try again.", self.awaited, exc)
                raise _Skip from exc
            raise

    # ---- lines, blobs and status ---------------------------------------------------------------------

    def _new_lines(self, items: list[Any], *, identified_only: bool) -> list[LogEvent]:
        events: list[LogEvent] = []
        for item in items:
            if not isinstance(item, dict) or "message" not in item:
                continue
            message = str(item.get("message") or "")
            line_id = _int_or_none(item.get("id"))
            if line_id is None:
                if identified_only:
                    continue
                events.append(LogEvent(LogLine(id=self.last_log_id or 0, message=message)))
                continue
            if self.last_log_id is not None and line_id <= self.last_log_id:
                continue  # already yielded (a replay after a reconnect, or before the resume point)
            self.last_log_id = line_id
            events.append(LogEvent(LogLine(id=line_id, message=message)))
        return events

    async def _blob_events(self, url: str) -> list[LogEvent]:
        """The lines of one log blob, fetched once per follow.

        A blob holds older lines. Lines with ids are de-duplicated like any other; plain-text lines have
        none, so they are only taken while no identified line has been seen (a resumed follow, or a blob
        that arrives after live lines, re-archives what was already yielded).
        """
        config = self.client.config
        target = urljoin(config.url.rstrip("/") + "/", url)
        if target in self._blobs:
            return []
        headers = {}
        if _origin(target) == _origin(config.url):
            headers["Authorization"] = config.authorization  # never sent to another host (signed URLs)
        try:
            async with httpx.AsyncClient(
                verify=ssl_context(config.verify), timeout=self.deadline.cap(config.timeout)
            ) as http:
                response = await http.get(target, headers=headers, follow_redirects=True)
                response.raise_for_status()
        except (httpx.HTTPError, OSError) as exc:
            log.warning("Could not fetch a log blob of %s (%s).", self.awaited, type(exc).__name__)
            return []
        self._blobs.add(target)
        items = _blob_items(response.text)
        identified_only = self.last_log_id is not None
        return self._new_lines(items, identified_only=identified_only)

    def _merge(self, update: dict[str, Any]) -> None:
        merged = dict(self._raw)
        for key, value in update.items():
            if value is not None or key not in merged:
                merged[key] = value
        self._raw = merged

    def _current(self) -> Job:
        self.job = Job.from_dict(self._raw)
        return self.job

    def _status_event(self) -> StatusEvent | None:
        job = self._current()
        if job.status is self._reported:
            return None
        self._reported = job.status
        return StatusEvent(job)


class _Skip(Exception):
    """A transient REST failure: skip this round."""


def _is_error_frame(frame: dict[str, Any]) -> bool:
    # ``{"message": "..."}`` alone is the server's terminal error; status and log frames also carry a
    # message, with their own keys beside it.
    return "message" in frame and not (set(frame) - {"message", "type", "detail"}) and frame.get("type") in (
        None,
        "error",
    )


#: TLS and WebSocket handshakes in flight at once per event loop. A triggerer that starts (or restarts
#: with) thousands of follows would otherwise run all their handshakes together: each holds tens of KiB of
#: OpenSSL state meanwhile, and the heap keeps that peak for good (2,000 bare TLS WebSocket connections in
#: one process: 62 KiB each with every handshake at once, 54 KiB with 32 at a time). Queued handshakes cost
#: nothing, and Studio sees a gentler burst.
MAX_HANDSHAKES = 32
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _handshake_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        slots = _SLOTS[loop] = asyncio.Semaphore(MAX_HANDSHAKES)
    return slots


#: The TLS read buffer kept per socket (raw bytes from the socket, before decryption). Frames of a log
#: stream are small; a burst larger than this is read in several turns of the loop.
TLS_READ_BUFFER = 4 * 1024
_tls_connects = 0
_tls_default_buffer: int | None = None


@contextmanager
def _small_tls_read_buffers() -> Iterator[None]:
    """While this follower opens sockets, asyncio's ``SSLProtocol`` starts with a small read buffer.

    ``SSLProtocol`` allocates and zero-fills ``max_size`` (256 KiB in CPython 3.10-3.13) per TLS
    connection when it is built: four times the memory budget of a waiting job, and thousands of
    handshakes run at once in a triggerer. The class default is lowered only while some follower is
    connecting (a connection built meanwhile elsewhere just reads in smaller chunks), and each of our
    sockets keeps the small size through :func:`_trim_tls_read_buffer`. Other Pythons or loops (uvloop)
    lack these internals and are left alone.
    """
    global _tls_connects, _tls_default_buffer
    protocol_class: Any = getattr(asyncio.sslproto, "SSLProtocol", None)
    if not isinstance(getattr(protocol_class, "max_size", None), int):
        yield
        return
    if _tls_connects == 0:
        _tls_default_buffer = protocol_class.max_size
        protocol_class.max_size = min(protocol_class.max_size, TLS_READ_BUFFER)
    _tls_connects += 1
    try:
        yield
    finally:
        _tls_connects -= 1
        if _tls_connects == 0 and _tls_default_buffer is not None:
            protocol_class.max_size = _tls_default_buffer


def _trim_tls_read_buffer(transport: Any) -> None:
    """Pin one socket's TLS read buffer to :data:`TLS_READ_BUFFER` (an instance attribute)."""
    protocol = getattr(transport, "_ssl_protocol", None)
    buffer = getattr(protocol, "_ssl_buffer", None)
    if protocol is None or not isinstance(buffer, bytearray) or not hasattr(protocol, "_ssl_buffer_view"):
        return
    protocol.max_size = TLS_READ_BUFFER  # get_buffer() never asks for more
    if len(buffer) > TLS_READ_BUFFER:
        small = bytearray(TLS_READ_BUFFER)
        protocol._ssl_buffer = small
        protocol._ssl_buffer_view = memoryview(small)


def _drop_peer_certificate(transport: Any) -> None:
    """Forget asyncio's parsed copy of the server certificate (kept per socket for ``get_extra_info``,
    which nothing here reads): a few KiB per socket, kept for hours otherwise."""
    extra = getattr(getattr(transport, "_ssl_protocol", None), "_extra", None)
    if isinstance(extra, dict):
        extra.pop("peercert", None)


def _proxied(url: str) -> bool:
    """Whether the environment routes this WebSocket URL through a proxy (``websockets``' client then
    connects, since it speaks HTTP CONNECT and SOCKS)."""
    try:
        from websockets.proxy import get_proxy
    except ImportError:  # websockets < 15 has no proxy support at all
        return False
    return get_proxy(parse_uri(url)) is not None


_KEEPALIVE = {"type": "ping"}


#: The keep-alive as servers spell it (``json.dumps`` and Starlette's compact form): most messages on an
#: idle socket, so they are recognised without decoding JSON; other spellings take the decoding path.
_KEEPALIVE_TEXTS = frozenset({'{"type":"ping"}', '{"type": "ping"}'})


def _is_keepalive(message: str | bytes) -> bool:
    """The server's ``{"type": "ping"}`` message (dropped as it arrives, without waking the follower)."""
    if message in _KEEPALIVE_TEXTS:
        return True
    return len(message) < 64 and b"ping" in (message.encode() if isinstance(message, str) else message) and (
        _decode_frame(message) == _KEEPALIVE
    )


def _decode_frame(message: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(message)
    except ValueError:
        log.debug("Ignoring a non-JSON frame on a job's log stream.")
        return None
    return frame if isinstance(frame, dict) else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _blob_items(text: str) -> list[dict[str, Any]]:
    """A blob's lines: JSON (a list of ``{"id", "message"}``, or ``{"logs": [...]}``) or plain text."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            data = data.get("logs")
        if isinstance(data, list):
            return [item for item in data if isinstance(item, dict)]
    return [{"message": line} for line in text.splitlines(keepends=True)]


async def follow_job(
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
) -> AsyncIterator[FollowEvent]:
    """Follow a job until it ends: yields :class:`LogEvent` and :class:`StatusEvent`, ending right after
    the terminal :class:`StatusEvent`.

    >>> async with shared_client(config) as client:  # doctest: +SKIP
    ...     async for event in follow_job(client, "42", deadline=Deadline.after(3600)):
    ...         if isinstance(event, LogEvent):
    ...             print(event.line.message, end="")

    Stopping the iteration (or cancelling the task) closes the socket.

    :param client: the async client (share one per loop: :func:`~.pool.shared_client`).
    :param job_id: the job to follow.
    :param deadline: when to give up; default never.
    :param after_log_id: resume after this log id.
    :param poll_interval: seconds between REST reads while the WebSocket is unavailable.
    :param use_websocket: ``False`` polls REST only (``get_job`` + ``get_job_logs``).
    :param with_logs: ``False`` follows the status only.
    :param final_status_read: once the socket reported the end, read the job's full record over REST
        (one request): ``True`` always, ``False`` never, ``None`` only when the stream's record lacks the
        outcome. Without it the last event carries the stream's fields (status, exit code, error
        message, finish time) and possibly no ``url``.
    :param coalesce_status: polling follows of one client share one list of active jobs per interval.
    :raises StudioDeadlineExceeded: the deadline passed first; the caller cancels the job.
    :raises StudioAuthenticationError: the token was refused (handshake or REST 401/403).
    :raises StudioNotFoundError: the team has no such job.
    """
    follower = JobFollower(
        client,
        job_id,
        deadline=deadline,
        after_log_id=after_log_id,
        poll_interval=poll_interval,
        use_websocket=use_websocket,
        with_logs=with_logs,
        final_status_read=final_status_read,
        coalesce_status=coalesce_status,
    )
    async with aclosing(follower.events()) as events:
        async for event in events:
            yield event
