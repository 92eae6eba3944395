"""Operators for Studio pipelines: create a definition and run it, run an existing one, pause, resume.

The waiting is :class:`~studio_provider.operators.base.StudioWaitingOperator`'s: deferred to
:class:`~studio_provider.triggers.pipeline.StudioPipelineTrigger`, or the same wait
(:func:`~studio_provider.client.waiting.wait_for_pipeline`) on the worker; both end in
:meth:`_PipelineWaiting.finish`. Definitions and runs are created through the one submission rule
(:func:`~studio_provider.operators.submission.submit_once`): a lost response is resolved by listing,
never by a blind second request.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from studio_provider.assets import StudioDatasetEventsMixin
from studio_provider.client import Pipeline, PipelineStatus, StudioValidationError
from studio_provider.client import validation as check
from studio_provider.client.lookups import (
    definitions_from,
    newest_unknown,
    pipeline_url,
    resolve_definition,
    runs_of,
)
from studio_provider.client.redaction import cap
from studio_provider.client.waiting import (
    Deadline,
    LogWriter,
    PipelineWaitResult,
    WaitEnd,
    pause_run,
    run_on_worker,
    wait_for_pipeline,
)
from studio_provider.compat import task_state_store
from studio_provider.exceptions import StudioDeadlinePassedError, StudioPipelineFailedError, StudioTaskError
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook
from studio_provider.links import (
    DEFINITION_ID_XCOM_KEY,
    PIPELINE_ID_XCOM_KEY,
    PIPELINE_NAME_XCOM_KEY,
    PIPELINE_URL_XCOM_KEY,
    StudioPipelineLink,
)
from studio_provider.operators.base import StudioWaitingOperator
from studio_provider.operators.submission import Phase, RemoteKind, Submission, submit_once, task_marker
from studio_provider.triggers.pipeline import StudioPipelineTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store keys (Airflow 3.3+). Renaming them breaks in-flight retries: keep them.
DEFINITION_STATE_KEY = "studio_pipeline_definition_id"
RUN_STATE_KEY = "studio_pipeline_run_id"
DEADLINE_STATE_KEY = "studio_pipeline_deadline"


def run_phase(pipeline: Pipeline) -> Phase:
    """How the submission rule judges a run: COMPLETED succeeded, FAILED and CANCELED failed, and
    anything else (PENDING, RUNNING, PAUSED, or a status this provider does not know) is still active:
    an unknown status is never taken for an end, as for jobs."""
    if pipeline.status is PipelineStatus.COMPLETED:
        return Phase.SUCCEEDED
    if pipeline.status.is_terminal:
        return Phase.FAILED
    return Phase.ACTIVE


def summarize(pipeline: Pipeline, url: str) -> dict[str, Any]:
    """The task's return value: the pipeline's final state, JSON-safe."""
    return {
        "pipeline_id": pipeline.pipeline_id,
        "name": pipeline.name,
        "url": url,
        "status": pipeline.status.value,
        "is_definition": pipeline.is_definition,
        "definition_id": pipeline.raw.get("definition_id"),
        "completed": pipeline.completed,
        "total": pipeline.total,
        "error_message": None if pipeline.error_message is None else cap(pipeline.error_message),
        "job_runs": [
            {
                "name": run.name,
                "job_id": run.job_id,
                "studio_job_id": run.created_job_id,
                "status": run.status.value,
            }
            for run in pipeline.job_runs
        ],
    }


class _PipelineWaiting(StudioDatasetEventsMixin, StudioWaitingOperator[PipelineWaitResult]):
    """What the run operators share: starting a run once, XCom, waiting (deferred or here), the outcome.

    :param pause_on_kill: pause the run when the task is killed, or a deferred task is marked
        failed/success or cleared (Airflow 3.3+). Studio has no cancel for pipelines: running jobs
        finish, no new ones start.
    """

    operator_extra_links = (StudioPipelineLink(),)
    ui_color = "#e8f0fe"
    result_type = PipelineWaitResult
    deadline_state_key: ClassVar[str] = DEADLINE_STATE_KEY

    def __init__(self, *, pause_on_kill: bool = True, stream_logs: bool = False, **kwargs: Any) -> None:
        if "cancel_on_kill" in kwargs:
            warnings.warn(
                "cancel_on_kill is pause_on_kill on the pipeline operators (Studio pauses a run; it has no "
                "cancel); pass pause_on_kill.",
                DeprecationWarning,
                stacklevel=2,
            )
            pause_on_kill = bool(kwargs.pop("cancel_on_kill"))
        super().__init__(stream_logs=stream_logs, **kwargs)
        self.pause_on_kill = bool(pause_on_kill)

    def url_of(self, pipeline: Pipeline | str) -> str:
        """The pipeline's Studio URL."""
        return pipeline_url(self.hook.config, pipeline)

    def _push(self, context: Context, pipeline: Pipeline, definition: Pipeline | None = None) -> None:
        ti = context["ti"]
        ti.xcom_push(key=PIPELINE_ID_XCOM_KEY, value=pipeline.pipeline_id)
        ti.xcom_push(key=PIPELINE_NAME_XCOM_KEY, value=pipeline.name)
        ti.xcom_push(key=PIPELINE_URL_XCOM_KEY, value=self.url_of(pipeline))
        if definition is not None:
            ti.xcom_push(key=DEFINITION_ID_XCOM_KEY, value=definition.pipeline_id)

    def start_run(self, context: Context, definition: Pipeline) -> Submission[Pipeline]:
        """Own exactly one run of ``definition`` for this task; a lost ``run`` response is resolved by
        listing the definition's runs that did not exist before the request."""
        hook = self.hook
        known = {item.pipeline_id for item in runs_of(hook, definition)}
        kind: RemoteKind[Pipeline] = RemoteKind(
            noun="Studio pipeline run",
            get=lambda pipeline_id: hook.get_pipeline(pipeline_id=pipeline_id),
            find=lambda _marker: newest_unknown(runs_of(hook, definition), known),
            create=lambda: hook.run_pipeline(definition_id=definition.pipeline_id),
            id_of=lambda pipeline: pipeline.pipeline_id,
            phase=run_phase,
        )
        return submit_once(
            kind,
            marker=task_marker(context),
            state_key=RUN_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
        )

    def run_and_wait(self, context: Context, definition: Pipeline) -> dict[str, Any]:
        """Start the run once, push it to XCom, and wait for it (deferred or here) unless told not to."""
        submission = self.start_run(context, definition)
        run = submission.remote
        self.remote_id = run.pipeline_id
        url = self.url_of(run)
        self._push(context, run, definition)
        self.log.info(
            "Studio pipeline run %s of %s (%s): %s, status %s.",
            run.pipeline_id,
            run.name,
            submission.decision.value,
            url,
            run.status.value,
        )
        if not self.wait_for_completion or run_phase(run) is Phase.SUCCEEDED:
            return self.record_studio_datasets(context, summarize(run, url))
        deadline = self.deadline(context, created=submission.created)
        if deadline.at is not None:
            self.log.info("Waiting for Studio pipeline %s until %s.", run.pipeline_id, deadline.describe())
        trigger = StudioPipelineTrigger(
            run.pipeline_id,
            studio_conn_id=self.studio_conn_id,
            team=self.team,
            pipeline_url=url,
            deadline=deadline.at,
            poll_interval=self.poll_interval,
            stream_logs=self.stream_logs,
            use_websocket=self.use_websocket,
            pause_on_kill=self.pause_on_kill,
            max_log_lines=self.max_log_lines,
            max_log_bytes=self.max_log_bytes,
        )

        def writers(prefix: str) -> LogWriter:
            return LogWriter(self._write, prefix=prefix, limits=self.log_limits)

        result = self.defer_or_wait(
            lambda: trigger,
            lambda client: wait_for_pipeline(
                client,
                run.pipeline_id,
                url=url,
                deadline=deadline,
                poll_interval=self.poll_interval,
                on_progress=self._write,
                writers=writers if self.stream_logs else None,
                use_websocket=self.use_websocket,
            ),
        )
        return self.finish(context, result)

    def _write(self, line: str) -> None:
        self.log.info("%s", line)

    def finish(self, context: Context, result: PipelineWaitResult) -> dict[str, Any]:
        """The task's outcome: the final state when the run completed, an exception otherwise."""
        self.remote_id = result.pipeline_id
        url = result.url or self.url_of(result.pipeline_id)
        label = f"Studio pipeline {result.name or result.pipeline_id} ({result.pipeline_id}, {url})"
        if result.end is WaitEnd.DEADLINE:
            deadline = Deadline(result.deadline).describe()
            self.stop_remote(result.pipeline_id, f"its deadline {deadline} passed")
            raise StudioDeadlinePassedError(
                f"{label} did not finish by its deadline {deadline}; it was paused (resume it in Studio or "
                f"with StudioResumePipelineOperator).",
                remote_id=result.pipeline_id,
                url=url,
                status=result.status,
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(f"{result.message} Pipeline: {url}", remote_id=result.pipeline_id, url=url)
        if result.pipeline_status is not PipelineStatus.COMPLETED:
            raise StudioPipelineFailedError(
                result.message, remote_id=result.pipeline_id, url=url, status=result.status
            )
        self.log.info("%s completed: %s/%s jobs.", label, result.completed, result.total)
        return self.record_studio_datasets(context, summarize(self.hook.get_pipeline(pipeline_id=result.pipeline_id), url))

    @property
    def stops_on_kill(self) -> bool:
        return self.pause_on_kill

    def stop_remote(self, remote_id: str, reason: str) -> None:
        """Pause the run (the trigger's ``on_kill`` runs the same code)."""
        run_on_worker(self.hook.config, lambda client: pause_run(client, remote_id, log=self.log, reason=reason))


class StudioTriggerPipelineOperator(_PipelineWaiting):
    """Create a Studio pipeline definition from the datasets it should rebuild, apply settings, and
    (``run=True``) run it, waiting for the run like :class:`StudioRunPipelineOperator`.

    ``pipeline_id``, ``pipeline_name``, ``pipeline_url`` (the run's, or the definition's without a run)
    and ``definition_id`` go to XCom before any waiting. Returns the pipeline's final state as a dict.

    :param datasets: dataset references (templated): ``name``, ``name@v1.2.3``, ``@ns.project.name@v1.2.3``.
    :param environment: ``KEY=VALUE`` text or a mapping, merged over each job's environment (templated).
    :param requirements: pip requirements, text or a list of lines (templated).
    :param python_version: Python version for the jobs.
    :param workers: workers per job (>= 1).
    :param priority: 0 (first) to 5.
    :param files: uploaded file ids for the jobs (templated).
    :param credentials_names: Studio credentials the jobs use.
    :param run: start a run after creating the definition (default ``True``).
    :param pause_on_kill: pause the run when the task is killed (Studio has no pipeline cancel).

    It also takes the waiting parameters of :class:`~studio_provider.operators.base.StudioWaitingOperator`
    (``studio_conn_id``, ``team``, ``wait_for_completion``, ``deferrable``, ``poll_interval``,
    ``timeout``, ``use_websocket``, ``max_log_lines``, ``max_log_bytes``, and ``stream_logs``, here off
    by default: each job run's log lines, prefixed with its name); on ``timeout`` the run is paused and
    the task fails naming the pipeline and its URL.
    """

    template_fields: Sequence[str] = (
        "datasets",
        "environment",
        "requirements",
        "files",
        "studio_conn_id",
        "team",
    )

    def __init__(
        self,
        *,
        datasets: Sequence[str] | str,
        environment: str | Mapping[str, object] | None = None,
        requirements: str | Sequence[str] | None = None,
        python_version: str | None = None,
        workers: int | None = None,
        priority: int | None = None,
        files: Sequence[str | int] | None = None,
        credentials_names: Sequence[str] | None = None,
        run: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.datasets = datasets
        self.environment = environment
        self.requirements = requirements
        self.python_version = python_version
        self.workers = workers
        self.priority = priority
        self.files = files
        self.credentials_names = credentials_names
        self.run = run

    def settings(self) -> dict[str, Any]:
        """The definition settings to apply, checked (a ``ValueError`` names the bad one)."""
        values = {
            "environment": None if self.environment is None else check.environment(self.environment),
            "requirements": None
            if self.requirements is None
            else check.lines("requirements", self.requirements),
            "python_version": self.python_version,
            "workers": None if self.workers is None else check.int_in_range("workers", self.workers, 1),
            "priority": None
            if self.priority is None
            else check.int_in_range("priority", self.priority, 0, 5),
            "files": None if self.files is None else check.id_list("files", self.files),
            "credentials_names": None if self.credentials_names is None else list(self.credentials_names),
        }
        return {key: value for key, value in values.items() if value is not None}

    def create_definition(self, context: Context, datasets: list[str]) -> Submission[Pipeline]:
        """Own exactly one definition for this task; a lost ``trigger`` response is resolved by listing
        the definitions of these datasets that did not exist before the request."""
        hook = self.hook
        known = {item.pipeline_id for item in definitions_from(hook, datasets)}
        kind: RemoteKind[Pipeline] = RemoteKind(
            noun="Studio pipeline definition",
            get=lambda pipeline_id: hook.get_pipeline(pipeline_id=pipeline_id),
            find=lambda _marker: newest_unknown(definitions_from(hook, datasets), known),
            create=lambda: hook.trigger_pipeline(datasets=datasets),
            id_of=lambda pipeline: pipeline.pipeline_id,
            phase=lambda _pipeline: Phase.SUCCEEDED,  # a definition, once there, is reused as it is
        )
        return submit_once(
            kind,
            marker=task_marker(context),
            state_key=DEFINITION_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the input, create the definition (once), apply its settings, then run and wait."""
        datasets = check.dataset_refs([self.datasets] if isinstance(self.datasets, str) else self.datasets)
        settings = self.settings()
        definition = self.create_definition(context, datasets).remote
        self.log.info(
            "Studio pipeline definition %s (%s) of %s: %d job runs.",
            definition.name,
            definition.pipeline_id,
            ", ".join(datasets),
            definition.total or 0,
        )
        if settings:
            if not definition.name:
                raise StudioTaskError(f"Studio pipeline definition {definition.pipeline_id} has no name.")
            definition = self.hook.update_pipeline_settings(pipeline_name=definition.name, **settings)
            self.log.info("Applied settings %s to %s.", ", ".join(sorted(settings)), definition.name)
        self._push(context, definition, definition)
        if not self.run:
            return summarize(definition, self.url_of(definition))
        return self.run_and_wait(context, definition)


class StudioRunPipelineOperator(_PipelineWaiting):
    """Run an existing Studio pipeline definition, by ``definition_id`` or by ``pipeline_name``, and wait
    for it as :class:`StudioTriggerPipelineOperator` does (same waiting parameters).

    :param definition_id: the definition's id (templated).
    :param pipeline_name: the definition's name (templated); not both.
    """

    template_fields: Sequence[str] = ("definition_id", "pipeline_name", "studio_conn_id", "team")

    def __init__(
        self, *, definition_id: str | None = None, pipeline_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check.not_both(("definition_id", "pipeline_name"), (definition_id, pipeline_name))
        check.one_of(("definition_id", "pipeline_name"), (definition_id, pipeline_name))
        self.definition_id = definition_id
        self.pipeline_name = pipeline_name

    def execute(self, context: Context) -> dict[str, Any]:
        """Find the definition, start one run of it, and wait."""
        check.not_both(("definition_id", "pipeline_name"), (self.definition_id, self.pipeline_name))
        check.one_of(("definition_id", "pipeline_name"), (self.definition_id, self.pipeline_name))
        definition = resolve_definition(self.hook, definition_id=self.definition_id, name=self.pipeline_name)
        return self.run_and_wait(context, definition)


class _PipelineControl(BaseOperator):
    """Pause or resume one pipeline, by id or name; a pipeline already in the target state is not an error."""

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "studio_conn_id", "team")
    operator_extra_links = (StudioPipelineLink(),)
    target: PipelineStatus
    verb: str

    def __init__(
        self,
        *,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check.not_both(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
        check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.studio_conn_id = studio_conn_id
        self.team = team

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        raise NotImplementedError

    def already(self, pipeline: Pipeline) -> bool:
        return pipeline.status is self.target

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the pipeline; act unless it is already in the target state; return its state."""
        hook = StudioHook(self.studio_conn_id, team=self.team)
        pipeline = hook.get_pipeline(pipeline_id=self.pipeline_id, name=self.pipeline_name)
        url = pipeline_url(hook.config, pipeline)
        context["ti"].xcom_push(key=PIPELINE_URL_XCOM_KEY, value=url)
        if self.already(pipeline):
            self.log.info(
                "Studio pipeline %s (%s) is already %s: nothing to %s.",
                pipeline.name,
                pipeline.pipeline_id,
                pipeline.status.value,
                self.verb,
            )
            return summarize(pipeline, url)
        try:
            pipeline = self.act(hook, pipeline)
        except StudioValidationError as exc:
            raise StudioTaskError(
                f"Could not {self.verb} Studio pipeline {pipeline.name} ({pipeline.pipeline_id}, status "
                f"{pipeline.status.value}): {exc}. See {url}",
                remote_id=pipeline.pipeline_id,
                url=url,
                status=pipeline.status.value,
            ) from exc
        self.log.info(
            "Studio pipeline %s (%s) is now %s.", pipeline.name, pipeline.pipeline_id, pipeline.status.value
        )
        return summarize(pipeline, url)


class StudioPausePipelineOperator(_PipelineControl):
    """Pause a running Studio pipeline run (running jobs finish; no new one starts). A run already
    PAUSED is left alone and the log says so. Returns the pipeline's state.

    :param pipeline_id: the run's id (templated).
    :param pipeline_name: its name (the newest running run of that name); not both.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    target = PipelineStatus.PAUSED
    verb = "pause"

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        return hook.pause_pipeline(pipeline_id=pipeline.pipeline_id)


class StudioResumePipelineOperator(_PipelineControl):
    """Resume a paused Studio pipeline run. A run already RUNNING (or PENDING) is left alone and the log
    says so. Returns the pipeline's state.

    :param pipeline_id: the run's id (templated).
    :param pipeline_name: its name (the newest paused run of that name); not both.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    target = PipelineStatus.RUNNING
    verb = "resume"

    def already(self, pipeline: Pipeline) -> bool:
        return not pipeline.is_definition and pipeline.status in (
            PipelineStatus.RUNNING,
            PipelineStatus.PENDING,
        )

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        if self.pipeline_name and not pipeline.is_definition:
            # By name, Studio resumes the newest paused run of that name (the official client's flow).
            return hook.resume_pipeline(name=self.pipeline_name)
        return hook.resume_pipeline(pipeline_id=pipeline.pipeline_id)


__all__ = [
    "StudioPausePipelineOperator",
    "StudioPipelineFailedError",
    "StudioResumePipelineOperator",
    "StudioRunPipelineOperator",
    "StudioTriggerPipelineOperator",
    "run_phase",
]
