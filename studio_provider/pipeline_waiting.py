"""Waiting for a Studio pipeline run from Airflow, written once for the deferred and the worker path.

The pipeline twin of :mod:`studio_provider.waiting` (whose :class:`~studio_provider.waiting.WaitEnd`,
deadline and parameter checks it reuses):

- :class:`PipelineWaitResult`: the outcome of one wait and the trigger's event payload;
- :func:`pipeline_to_result`: the client's :func:`~studio_provider.client.pipelines_wait.wait_for_pipeline`,
  turned into a result (never raises for Studio's sake, so a trigger yields exactly one event);
- :func:`wait_pipeline_on_worker`: the same under ``asyncio.run`` in the worker;
- :func:`pause_run` / :func:`apause_run`: what the API allows instead of a cancel (deadline, kill), where a
  run already paused or finished is not an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from studio_provider.client import (
    AsyncStudioClient,
    Pipeline,
    PipelineStatus,
    StudioError,
    StudioNotFoundError,
    StudioValidationError,
)
from studio_provider.client.errors import StudioDeadlineExceeded
from studio_provider.client.pipelines_wait import (
    FailedJobRun,
    Sink,
    failed_job_runs,
    failure_message,
    wait_for_pipeline,
)
from studio_provider.client.wait import Deadline
from studio_provider.wait_events import payload_fields
from studio_provider.waiting import WaitEnd, run_on_worker

if TYPE_CHECKING:
    from studio_provider.hooks.studio import StudioHook


@dataclass(frozen=True)
class PipelineWaitResult:
    """The outcome of waiting for one pipeline run: the trigger's event payload and the worker wait's result.

    :param end: why the wait ended (:class:`~studio_provider.waiting.WaitEnd`).
    :param pipeline_id: the run.
    :param url: its URL in Studio.
    :param name: its name.
    :param status: its last known status (a :class:`~studio_provider.client.PipelineStatus` name).
    :param completed: job runs completed.
    :param total: job runs in all.
    :param error_message: Studio's error message of the run.
    :param failures: the failed job runs (:meth:`FailedJobRun.to_dict`).
    :param message: a sentence for the task log.
    :param deadline: the deadline, as epoch seconds.
    """

    end: WaitEnd
    pipeline_id: str
    url: str | None = None
    name: str | None = None
    status: str | None = None
    completed: int | None = None
    total: int | None = None
    error_message: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    deadline: float | None = None

    @property
    def pipeline_status(self) -> PipelineStatus:
        """The status as an enum (``UNKNOWN`` when missing or unrecognised)."""
        return PipelineStatus.parse(self.status)

    @property
    def failed_job_runs(self) -> list[FailedJobRun]:
        """The failed job runs, typed."""
        return [FailedJobRun.from_dict(item) for item in self.failures]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (primitives only), as a ``TriggerEvent`` payload."""
        data = asdict(self)
        data["end"] = self.end.value
        return data

    @classmethod
    def from_dict(cls, data: object) -> PipelineWaitResult:
        """Read a payload back, checking it.

        :raises ValueError: when the payload is not one this class wrote.
        """
        data, end, deadline = payload_fields(cls, data, "Studio pipeline wait result")
        pipeline_id = data.get("pipeline_id")
        if not isinstance(pipeline_id, str) or not pipeline_id:
            raise ValueError(f"Invalid 'pipeline_id' in a Studio pipeline wait result: {pipeline_id!r}.")
        failures = data.get("failures") or []
        if not isinstance(failures, list) or not all(isinstance(item, Mapping) for item in failures):
            raise ValueError(f"Invalid 'failures' in a Studio pipeline wait result: {failures!r}.")
        for name in ("completed", "total"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"Invalid {name!r} in a Studio pipeline wait result: {value!r}.")
        text = {key: None if data.get(key) is None else str(data[key]) for key in ("url", "name", "status")}
        return cls(
            end=end,
            pipeline_id=pipeline_id,
            completed=data.get("completed"),
            total=data.get("total"),
            error_message=None if data.get("error_message") is None else str(data["error_message"]),
            failures=[dict(item) for item in failures],
            message=str(data.get("message") or ""),
            deadline=deadline,
            **text,
        )


def _from_pipeline(
    end: WaitEnd,
    pipeline: Pipeline,
    *,
    url: str | None,
    deadline: Deadline,
    message: str,
    failures: list[FailedJobRun] | None = None,
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
        failures=[item.to_dict() for item in failures or ()],
        message=message,
        deadline=deadline.at,
    )


async def pipeline_to_result(
    client: AsyncStudioClient,
    pipeline_id: str,
    *,
    url: str | None,
    deadline: Deadline,
    poll_interval: float,
    targets: Collection[PipelineStatus] = (PipelineStatus.COMPLETED,),
    on_progress: Sink | None = None,
    stream_logs: bool = False,
    on_log: Sink | None = None,
    use_websocket: bool = True,
) -> PipelineWaitResult:
    """Wait for a pipeline to reach a target or terminal status and say how the wait ended.

    A run that ended outside ``targets`` comes with its failed job runs and their error messages.

    :param client: the async client (the loop's shared one).
    :param pipeline_id: the run.
    :param url: its Studio URL.
    :param deadline: when to stop waiting.
    :param poll_interval: seconds between status reads.
    :param targets: statuses that count as reached.
    :param on_progress: receives progress lines.
    :param stream_logs: follow each job run's log lines.
    :param on_log: receives each prefixed log line.
    :param use_websocket: follow logs over the WebSocket (``False``: REST polling).
    """
    readings: list[Pipeline] = []

    def progress(line: str) -> None:
        if on_progress is not None:
            on_progress(line)

    try:
        final = await wait_for_pipeline(
            client,
            pipeline_id,
            deadline=deadline,
            poll_interval=poll_interval,
            targets=targets,
            on_progress=progress,
            stream_logs=stream_logs,
            on_log=on_log,
            use_websocket=use_websocket,
            on_reading=readings.append,
        )
        if final.status in targets:
            return _from_pipeline(
                WaitEnd.FINISHED,
                final,
                url=url,
                deadline=deadline,
                message=f"Studio pipeline {final.name or pipeline_id} reached {final.status.value}.",
            )
        failures = await failed_job_runs(client, final)
        return _from_pipeline(
            WaitEnd.FINISHED,
            final,
            url=url,
            deadline=deadline,
            message=failure_message(final, failures, url or pipeline_id),
            failures=failures,
        )
    except StudioDeadlineExceeded:
        message = (
            f"The deadline {deadline.describe()} passed while Studio pipeline {pipeline_id} was still "
            "running."
        )
        if readings:
            return _from_pipeline(WaitEnd.DEADLINE, readings[-1], url=url, deadline=deadline, message=message)
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


def wait_pipeline_on_worker(hook: StudioHook, pipeline_id: str, **kwargs: Any) -> PipelineWaitResult:
    """Run :func:`pipeline_to_result` in the worker (the non-deferrable path), in a fresh event loop.

    :param hook: gives the connection's settings.
    :param pipeline_id: the run.
    :param kwargs: as for :func:`pipeline_to_result`.
    """
    return run_on_worker(hook, pipeline_to_result, pipeline_id, **kwargs)


def _refused_pause(pipeline_id: str, exc: StudioError, pipeline: Pipeline | None, log: Any) -> None:
    """Studio refused the pause: log it when the run is already paused or finished, else raise ``exc``."""
    if pipeline is not None and pipeline.status is PipelineStatus.PAUSED:
        log.info("Studio pipeline %s is already PAUSED.", pipeline_id)
    elif pipeline is not None and pipeline.status.is_terminal:
        status = pipeline.status.value
        log.info("Studio pipeline %s was not paused: it had already finished (%s).", pipeline_id, status)
    else:
        raise exc


def pause_run(hook: StudioHook, pipeline_id: str, *, log: Any, reason: str) -> None:
    """Pause a run (Studio has no cancel for pipelines: running jobs finish, no new ones start). A run
    that is already paused or finished is logged, not an error.

    :param hook: the connection.
    :param pipeline_id: the run.
    :param log: where to say what happened.
    :param reason: why, such as ``"the task was killed"``.
    """
    log.info("Pausing Studio pipeline %s: %s.", pipeline_id, reason)
    try:
        hook.pause_pipeline(pipeline_id=pipeline_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            pipeline: Pipeline | None = hook.get_pipeline(pipeline_id=pipeline_id)
        except StudioError:
            pipeline = None
        _refused_pause(pipeline_id, exc, pipeline, log)
        return
    log.info("Studio pipeline %s paused.", pipeline_id)


async def apause_run(client: AsyncStudioClient, pipeline_id: str, *, log: Any, reason: str) -> None:
    """The coroutine twin of :func:`pause_run`, for triggers."""
    log.info("Pausing Studio pipeline %s: %s.", pipeline_id, reason)
    try:
        await client.pause_pipeline(pipeline_id=pipeline_id)
    except (StudioValidationError, StudioNotFoundError) as exc:
        try:
            pipeline: Pipeline | None = await client.get_pipeline(pipeline_id=pipeline_id)
        except StudioError:
            pipeline = None
        _refused_pause(pipeline_id, exc, pipeline, log)
        return
    log.info("Studio pipeline %s paused.", pipeline_id)


__all__ = ["PipelineWaitResult", "apause_run", "pause_run", "pipeline_to_result", "wait_pipeline_on_worker"]
