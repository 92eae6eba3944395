"""Waiting for a Studio pipeline run, and pausing one: the one implementation the trigger and the worker run.

- :func:`wait_for_pipeline`: polls the run (:func:`~.poll.poll_until`) until a target or terminal status
  or the deadline, reporting progress, and (``writers``) follows each job run's log lines through the
  job follower; it never raises for Studio's sake, so a trigger yields exactly one event.
- :func:`pause_run`: what the API allows instead of a cancel (deadline, kill); a run already paused or
  finished is not an error, and a Studio outage is waited out as a cancel is.

**An unknown status** is not terminal: the run is still in progress as far as the wait can tell (the job
follower treats an unknown job status the same way). It never passes for a target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ..api import AsyncStudioApi, AsyncStudioClient
from ..errors import StudioDeadlineExceeded, StudioError, StudioNotFoundError, StudioValidationError
from ..models import JobStatus, Pipeline, PipelineStatus
from ..retry import RECONNECT_BACKOFF
from .deadline import Deadline
from .jobs import CANCEL_GRACE_SECONDS, wait_for_job
from .log_lines import LogWriter, escape
from .poll import keep_trying, poll_until
from .results import FailedJobRun, PipelineWaitResult, WaitEnd

log = logging.getLogger(__name__)

#: Longest pause, after a run ended, for its job-run log followers to deliver their last lines.
FOLLOW_GRACE = 15.0

Sink = Callable[[str], object]
#: Builds the log writer of one job run from its prefix (``"[name] "``).
WriterFactory = Callable[[str], LogWriter]


def progress_lines(previous: Pipeline | None, current: Pipeline) -> list[str]:
    """What changed between two readings of a run, as log lines: the status and ``completed/total``,
    then each job run whose status changed, with its Studio job id (names escaped: they come from Studio).

    :param previous: the earlier reading (``None`` for the first).
    :param current: the new reading.
    """
    lines: list[str] = []
    label = escape(current.name or current.pipeline_id)
    if (
        previous is None
        or previous.status is not current.status
        or (previous.completed, previous.total) != (current.completed, current.total)
    ):
        lines.append(
            f"Pipeline {label}: {current.status.value}, {current.completed or 0}/{current.total or 0} "
            f"jobs completed."
        )
    before = {run.job_id: run for run in previous.job_runs} if previous is not None else {}
    for run in current.job_runs:
        old = before.get(run.job_id)
        if old is not None and old.status is run.status and old.created_job_id == run.created_job_id:
            continue
        if old is None and run.status is JobStatus.PENDING and not run.created_job_id:
            continue
        job = f"Studio job {escape(run.created_job_id)}" if run.created_job_id else "no Studio job started"
        lines.append(f"  job run {escape(run.name or run.job_id or '?')}: {run.status.value} ({job})")
    return lines


async def failed_job_runs(api: AsyncStudioApi, pipeline: Pipeline) -> list[FailedJobRun]:
    """The run's failed job runs, with their Studio jobs' error messages (a job that cannot be read is
    listed without one). Job runs skipped because a parent failed never started and are not listed.

    :param api: an async client or hook.
    :param pipeline: the final reading of the run.
    """
    failed = []
    for run in pipeline.job_runs:
        if run.status is not JobStatus.FAILED and not (run.status is JobStatus.CANCELED and run.created_job_id):
            continue
        message: str | None = None
        exit_code: int | None = None
        if run.created_job_id:
            try:
                job = await api.get_job(job_id=run.created_job_id)
            except StudioError as exc:
                log.warning("Could not read Studio job %s of job run %s: %s", run.created_job_id, run.name, exc)
            else:
                message, exit_code = job.error_message, job.exit_code
        failed.append(FailedJobRun(run.name, run.job_id, run.created_job_id, run.status.value, message, exit_code))
    return failed


def failure_message(pipeline: Pipeline, failures: Sequence[FailedJobRun], url: str) -> str:
    """Why a run did not complete: its status, error, failed job runs and URL.

    :param pipeline: the final reading.
    :param failures: its failed job runs.
    :param url: its Studio URL.
    """
    label = pipeline.name or pipeline.pipeline_id
    text = f"Studio pipeline {label} ({pipeline.pipeline_id}) ended {pipeline.status.value}"
    if pipeline.error_message:
        text += f": {pipeline.error_message}"
    if failures:
        text += ". Failed job runs: " + "; ".join(item.describe() for item in failures)
    return f"{text}. See {url}"


def is_done(status: PipelineStatus, targets: Collection[PipelineStatus]) -> bool:
    """Whether waiting ends: a target status, or a terminal one (``UNKNOWN`` is neither).

    :param status: the current status.
    :param targets: the statuses waited for.
    """
    return status in targets or status.is_terminal


def _result(
    end: WaitEnd,
    pipeline: Pipeline,
    *,
    url: str | None,
    deadline: Deadline,
    message: str,
    failures: Sequence[FailedJobRun] = (),
) -> PipelineWaitResult:
    return PipelineWaitResult(
        end=end,
        pipeline_id=pipeline.pipeline_id,
        url=url,
        name=pipeline.name,
        status=pipeline.status.value,
        completed=pipeline.completed,
        total=pipeline.total,
        error_message=pipeline.error_message,
        failures=[item.to_dict() for item in failures],
        message=message,
        deadline=deadline.at,
    )


async def wait_for_pipeline(
    client: AsyncStudioClient,
    pipeline_id: str,
    *,
    url: str | None,
    deadline: Deadline,
    poll_interval: float,
    targets: Collection[PipelineStatus] = (PipelineStatus.COMPLETED,),
    on_progress: Sink | None = None,
    writers: WriterFactory | None = None,
    use_websocket: bool = True,
) -> PipelineWaitResult:
    """Poll a pipeline run until it reaches a target or terminal status, and say how the wait ended.

    A run that ended outside ``targets`` comes with its failed job runs and their error messages.

    :param client: the async client (the loop's shared one).
    :param pipeline_id: the run.
    :param url: its Studio URL.
    :param deadline: when to stop waiting.
    :param poll_interval: seconds between status reads.
    :param targets: statuses that count as reached.
    :param on_progress: receives progress lines.
    :param writers: follow each job run's log lines into the writer this makes (``None``: no logs).
    :param use_websocket: follow those logs over the WebSocket (``False``: REST polling).
    """
    followers: dict[str, asyncio.Task[Any]] = {}
    readings: list[Pipeline] = []

    def on_change(pipeline: Pipeline) -> None:
        if pipeline.status is PipelineStatus.UNKNOWN and (
            not readings or readings[-1].status is not PipelineStatus.UNKNOWN
        ):
            log.warning(
                "Studio reported status %.80r for pipeline %s, which this provider does not know: still "
                "waiting (it is not taken for an end).",
                pipeline.raw.get("status"),
                pipeline_id,
            )
        if on_progress is not None:
            for line in progress_lines(readings[-1] if readings else None, pipeline):
                on_progress(line)
        readings[:] = [pipeline]
        if writers is not None:
            for run in pipeline.job_runs:
                job_id = run.created_job_id
                if job_id and job_id not in followers:
                    writer = writers(f"[{escape(run.name or run.job_id or job_id)}] ")
                    followers[job_id] = asyncio.ensure_future(
                        wait_for_job(
                            client,
                            job_id,
                            deadline=deadline,
                            poll_interval=poll_interval,
                            use_websocket=use_websocket,
                            writer=writer,
                        )
                    )

    try:
        try:
            final = await poll_until(
                lambda: client.get_pipeline(pipeline_id=pipeline_id),
                lambda pipeline: is_done(pipeline.status, targets),
                interval=poll_interval,
                deadline=deadline,
                on_change=on_change,
                what=f"Studio pipeline {pipeline_id}",
            )
            if followers:
                # Let each follower deliver the last lines of its (now finished) job.
                grace = Deadline.after(deadline.cap(max(FOLLOW_GRACE, poll_interval)))
                await asyncio.wait(list(followers.values()), timeout=grace.remaining())
            if final.status in targets:
                message = f"Studio pipeline {final.name or pipeline_id} reached {final.status.value}."
                return _result(WaitEnd.FINISHED, final, url=url, deadline=deadline, message=message)
            failures = await failed_job_runs(client, final)
            message = failure_message(final, failures, url or pipeline_id)
            return _result(WaitEnd.FINISHED, final, url=url, deadline=deadline, message=message, failures=failures)
        except StudioDeadlineExceeded:
            message = (
                f"The deadline {deadline.describe()} passed while Studio pipeline {pipeline_id} was still running."
            )
            if readings:
                return _result(WaitEnd.DEADLINE, readings[-1], url=url, deadline=deadline, message=message)
            return PipelineWaitResult(
                end=WaitEnd.DEADLINE, pipeline_id=pipeline_id, url=url, message=message, deadline=deadline.at
            )
        except StudioError as exc:
            return PipelineWaitResult(
                end=WaitEnd.ERROR,
                pipeline_id=pipeline_id,
                url=url,
                message=f"Waiting for Studio pipeline {pipeline_id} failed: {exc}",
                deadline=deadline.at,
            )
    finally:
        for task in followers.values():
            task.cancel()
        for task in followers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _pause_once(api: AsyncStudioApi, pipeline_id: str, log: Any) -> None:
    try:
        await api.pause_pipeline(pipeline_id=pipeline_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            pipeline: Pipeline | None = await api.get_pipeline(pipeline_id=pipeline_id)
        except StudioError:
            pipeline = None
        if pipeline is not None and pipeline.status is PipelineStatus.PAUSED:
            log.info("Studio pipeline %s is already PAUSED.", pipeline_id)
        elif pipeline is not None and pipeline.status.is_terminal:
            status = pipeline.status.value
            log.info("Studio pipeline %s was not paused: it had already finished (%s).", pipeline_id, status)
        else:
            raise exc
        return
    log.info("Studio pipeline %s paused.", pipeline_id)


async def pause_run(
    api: AsyncStudioApi,
    pipeline_id: str,
    *,
    log: logging.Logger | Any,
    reason: str,
    grace: float = CANCEL_GRACE_SECONDS,
) -> None:
    """Pause a run (Studio has no cancel for pipelines: running jobs finish, no new ones start). A run
    that is already paused or finished is logged, not an error; while Studio is unreachable the pause is
    tried again for at most ``grace`` seconds, as :func:`~.jobs.cancel_job` does.

    :param api: the async client (or hook).
    :param pipeline_id: the run.
    :param log: where to say what happened.
    :param reason: why, such as ``"the task was killed"``.
    :param grace: how long to keep trying while Studio is unreachable.
    :raises StudioError: when Studio refused the pause, or stayed unreachable for ``grace`` seconds.
    """
    log.info("Pausing Studio pipeline %s: %s.", pipeline_id, reason)
    try:
        await keep_trying(
            lambda: _pause_once(api, pipeline_id, log),
            grace=grace,
            backoff=RECONNECT_BACKOFF,
            what=f"pause Studio pipeline {pipeline_id}",
            logger=log,
        )
    except StudioError as exc:
        log.error("Could not pause Studio pipeline %s: %s", pipeline_id, exc)
        raise


__all__ = [
    "failed_job_runs",
    "failure_message",
    "is_done",
    "pause_run",
    "progress_lines",
    "wait_for_pipeline",
]
