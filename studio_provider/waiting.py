"""Waiting for a Studio job from Airflow, written once for the deferred and the worker path.

- :class:`JobWaitResult`: the outcome of one wait; it is also the trigger's event payload
  (``to_dict``/``from_dict``), so both paths end in the same ``finish`` code of the operator or sensor.
- :func:`follow_to_result`: runs the client's job follower (:func:`~studio_provider.client.follow.follow_job`)
  until the job ends, reaches a target status, or the deadline passes, and sends each log line to a
  callback. The trigger awaits it in the triggerer; :func:`wait_on_worker` runs it with ``asyncio.run``.
- :func:`cancel_job` / :func:`acancel_job`: cancel-on-kill and cancel-at-deadline, where a job that has
  already finished is not an error.
- :func:`deadline_from_timeout`: a ``timeout`` turned into one absolute deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from studio_provider.client import (
    AsyncStudioClient,
    Job,
    JobStatus,
    LogLine,
    StudioError,
    StudioNotFoundError,
    StudioValidationError,
)
from studio_provider.client.errors import StudioDeadlineExceeded
from studio_provider.client.follow import LogEvent, StatusEvent, follow_job
from studio_provider.client.pool import shared_client
from studio_provider.client.wait import Deadline, is_transient, reconnect_delays

if TYPE_CHECKING:
    from studio_provider.hooks.studio import StudioHook

R = TypeVar("R")

#: The prefix of a Studio log line in the Airflow task log.
LOG_PREFIX = "[studio {job_id}] "
#: How long a cancel keeps trying while Studio is unreachable (an outage, a deploy), beyond the client's
#: own retries: a task that gave up on its job must not leave it running unseen.
CANCEL_GRACE_SECONDS = 300.0


class WaitEnd(str, Enum):
    """Why a wait ended."""

    FINISHED = "finished"
    """The job reached a terminal status (or one of the awaited target statuses)."""
    DEADLINE = "deadline"
    """The deadline passed first; the job may still be running."""
    ERROR = "error"
    """Following the job failed for good (credentials, a vanished job, an unexpected error)."""


@dataclass(frozen=True)
class JobWaitResult:
    """The outcome of waiting for one Studio job: the trigger's event payload and the worker wait's result.

    :param end: why the wait ended.
    :param job_id: the job.
    :param job_url: its URL in Studio, when known.
    :param status: its last known status (a :class:`~studio_provider.client.JobStatus` name).
    :param exit_code: its exit code, when finished.
    :param error_message: Studio's error message of a failed job.
    :param message: a sentence for the task log.
    :param last_log_id: the id of the last log line written to the log (the resume point).
    :param deadline: the deadline, as epoch seconds.
    """

    end: WaitEnd
    job_id: str
    job_url: str | None = None
    status: str | None = None
    exit_code: int | None = None
    error_message: str | None = None
    message: str = ""
    last_log_id: int | None = None
    deadline: float | None = None

    @property
    def job_status(self) -> JobStatus:
        """The status as an enum (``UNKNOWN`` when missing or unrecognised)."""
        return JobStatus.parse(self.status)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (primitives only), as a ``TriggerEvent`` payload."""
        data = asdict(self)
        data["end"] = self.end.value
        return data

    @classmethod
    def from_dict(cls, data: object) -> JobWaitResult:
        """Read a payload back, checking it.

        :raises ValueError: when the payload is not one this class wrote.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"A Studio job wait result must be a dict, got {type(data).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unexpected keys in a Studio job wait result: {sorted(unknown)}.")
        try:
            end = WaitEnd(data.get("end"))
        except ValueError:
            raise ValueError(f"Invalid 'end' in a Studio job wait result: {data.get('end')!r}.") from None
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"Invalid 'job_id' in a Studio job wait result: {job_id!r}.")
        for name in ("exit_code", "last_log_id"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"Invalid {name!r} in a Studio job wait result: {value!r}.")
        deadline = data.get("deadline")
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))):
            raise ValueError(f"Invalid 'deadline' in a Studio job wait result: {deadline!r}.")
        return cls(
            end=end,
            job_id=job_id,
            job_url=_opt_str(data.get("job_url")),
            status=_opt_str(data.get("status")),
            exit_code=data.get("exit_code"),
            error_message=_opt_str(data.get("error_message")),
            message=str(data.get("message") or ""),
            last_log_id=data.get("last_log_id"),
            deadline=None if deadline is None else float(deadline),
        )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def deadline_from_timeout(timeout: timedelta | float | None) -> Deadline:
    """The absolute deadline for a ``timeout`` given as a ``timedelta`` or seconds (``None``: never).

    :param timeout: how long the wait may take from now.
    """
    if timeout is None:
        return Deadline(None)
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    return Deadline.after(seconds)


def timeout_seconds(name: str, value: object) -> float | None:
    """Check a ``timeout``-like parameter: a non-negative number of seconds, a ``timedelta`` or ``None``.

    :raises ValueError: naming the parameter.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name} must be a timedelta or a number of seconds, got {value!r}.")
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}.")
    return seconds


def positive_seconds(name: str, value: object) -> float:
    """Check an interval parameter: a positive number of seconds.

    :raises ValueError: naming the parameter.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}.")
    return float(value)


def _finished(job: Job, *, job_url: str | None, last_log_id: int | None, deadline: Deadline) -> JobWaitResult:
    status = job.status
    if status is JobStatus.COMPLETE:
        message = f"Studio job {job.id} completed."
    else:
        message = f"Studio job {job.id} ended with status {status.value}."
    return JobWaitResult(
        end=WaitEnd.FINISHED,
        job_id=job.id,
        job_url=job.url or job_url,
        status=status.value,
        exit_code=job.exit_code,
        error_message=job.error_message,
        message=message,
        last_log_id=last_log_id,
        deadline=deadline.at,
    )


async def follow_to_result(
    client: AsyncStudioClient,
    job_id: str,
    *,
    job_url: str | None = None,
    deadline: Deadline,
    after_log_id: int | None = None,
    poll_interval: float = 10.0,
    use_websocket: bool = True,
    stream_logs: bool = True,
    target_statuses: Collection[JobStatus] | None = None,
    on_line: Callable[[LogLine], object] | None = None,
) -> JobWaitResult:
    """Follow a job until it ends (or reaches one of ``target_statuses``) and say how the wait ended.

    Never raises for the job's or Studio's sake: the deadline and fatal errors become results, so a
    trigger yields exactly one event.

    :param client: the async client (the loop's shared one).
    :param job_id: the job.
    :param job_url: its URL, when already known.
    :param deadline: when to stop waiting.
    :param after_log_id: resume the log after this line id.
    :param poll_interval: seconds between REST reads while the WebSocket is unavailable.
    :param use_websocket: follow over the WebSocket (``False``: REST polling only).
    :param stream_logs: send the job's log lines to ``on_line``.
    :param target_statuses: also stop at these (possibly non-terminal) statuses.
    :param on_line: receives each new log line, once, in order.
    """
    last_log_id = after_log_id
    targets = frozenset(target_statuses or ())
    events = follow_job(
        client,
        job_id,
        deadline=deadline,
        after_log_id=after_log_id,
        poll_interval=poll_interval,
        use_websocket=use_websocket,
        with_logs=stream_logs,
    )
    job: Job | None = None
    try:
        try:
            async for event in events:
                if isinstance(event, LogEvent):
                    if last_log_id is None or event.line.id > last_log_id:
                        last_log_id = event.line.id
                    if on_line is not None:
                        on_line(event.line)
                elif isinstance(event, StatusEvent):
                    job = event.job
                    if job.status.is_terminal or job.status in targets:
                        break
                    said = job.raw.get("status")
                    if job.status is JobStatus.UNKNOWN and said not in (None, ""):
                        # Waiting on a status nobody documented could last until the deadline (or for
                        # ever): stop with words the DAG author can act on.
                        return JobWaitResult(
                            end=WaitEnd.ERROR,
                            job_id=job_id,
                            job_url=job.url or job_url,
                            status=JobStatus.UNKNOWN.value,
                            message=(
                                f"Studio reported status {str(said)[:80]!r} for job {job_id}, which this "
                                f"provider does not know, so it stopped waiting; the job may still be running "
                                f"in Studio. Upgrade the provider, or check the job in Studio."
                            ),
                            last_log_id=last_log_id,
                            deadline=deadline.at,
                        )
        finally:
            # Stopping early (a target status) must close the socket now, not at garbage collection.
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
    except StudioDeadlineExceeded:
        return JobWaitResult(
            end=WaitEnd.DEADLINE,
            job_id=job_id,
            job_url=(job.url if job else None) or job_url,
            status=job.status.value if job else None,
            message=f"The deadline {deadline.describe()} passed while Studio job {job_id} was still running.",
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    except StudioError as exc:
        return JobWaitResult(
            end=WaitEnd.ERROR,
            job_id=job_id,
            job_url=(job.url if job else None) or job_url,
            status=job.status.value if job else None,
            message=f"Following Studio job {job_id} failed: {exc}",
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    if job is None:  # the follower always ends with a status; be explicit if it ever does not
        return JobWaitResult(
            end=WaitEnd.ERROR,
            job_id=job_id,
            job_url=job_url,
            message=f"Following Studio job {job_id} ended without a status.",
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    return _finished(job, job_url=job_url, last_log_id=last_log_id, deadline=deadline)


def run_on_worker(
    hook: StudioHook, waiter: Callable[..., Awaitable[R]], remote_id: str, **kwargs: Any
) -> R:
    """Run an async waiter (``waiter(client, remote_id, **kwargs)``) on the worker (the non-deferrable
    path), in a fresh event loop with the shared client: the trigger and the worker wait alike.

    :param hook: gives the connection's settings.
    :param waiter: such as :func:`follow_to_result`.
    :param remote_id: the job or pipeline run.
    :param kwargs: as for ``waiter``.
    """
    config = hook.config

    async def wait() -> R:
        async with shared_client(config) as client:
            return await waiter(client, remote_id, **kwargs)

    return asyncio.run(wait())


def wait_on_worker(hook: StudioHook, job_id: str, **kwargs: Any) -> JobWaitResult:
    """Run :func:`follow_to_result` in the worker (the non-deferrable path), in a fresh event loop.

    :param hook: gives the connection's settings.
    :param job_id: the job.
    :param kwargs: as for :func:`follow_to_result`.
    """
    return run_on_worker(hook, follow_to_result, job_id, **kwargs)


def _already_finished(job_id: str, job: Job | None) -> str:
    status = job.status.value if job is not None else "unknown"
    return f"Studio job {job_id} was not cancelled: it had already finished (status {status})."


def cancel_job(
    hook: StudioHook, job_id: str, *, log: Any, reason: str, grace: float = CANCEL_GRACE_SECONDS
) -> None:
    """Ask Studio to cancel a job; a job that already finished is logged, not an error. While Studio is
    unreachable (5xx, 429, connection failures) the cancel is tried again until it is back, for at most
    ``grace`` seconds.

    :param hook: the connection.
    :param job_id: the job.
    :param log: where to say what happened.
    :param reason: why (for the log), such as ``"the task was killed"``.
    :param grace: how long to keep trying while Studio is unreachable.
    :raises StudioError: when Studio refused the cancel, or stayed unreachable for ``grace`` seconds.
    """
    log.info("Cancelling Studio job %s: %s.", job_id, reason)
    give_up = Deadline.after(grace)
    delays = reconnect_delays()
    while True:
        try:
            _cancel_once(hook, job_id, log=log)
            return
        except (StudioValidationError, StudioNotFoundError):
            raise
        except StudioError as exc:
            if not is_transient(exc) or give_up.expired:
                log.error("Could not cancel Studio job %s: %s", job_id, exc)
                raise
            pause = min(next(delays), give_up.remaining() or 0.0)
            log.warning(
                "Studio is unreachable (%s); trying to cancel job %s again in %.0fs, until %s.",
                exc,
                job_id,
                pause,
                give_up.describe(),
            )
            time.sleep(pause)


def _cancel_once(hook: StudioHook, job_id: str, *, log: Any) -> None:
    """One cancel (with the client's own retries); a job that already finished is not an error."""
    try:
        hook.cancel_job(job_id=job_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            job: Job | None = hook.get_job(job_id=job_id)
        except StudioError:
            job = None
        if job is not None and job.status.is_terminal:
            log.info(_already_finished(job_id, job))
            return
        raise exc
    log.info("Cancellation of Studio job %s requested.", job_id)


async def acancel_job(client: AsyncStudioClient, job_id: str, *, log: Any, reason: str) -> None:
    """The coroutine twin of :func:`cancel_job`, for triggers."""
    log.info("Cancelling Studio job %s: %s.", job_id, reason)
    try:
        await client.cancel_job(job_id=job_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            job: Job | None = await client.get_job(job_id=job_id)
        except StudioError:
            job = None
        if job is not None and job.status.is_terminal:
            log.info(_already_finished(job_id, job))
            return
        raise exc
    log.info("Cancellation of Studio job %s requested.", job_id)


def wait_until_canceled(hook: StudioHook, job_id: str, *, deadline: Deadline, poll_interval: float) -> Job:
    """Poll a job until it is terminal (CANCELED, or whatever it ended with) or the deadline passes.

    :raises StudioDeadlineExceeded: when the deadline passes first.
    """
    config = hook.config

    async def wait() -> Job:
        async with shared_client(config) as client:
            result = await follow_to_result(
                client,
                job_id,
                deadline=deadline,
                poll_interval=poll_interval,
                use_websocket=False,
                stream_logs=False,
            )
            if result.end is WaitEnd.DEADLINE:
                raise deadline.exceeded(f"Studio job {job_id} to be cancelled")
            if result.end is WaitEnd.ERROR:
                raise StudioError(result.message)
            return await client.get_job(job_id=job_id)

    return asyncio.run(wait())


__all__ = [
    "CANCEL_GRACE_SECONDS",
    "LOG_PREFIX",
    "JobWaitResult",
    "WaitEnd",
    "acancel_job",
    "cancel_job",
    "deadline_from_timeout",
    "follow_to_result",
    "positive_seconds",
    "timeout_seconds",
    "wait_on_worker",
    "wait_until_canceled",
]
