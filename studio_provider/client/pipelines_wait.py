"""Pipeline and schedule conveniences: lookups by name, lost-response reconciliation, progress lines, and
the one pipeline wait (status polling plus, optionally, each job run's logs through the job follower).

Nothing here imports Airflow: the operators, the sensor and the trigger all call these. Lookups are
blocking and take any :class:`~.api.StudioApi` (a :class:`~.api.StudioClient` or the Airflow hook); the
wait is async and runs in the triggerer, or in the worker under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

from .api import AsyncStudioApi, AsyncStudioClient, StudioApi
from .config import StudioConfig
from .errors import StudioError, StudioNotFoundError
from .follow import LogEvent, follow_job
from .models import JobStatus, Pipeline, PipelineStatus, Schedule
from .wait import Deadline, poll_until

log = logging.getLogger(__name__)

#: How many pipelines one reconciliation listing asks for (the API's default is 20).
LIST_LIMIT = 100
#: Longest pause, after a run ended, for its job-run log followers to deliver their last lines.
FOLLOW_GRACE = 15.0

Sink = Callable[[str], object]


# ---- URLs ----------------------------------------------------------------------------------------


def web_url(config: StudioConfig) -> str:
    """Studio's web address: the API URL without its trailing ``/api``.

    :param config: the client configuration.
    """
    return config.url[: -len("/api")] if config.url.endswith("/api") else config.url


def pipeline_url(config: StudioConfig, pipeline: Pipeline | str) -> str:
    """Where a pipeline is shown in Studio: the server's ``url`` field when it sends one, else
    ``<studio>/team/<team>/datasets/pipelines/<pipeline_id>`` (the job pages' layout).

    :param config: the client configuration (URL and team).
    :param pipeline: the pipeline, or its id.
    """
    if isinstance(pipeline, Pipeline):
        sent = pipeline.raw.get("url")
        if isinstance(sent, str) and sent:
            return sent
        pipeline = pipeline.pipeline_id
    team = quote(config.team, safe="")
    return f"{web_url(config)}/team/{team}/datasets/pipelines/{quote(str(pipeline), safe='')}"


# ---- lookups (blocking) ----------------------------------------------------------------------------


def _definition_id(pipeline: Pipeline) -> str | None:
    value = pipeline.raw.get("definition_id")
    return str(value) if value else None


def find_pipeline(api: StudioApi, name: str, *, definition: bool | None = None) -> Pipeline | None:
    """The newest pipeline called exactly ``name``, or ``None``.

    :param api: a client or hook.
    :param name: the pipeline's name (runs carry their definition's name).
    :param definition: ``True`` only definitions, ``False`` only runs, ``None`` either.
    """
    for pipeline in api.list_pipelines(search=name, limit=LIST_LIMIT):
        if pipeline.name == name and (definition is None or pipeline.is_definition is definition):
            return pipeline
    return None


def resolve_definition(
    api: StudioApi, *, definition_id: str | None = None, name: str | None = None
) -> Pipeline:
    """The pipeline definition named by id or by name (a run given by id stands for its definition).

    :param api: a client or hook.
    :param definition_id: the definition's ``pipeline_id``.
    :param name: the definition's name.
    :raises StudioNotFoundError: when no such definition exists.
    """
    if definition_id:
        pipeline = api.get_pipeline(pipeline_id=definition_id)
    else:
        found = find_pipeline(api, str(name), definition=True)
        if found is None:
            raise StudioNotFoundError(f"No Studio pipeline definition is named {name!r}.")
        pipeline = found
    if not pipeline.is_definition:
        parent = _definition_id(pipeline)
        if not parent:
            raise StudioNotFoundError(
                f"Studio pipeline {pipeline.pipeline_id} is a run, not a definition; pass its definition."
            )
        pipeline = api.get_pipeline(pipeline_id=parent)
    return pipeline


def find_schedule(api: StudioApi, schedule_name: str) -> Schedule | None:
    """The schedule called ``schedule_name``, or ``None``.

    :param api: a client or hook.
    :param schedule_name: the schedule's name.
    :raises StudioError: when several schedules carry that name (the caller cannot tell which one it
        manages); the message lists their ids.
    """
    matches = [item for item in api.list_schedules() if item.schedule_name == schedule_name]
    if len(matches) > 1:
        ids = ", ".join(str(item.id) for item in matches)
        raise StudioError(
            f"Several Studio schedules are named {schedule_name!r} (ids {ids}); delete all but one, or "
            f"address them by schedule_id."
        )
    return matches[0] if matches else None


# ---- reconciling a lost trigger or run response ---------------------------------------------------


def _same_datasets(pipeline: Pipeline, triggered_from: str) -> bool:
    sent = pipeline.raw.get("triggered_from")
    return sent is None or str(sent) == triggered_from


def triggered_from(datasets: Sequence[str]) -> str:
    """How Studio records the datasets a definition was triggered from (``"a, b"``).

    :param datasets: the references sent to ``pipeline/trigger``.
    """
    return ", ".join(datasets)


def definitions_from(api: StudioApi, datasets: Sequence[str]) -> list[Pipeline]:
    """The definitions triggered from exactly these datasets, newest first.

    :param api: a client or hook.
    :param datasets: the references of the trigger.
    """
    text = triggered_from(datasets)
    return [
        item
        for item in api.list_pipelines(search=text, limit=LIST_LIMIT)
        if item.is_definition and _same_datasets(item, text)
    ]


def runs_of(api: StudioApi, definition: Pipeline) -> list[Pipeline]:
    """The runs of a definition, newest first (by ``definition_id`` when Studio sends it, else by name).

    :param api: a client or hook.
    :param definition: the definition.
    """
    runs = []
    for item in api.list_pipelines(search=definition.name or definition.pipeline_id, limit=LIST_LIMIT):
        if item.is_definition:
            continue
        parent = _definition_id(item)
        if parent == definition.pipeline_id or (parent is None and item.name == definition.name):
            runs.append(item)
    return runs


def newest_unknown(pipelines: Iterable[Pipeline], known_ids: Collection[str]) -> Pipeline | None:
    """The first (newest) pipeline whose id is not in ``known_ids``: what a lost request created.

    :param pipelines: candidates, newest first.
    :param known_ids: ids that existed before the request was sent.
    """
    for item in pipelines:
        if item.pipeline_id not in known_ids:
            return item
    return None


# ---- progress ------------------------------------------------------------------------------------


def progress_lines(previous: Pipeline | None, current: Pipeline) -> list[str]:
    """What changed between two readings of a run, as log lines: the status and ``completed/total``,
    then each job run whose status changed, with its Studio job id.

    :param previous: the earlier reading (``None`` for the first).
    :param current: the new reading.
    """
    lines: list[str] = []
    label = current.name or current.pipeline_id
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
        job = f"Studio job {run.created_job_id}" if run.created_job_id else "no Studio job started"
        lines.append(f"  job run {run.name or run.job_id}: {run.status.value} ({job})")
    return lines


# ---- the final state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedJobRun:
    """A job run that did not complete, with what its Studio job said.

    :param name: the job run's name.
    :param job_id: the original job's id.
    :param studio_job_id: the job this run started (``None`` when it never started).
    :param status: the job run's status.
    :param error_message: the Studio job's error message.
    :param exit_code: the Studio job's exit code.
    """

    name: str | None
    job_id: str | None
    studio_job_id: str | None
    status: str
    error_message: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Primitives only (for trigger events and XCom)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailedJobRun:
        """Rebuild from :meth:`to_dict`."""
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def describe(self) -> str:
        """One line: name, Studio job, status, exit code and message."""
        parts = [f"{self.name or self.job_id} ({self.status}"]
        if self.studio_job_id:
            parts.append(f", Studio job {self.studio_job_id}")
        if self.exit_code is not None:
            parts.append(f", exit code {self.exit_code}")
        parts.append(")")
        if self.error_message:
            parts.append(f": {self.error_message}")
        return "".join(parts)


async def failed_job_runs(client: AsyncStudioApi, pipeline: Pipeline) -> list[FailedJobRun]:
    """The run's failed job runs, with their Studio jobs' error messages (a job that cannot be read is
    listed without one). Job runs skipped because a parent failed never started and are not listed.

    :param client: an async client or hook.
    :param pipeline: the final reading of the run.
    """
    failed = []
    for run in pipeline.job_runs:
        if run.status is not JobStatus.FAILED and not (
            run.status is JobStatus.CANCELED and run.created_job_id
        ):
            continue
        message: str | None = None
        exit_code: int | None = None
        if run.created_job_id:
            try:
                job = await client.get_job(job_id=run.created_job_id)
            except StudioError as exc:
                log.warning(
                    "Could not read Studio job %s of job run %s: %s", run.created_job_id, run.name, exc
                )
            else:
                message, exit_code = job.error_message, job.exit_code
        failed.append(
            FailedJobRun(run.name, run.job_id, run.created_job_id, run.status.value, message, exit_code)
        )
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


# ---- waiting -------------------------------------------------------------------------------------


def is_done(status: PipelineStatus, targets: Collection[PipelineStatus]) -> bool:
    """Whether waiting ends: a target status, or a terminal one. ``UNKNOWN`` never ends a wait by itself
    (it is not terminal), so it can never pass for success.

    :param status: the current status.
    :param targets: the statuses waited for.
    """
    return status in targets or status.is_terminal


async def wait_for_pipeline(
    client: AsyncStudioClient,
    pipeline_id: str,
    *,
    deadline: Deadline,
    poll_interval: float,
    targets: Collection[PipelineStatus] = (PipelineStatus.COMPLETED,),
    on_progress: Sink | None = None,
    stream_logs: bool = False,
    on_log: Sink | None = None,
    use_websocket: bool = True,
    on_reading: Callable[[Pipeline], object] | None = None,
) -> Pipeline:
    """Poll a pipeline until it reaches a target or terminal status, and return that reading.

    Transient failures are survived until the deadline (:func:`~.wait.poll_until`). With
    ``stream_logs``, every job run that has a Studio job is followed by the job follower, one per job,
    and its lines go to ``on_log`` prefixed with the job run's name.

    :param client: the async client (a shared one in triggers: :func:`~.pool.shared_client`).
    :param pipeline_id: the run (or definition) to watch.
    :param deadline: when to give up.
    :param poll_interval: seconds between status reads.
    :param targets: statuses that end the wait (terminal statuses always do).
    :param on_progress: receives the progress lines (:func:`progress_lines`).
    :param stream_logs: follow each job run's log lines.
    :param on_log: receives each prefixed log line (needed with ``stream_logs``).
    :param use_websocket: ``False`` makes the log followers poll REST only.
    :param on_reading: receives each reading that differs from the previous one.
    :raises StudioDeadlineExceeded: when the deadline passes first.
    """
    followers: dict[str, asyncio.Task[None]] = {}
    last: list[Pipeline] = []

    def on_change(pipeline: Pipeline) -> None:
        if on_reading is not None:
            on_reading(pipeline)
        if on_progress is not None:
            for line in progress_lines(last[-1] if last else None, pipeline):
                on_progress(line)
        last[:] = [pipeline]
        if stream_logs and on_log is not None:
            for run in pipeline.job_runs:
                if run.created_job_id and run.created_job_id not in followers:
                    followers[run.created_job_id] = asyncio.ensure_future(
                        _follow_logs(
                            client,
                            run.created_job_id,
                            run.name or run.job_id or run.created_job_id,
                            deadline,
                            poll_interval,
                            on_log,
                            use_websocket,
                        )
                    )

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
        return final
    finally:
        for task in followers.values():
            task.cancel()
        for task in followers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _follow_logs(
    client: AsyncStudioClient,
    job_id: str,
    prefix: str,
    deadline: Deadline,
    poll_interval: float,
    on_log: Sink,
    use_websocket: bool,
) -> None:
    """Send one job's log lines to ``on_log`` as ``[prefix] line``; a failure costs only the lines."""
    try:
        async for event in follow_job(
            client,
            job_id,
            deadline=deadline,
            poll_interval=poll_interval,
            use_websocket=use_websocket,
            with_logs=True,
        ):
            if isinstance(event, LogEvent):
                on_log(f"[{prefix}] {event.line.message.rstrip()}")
    except StudioError as exc:
        log.warning("Stopped following the logs of Studio job %s (%s): %s", job_id, prefix, exc)


__all__ = [
    "FailedJobRun",
    "definitions_from",
    "failed_job_runs",
    "failure_message",
    "find_pipeline",
    "find_schedule",
    "is_done",
    "newest_unknown",
    "pipeline_url",
    "progress_lines",
    "resolve_definition",
    "runs_of",
    "triggered_from",
    "wait_for_pipeline",
    "web_url",
]
