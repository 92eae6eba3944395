"""Waiting for a Studio job, and cancelling one: the one implementation the trigger and the worker run.

- :func:`wait_for_job`: follows the job (:func:`~.follower.follow_job`) until it ends, reaches a target
  status, or the deadline passes, writing each log line through a :class:`~.log_lines.LogWriter`; it
  never raises for the job's or Studio's sake, so a trigger yields exactly one event.
- :func:`cancel_job`: cancel-on-kill and cancel-at-deadline; a job that already finished is not an
  error, and a Studio outage is waited out for :data:`CANCEL_GRACE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from ..api import AsyncStudioApi, AsyncStudioClient
from ..errors import StudioDeadlineExceeded, StudioError, StudioNotFoundError, StudioValidationError
from ..models import Job, JobStatus, LogLine
from ..retry import RECONNECT_BACKOFF
from .deadline import Deadline
from .follower import LogEvent, StatusEvent, follow_job
from .log_lines import LogWriter, split_lines
from .poll import keep_trying
from .results import MAX_RETURNED, JobWaitResult, WaitEnd

#: The prefix of a Studio log line in the Airflow task log.
LOG_PREFIX = "[studio {job_id}] "
#: How long a cancel (or a pause) keeps trying while Studio is unreachable (an outage, a deploy), beyond
#: the client's own retries: a task that gave up on its work must not leave it running unseen.
CANCEL_GRACE_SECONDS = 300.0
#: Log lines written between two yields to the event loop (a triggerer's loop is shared).
LINES_PER_YIELD = 200


def status_said(job: Job) -> str:
    """The job's status name; for a status this provider does not know, what Studio said (capped)."""
    said = job.raw.get("status")
    if job.status is JobStatus.UNKNOWN and isinstance(said, str) and said:
        return said[:80]
    return job.status.value


def _finished(job: Job, *, job_url: str | None, last_log_id: int | None, deadline: Deadline) -> JobWaitResult:
    if job.status is JobStatus.COMPLETE:
        message = f"Studio job {job.id} completed."
    else:
        message = f"Studio job {job.id} ended with status {job.status.value}."
    return JobWaitResult(
        end=WaitEnd.FINISHED,
        job_id=job.id,
        job_url=job.url or job_url,
        status=job.status.value,
        exit_code=job.exit_code,
        error_message=job.error_message,
        message=message,
        last_log_id=last_log_id,
        deadline=deadline.at,
    )


async def wait_for_job(
    client: AsyncStudioClient,
    job_id: str,
    *,
    job_url: str | None = None,
    deadline: Deadline,
    after_log_id: int | None = None,
    poll_interval: float = 10.0,
    use_websocket: bool = True,
    writer: LogWriter | None = None,
    on_line: Callable[[LogLine], object] | None = None,
    target_statuses: Collection[JobStatus] = (),
    catch: str | None = None,
    **follow_options: Any,
) -> JobWaitResult:
    """Follow a job until it ends (or reaches one of ``target_statuses``) and say how the wait ended.

    Never raises for the job's or Studio's sake: the deadline and fatal errors become results.

    :param client: the async client (the loop's shared one).
    :param job_id: the job.
    :param job_url: its URL, when already known.
    :param deadline: when to stop waiting.
    :param after_log_id: resume the log after this line id.
    :param poll_interval: seconds between REST reads while the WebSocket is unavailable.
    :param use_websocket: follow over the WebSocket (``False``: REST polling only).
    :param writer: writes the job's log lines (``None``: the log is not followed).
    :param on_line: told of each line once it is written (the trigger keeps its resume point).
    :param target_statuses: also stop at these (possibly non-terminal) statuses.
    :param catch: a line that starts with this text is not written but caught: the last one's rest is
        the result's ``returned`` (the log is followed for it even without a ``writer``).
    :param follow_options: more :class:`~.follower.JobFollower` options.
    """
    last_log_id = after_log_id
    targets = frozenset(target_statuses)
    job: Job | None = None
    written = 0
    caught: list[str] = []
    events = follow_job(
        client,
        job_id,
        deadline=deadline,
        after_log_id=after_log_id,
        poll_interval=poll_interval,
        use_websocket=use_websocket,
        with_logs=writer is not None or catch is not None,
        **follow_options,
    )
    try:
        # aclosing: stopping early (a target status) closes the socket now, not at garbage collection.
        async with aclosing(events):
            async for event in events:
                if isinstance(event, LogEvent):
                    if last_log_id is None or event.line.id > last_log_id:
                        last_log_id = event.line.id
                    if catch is not None and catch in event.line.message:
                        kept = [part for part in split_lines(event.line.message) if not part.startswith(catch)]
                        caught.extend(part[len(catch) :] for part in split_lines(event.line.message) if part.startswith(catch))
                        message = "\n".join(kept)
                    else:
                        message = event.line.message
                    if writer is not None and message:
                        written += writer.write(message)
                    if on_line is not None:
                        on_line(event.line)
                    if written >= LINES_PER_YIELD:
                        written = 0
                        await asyncio.sleep(0)  # let the other triggers of this loop run
                elif isinstance(event, StatusEvent):
                    job = event.job
                    if job.status.is_terminal or job.status in targets:
                        break
    except StudioDeadlineExceeded:
        return JobWaitResult(
            end=WaitEnd.DEADLINE,
            job_id=job_id,
            job_url=(job.url if job else None) or job_url,
            status=status_said(job) if job else None,
            message=(
                f"The deadline {deadline.describe()} passed while Studio job {job_id} was still running"
                f"{f' (last status {status_said(job)})' if job else ''}."
            ),
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    except StudioError as exc:
        return JobWaitResult(
            end=WaitEnd.ERROR,
            job_id=job_id,
            job_url=(job.url if job else None) or job_url,
            status=status_said(job) if job else None,
            message=f"Following Studio job {job_id} failed: {exc}",
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    finally:
        if writer is not None:
            writer.close((job.url if job else None) or job_url)
    if job is None:  # the follower always ends with a status; be explicit if it ever does not
        return JobWaitResult(
            end=WaitEnd.ERROR,
            job_id=job_id,
            job_url=job_url,
            message=f"Following Studio job {job_id} ended without a status.",
            last_log_id=last_log_id,
            deadline=deadline.at,
        )
    result = _finished(job, job_url=job_url, last_log_id=last_log_id, deadline=deadline)
    if caught:
        value = caught[-1]
        if len(value) > MAX_RETURNED:
            return replace(result, returned_size=len(value))
        return replace(result, returned=value)
    return result


def _already_finished(job_id: str, job: Job | None) -> str:
    status = job.status.value if job is not None else "unknown"
    return f"Studio job {job_id} was not cancelled: it had already finished (status {status})."


async def _cancel_once(api: AsyncStudioApi, job_id: str, log: Any) -> None:
    try:
        await api.cancel_job(job_id=job_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            job: Job | None = await api.get_job(job_id=job_id)
        except StudioError:
            job = None
        if job is not None and job.status.is_terminal:
            log.info(_already_finished(job_id, job))
            return
        raise exc
    log.info("Cancellation of Studio job %s requested.", job_id)


async def cancel_job(
    api: AsyncStudioApi,
    job_id: str,
    *,
    log: logging.Logger | Any,
    reason: str,
    grace: float = CANCEL_GRACE_SECONDS,
) -> None:
    """Ask Studio to cancel a job; a job that already finished is logged, not an error. While Studio is
    unreachable (5xx, 429, connection failures) the cancel is tried again for at most ``grace`` seconds.

    The worker runs this same coroutine (:func:`~.worker.run_on_worker`) as the trigger's ``on_kill``.

    :param api: the async client (or hook).
    :param job_id: the job.
    :param log: where to say what happened.
    :param reason: why (for the log), such as ``"the task was killed"``.
    :param grace: how long to keep trying while Studio is unreachable.
    :raises StudioError: when Studio refused the cancel, or stayed unreachable for ``grace`` seconds.
    """
    log.info("Cancelling Studio job %s: %s.", job_id, reason)
    try:
        await keep_trying(
            lambda: _cancel_once(api, job_id, log),
            grace=grace,
            backoff=RECONNECT_BACKOFF,
            what=f"cancel Studio job {job_id}",
            logger=log,
        )
    except StudioError as exc:
        log.error("Could not cancel Studio job %s: %s", job_id, exc)
        raise


async def wait_until_canceled(client: AsyncStudioClient, job_id: str, *, deadline: Deadline, poll_interval: float) -> Job:
    """Poll a job until it is terminal (CANCELED, or whatever it ended with) or the deadline passes.

    :raises StudioDeadlineExceeded: when the deadline passes first.
    :raises StudioError: when following the job failed for good.
    """
    result = await wait_for_job(client, job_id, deadline=deadline, poll_interval=poll_interval, use_websocket=False)
    if result.end is WaitEnd.DEADLINE:
        raise deadline.exceeded(f"Studio job {job_id} to be cancelled")
    if result.end is WaitEnd.ERROR:
        raise StudioError(result.message)
    return await client.get_job(job_id=job_id)


__all__ = ["CANCEL_GRACE_SECONDS", "LOG_PREFIX", "cancel_job", "wait_for_job", "wait_until_canceled"]
