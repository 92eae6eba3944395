"""Operators that run Studio pipelines: create a definition and run it, or run an existing one.

The waiting is :class:`~studio_provider.operators.base.StudioWaitingOperator`'s: deferred to
:class:`~studio_provider.triggers.pipeline.StudioPipelineTrigger`, or the same wait
(:func:`~studio_provider.client.waiting.wait_for_pipeline`) on the worker; both end in
:meth:`_PipelineWaiting.finish`. Definitions and runs are created through the one submission rule
(:func:`~studio_provider.operators.submission.submit_once`), and each carries the task's secret marker in
its environment (:mod:`~studio_provider.client.lookups.ownership`), so a later try finds what an
earlier one made, on every Airflow version. Pausing and resuming runs is :mod:`.pipeline_control`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from studio_provider.assets import StudioDatasetEventsMixin
from studio_provider.client import Pipeline, PipelineStatus
from studio_provider.client import validation as check
from studio_provider.client.lookups import (
    definitions_from,
    newest_unknown,
    pipeline_url,
    resolve_definition,
    runs_of,
)
from studio_provider.client.lookups.ownership import (
    OWNER_VAR,
    PAUSED_VAR,
    merged_environment,
    newest_owned,
    note_pause,
    paused_by_task,
)
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
from studio_provider.exceptions import (
    StudioDeadlinePassedError,
    StudioPipelineFailedError,
    StudioTaskError,
    input_errors,
)
from studio_provider.links import (
    DEFINITION_ID_XCOM_KEY,
    PIPELINE_ID_XCOM_KEY,
    PIPELINE_NAME_XCOM_KEY,
    PIPELINE_URL_XCOM_KEY,
    StudioPipelineLink,
)
from studio_provider.operators import job_inputs
from studio_provider.operators.base import StudioWaitingOperator
from studio_provider.operators.pipeline_control import (
    StudioPausePipelineOperator,
    StudioResumePipelineOperator,
)
from studio_provider.operators.pipeline_summary import summarize
from studio_provider.operators.submission import (
    Decision,
    Phase,
    RemoteKind,
    Submission,
    earlier_tries,
    submit_once,
    task_marker,
)
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



#: The templated fields of a run's settings, shared by both pipeline operators (with the connection's).
SETTINGS_TEMPLATE_FIELDS = (
    "environment",
    "requirements",
    "python_version",
    "workers",
    "priority",
    "repository",
    "files",
    "file_ids",
    "credentials_names",
    "studio_conn_id",
    "team",
)

class _PipelineWaiting(StudioDatasetEventsMixin, StudioWaitingOperator[PipelineWaitResult]):
    """What the run operators share: the definition's settings, starting a run once, XCom, waiting
    (deferred or here), a retry that finds the run it paused, and the outcome.

    :param environment: ``KEY=VALUE`` text or a mapping, merged over each job's environment (templated).
    :param requirements: pip requirements, text or a list of lines (templated).
    :param python_version: Python version for the jobs (templated).
    :param workers: workers per job, >= 1 (templated).
    :param priority: 0 (first) to 5 (templated).
    :param repository: a Git repository URL for the jobs (templated).
    :param files: local paths, uploaded for the jobs (templated); relative paths start at the DAG
        file's folder. The same meaning as on :class:`~studio_provider.operators.job.StudioRunJobOperator`.
    :param file_ids: ids of files already uploaded to Studio (templated).
    :param credentials_names: Studio credentials the jobs use (templated).
    :param pause_on_kill: pause the run when the task is killed, or a deferred task is marked
        failed/success or cleared (Airflow 3.3+). Studio has no cancel for pipelines: running jobs
        finish, no new one starts. A retry resumes a run this task paused.
    """

    operator_extra_links = (StudioPipelineLink(),)
    ui_color = "#e8f0fe"
    result_type = PipelineWaitResult
    deadline_state_key: ClassVar[str] = DEADLINE_STATE_KEY
    settings_fields: ClassVar[tuple[str, ...]] = (
        "environment",
        "requirements",
        "python_version",
        "workers",
        "priority",
        "repository",
        "files",
        "file_ids",
        "credentials_names",
    )

    def __init__(
        self,
        *,
        environment: str | Mapping[str, object] | None = None,
        requirements: str | Sequence[str] | None = None,
        python_version: str | None = None,
        workers: int | str | None = None,
        priority: int | str | None = None,
        repository: str | None = None,
        files: Sequence[str] | None = None,
        file_ids: Sequence[str | int] | None = None,
        credentials_names: Sequence[str] | None = None,
        pause_on_kill: bool = True,
        stream_logs: bool = False,
        **kwargs: Any,
    ) -> None:
        if "cancel_on_kill" in kwargs:
            warnings.warn(
                "cancel_on_kill is pause_on_kill on the pipeline operators (Studio pauses a run; it has no "
                "cancel); pass pause_on_kill.",
                DeprecationWarning,
                stacklevel=2,
            )
            pause_on_kill = bool(kwargs.pop("cancel_on_kill"))
        super().__init__(stream_logs=stream_logs, **kwargs)
        self.environment = environment
        self.requirements = requirements
        self.python_version = python_version
        self.workers = workers
        self.priority = priority
        self.repository = repository
        self.files = files
        self.file_ids = file_ids
        self.credentials_names = credentials_names
        self.pause_on_kill = bool(pause_on_kill)
        self.definition_name: str | None = None
        with input_errors():  # what is known when the DAG is parsed is checked then
            self._check_numbers(final=False)

    def _check_numbers(self, *, final: bool) -> dict[str, int]:
        checked = {}
        for name, low, high in (("workers", 1, None), ("priority", 0, 5)):
            value = getattr(self, name)
            if value is None or (not final and isinstance(value, str) and "{{" in value):
                continue
            number = int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value
            checked[name] = check.int_in_range(name, number, low, high)
        return checked

    def settings(self, context: Context) -> tuple[dict[str, Any], list[Path]]:
        """The definition settings to apply, checked, and the local files to upload for them."""
        with input_errors():
            values: dict[str, Any] = {
                "requirements": None if self.requirements is None else check.lines("requirements", self.requirements),
                "python_version": self.python_version or None,
                "repository": self.repository or None,
                "credentials_names": None if self.credentials_names is None else [str(n) for n in self.credentials_names],
                **self._check_numbers(final=True),
            }
            if self.environment is not None:
                values["environment"] = check.environment(self.environment)
            paths = job_inputs.local_paths("files", self.files, job_inputs.dag_folder(context))
            if self.file_ids:
                values["files"] = check.id_list("file_ids", self.file_ids)
        return {key: value for key, value in values.items() if value is not None}, paths

    def apply_settings(self, context: Context, definition: Pipeline, marker: str | None) -> Pipeline:
        """Apply the settings to ``definition`` (the task's marker merged into its environment when
        given); the uploads first. Returns the definition as Studio has it now."""
        settings, paths = self.settings(context)
        if not settings and not paths and marker is None:
            return definition
        if not definition.name:
            raise StudioTaskError(f"Studio pipeline definition {definition.pipeline_id} has no name.")
        uploaded = [self.hook.upload_file(file=path).id for path in paths]
        if uploaded:
            settings["files"] = [*uploaded, *settings.get("files", [])]
        given = {}
        for line in str(settings.pop("environment", "")).splitlines():
            key, _, value = line.partition("=")
            if key:
                given[key] = value
        settings["environment"] = merged_environment(definition, given, {OWNER_VAR: marker} if marker else None)
        updated: Pipeline = self.hook.update_pipeline_settings(pipeline_name=definition.name, **settings)
        shown = sorted(set(settings) - {"environment"} | ({"environment"} if given else set()))
        if shown:
            self.log.info("Updated pipeline definition %r: %s.", definition.name, ", ".join(shown))
        return updated

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

    def start_run(self, context: Context, definition: Pipeline, marker: str) -> Submission[Pipeline]:
        """Own exactly one run of ``definition`` for this task. A later try finds the run an earlier one
        started by the marker the definition's environment passed on to it; a lost ``run`` response is
        resolved by listing the definition's runs that did not exist before the request."""
        hook = self.hook
        known = {item.pipeline_id for item in runs_of(hook, definition)}

        def find(_marker: str) -> Pipeline | None:
            runs = runs_of(hook, definition)
            return newest_owned(runs, marker) or newest_unknown(runs, known)

        kind: RemoteKind[Pipeline] = RemoteKind(
            noun="Studio pipeline run",
            get=lambda pipeline_id: hook.get_pipeline(pipeline_id=pipeline_id),
            find=find,
            create=lambda _failed: hook.run_pipeline(definition_id=definition.pipeline_id),
            id_of=lambda pipeline: pipeline.pipeline_id,
            phase=run_phase,
        )
        return submit_once(
            kind,
            marker=marker,
            state_key=RUN_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
            earlier=earlier_tries(context),
        )

    def _resume_if_ours(self, run: Pipeline, definition: Pipeline) -> Pipeline:
        """A run found PAUSED by a retry: resume it when this task paused it, else fail at once."""
        current = self.hook.get_pipeline(pipeline_id=definition.pipeline_id)
        if not paused_by_task(current, run.pipeline_id):
            raise StudioTaskError(
                f"Studio pipeline run {run.name or run.pipeline_id} ({run.pipeline_id}) of this task is PAUSED, "
                f"and not by this task (someone paused it in Studio). Resume it in Studio or with "
                f"StudioResumePipelineOperator, then clear this task. See {self.url_of(run)}",
                remote_id=run.pipeline_id,
                url=self.url_of(run),
                status=run.status.value,
            )
        self.log.info("Resuming Studio pipeline run %s, which an earlier try of this task paused.", run.pipeline_id)
        resumed: Pipeline = self.hook.resume_pipeline(pipeline_id=run.pipeline_id)
        if current.name:
            self.hook.update_pipeline_settings(
                pipeline_name=current.name, environment=merged_environment(current, notes={PAUSED_VAR: None})
            )
        return resumed

    def run_and_wait(self, context: Context, definition: Pipeline, marker: str) -> dict[str, Any]:
        """Start the run once, push it to XCom, and wait for it (deferred or here) unless told not to."""
        submission = self.start_run(context, definition, marker)
        run = submission.remote
        resumed = submission.decision is Decision.RECONNECTED and run.status is PipelineStatus.PAUSED
        if resumed:
            run = self._resume_if_ours(run, definition)
        self.remote_id = run.pipeline_id
        self.definition_name = definition.name
        url = self.url_of(run)
        self._push(context, run, definition)
        self.log.info(
            "Studio pipeline run %s of %s (%s), status %s: %s",
            run.pipeline_id,
            run.name,
            submission.decision.value,
            run.status.value,
            url,
        )
        if not self.wait_for_completion or run_phase(run) is Phase.SUCCEEDED:
            return self.record_studio_datasets(context, summarize(run, url))
        # A resumed run starts over as far as ``timeout`` goes: the deadline that paused it has passed.
        deadline = self.deadline(context, created=submission.created or resumed)
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
            definition_name=definition.name,
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
        label = f"Studio pipeline {result.name or result.pipeline_id} ({result.pipeline_id}) at {url}"
        if result.end is WaitEnd.DEADLINE:
            deadline = Deadline(result.deadline).describe()
            self.definition_name = self.definition_name or result.name
            self.stop_remote(result.pipeline_id, f"its deadline {deadline} passed")
            raise StudioDeadlinePassedError(
                f"{label} did not finish by its deadline {deadline} ({self.deadline_source()}); it was paused "
                f"(a retry resumes it; or resume it in Studio or with StudioResumePipelineOperator).",
                remote_id=result.pipeline_id,
                url=url,
                status=result.status,
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(f"{result.message} Pipeline: {url}", remote_id=result.pipeline_id, url=url)
        if result.pipeline_status is not PipelineStatus.COMPLETED:
            raise StudioPipelineFailedError(result.message, remote_id=result.pipeline_id, url=url, status=result.status)
        self.log.info("%s completed: %s/%s jobs.", label, result.completed, result.total)
        pipeline_id = result.pipeline_id
        final = self.read_through_outage(
            lambda client: client.get_pipeline(pipeline_id=pipeline_id), f"read Studio pipeline {pipeline_id}"
        )
        return self.record_studio_datasets(context, summarize(final, url))

    @property
    def stops_on_kill(self) -> bool:
        return self.pause_on_kill

    def stop_remote(self, remote_id: str, reason: str) -> None:
        """Pause the run, noting on its definition that this task paused it (the trigger's ``on_kill``
        runs the same code)."""
        name = self.definition_name

        async def pause(client: Any) -> None:
            if name:
                await note_pause(client, name, remote_id)
            await pause_run(client, remote_id, log=self.log, reason=reason)

        run_on_worker(self.hook.config, pause)


class StudioTriggerPipelineOperator(_PipelineWaiting):
    """Create a Studio pipeline definition from the datasets it should rebuild, apply settings, and
    (``run=True``) run it, waiting for the run like :class:`StudioRunPipelineOperator`.

    ``pipeline_id``, ``pipeline_name``, ``pipeline_url`` (the run's, or the definition's without a run)
    and ``definition_id`` go to XCom before any waiting. Returns the pipeline's final state as a dict.

    :param datasets: dataset references (templated): ``name``, ``name@v1.2.3``, ``@ns.project.name@v1.2.3``.
    :param run: start a run after creating the definition (default ``True``).

    It also takes the settings of the run operators (``environment``, ``requirements``,
    ``python_version``, ``workers``, ``priority``, ``repository``, ``files``, ``file_ids``,
    ``credentials_names``, ``pause_on_kill``) and the waiting parameters of
    :class:`~studio_provider.operators.base.StudioWaitingOperator` (``studio_conn_id``, ``team``,
    ``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout``, ``use_websocket``,
    ``max_log_lines``, ``max_log_bytes``, and ``stream_logs``, here off by default: each job run's log
    lines, prefixed with its name); on ``timeout`` the run is paused and the task fails naming the
    pipeline and its URL.
    """

    template_fields: Sequence[str] = (
        "datasets",
        *SETTINGS_TEMPLATE_FIELDS,
    )

    def __init__(self, *, datasets: Sequence[str] | str, run: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.datasets = datasets
        self.run = run

    def create_definition(self, context: Context, datasets: list[str], marker: str) -> Submission[Pipeline]:
        """Own exactly one definition for this task: a later try finds it by the marker in its
        environment; a lost ``trigger`` response is resolved by listing the definitions of these datasets
        that did not exist before the request."""
        hook = self.hook
        known = {item.pipeline_id for item in definitions_from(hook, datasets)}

        def find(_marker: str) -> Pipeline | None:
            found = definitions_from(hook, datasets)
            return newest_owned(found, marker) or newest_unknown(found, known)

        kind: RemoteKind[Pipeline] = RemoteKind(
            noun="Studio pipeline definition",
            get=lambda pipeline_id: hook.get_pipeline(pipeline_id=pipeline_id),
            find=find,
            create=lambda _failed: hook.trigger_pipeline(datasets=datasets),
            id_of=lambda pipeline: pipeline.pipeline_id,
            phase=lambda _pipeline: Phase.SUCCEEDED,  # a definition, once there, is reused as it is
        )
        return submit_once(
            kind,
            marker=marker,
            state_key=DEFINITION_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
            earlier=earlier_tries(context),
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Check the input, create the definition (once), mark it and apply its settings, then run and
        wait."""
        with input_errors():
            datasets = check.dataset_refs([self.datasets] if isinstance(self.datasets, str) else self.datasets)
        self.settings(context)  # bad settings fail before anything is created
        marker = task_marker(context, self.hook.config.token)
        definition = self.create_definition(context, datasets, marker).remote
        self.log.info(
            "Studio pipeline definition %s (%s) of %s: %d job runs.",
            definition.name,
            definition.pipeline_id,
            ", ".join(datasets),
            definition.total or 0,
        )
        definition = self.apply_settings(context, definition, marker)
        self._push(context, definition, definition)
        if not self.run:
            return summarize(definition, self.url_of(definition))
        return self.run_and_wait(context, definition, marker)


class StudioRunPipelineOperator(_PipelineWaiting):
    """Run an existing Studio pipeline definition, by ``definition_id`` or by ``pipeline_name``, and wait
    for it as :class:`StudioTriggerPipelineOperator` does (same settings and waiting parameters).

    Settings given here are applied to the definition before the run starts (Studio keeps them for its
    later runs too). The task's marker goes into the definition's environment just before the run starts,
    so the run carries it and a later try finds it (two tasks starting runs of one definition at the very
    same moment may both see the later marker; give each task its own definition to rule that out).

    :param definition_id: the definition's id (templated).
    :param pipeline_name: the definition's name (templated); not both.
    """

    template_fields: Sequence[str] = (
        "definition_id",
        "pipeline_name",
        *SETTINGS_TEMPLATE_FIELDS,
    )

    def __init__(
        self, *, definition_id: str | None = None, pipeline_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        with input_errors():
            check.not_both(("definition_id", "pipeline_name"), (definition_id, pipeline_name))
            check.one_of(("definition_id", "pipeline_name"), (definition_id, pipeline_name))
        self.definition_id = definition_id
        self.pipeline_name = pipeline_name

    def execute(self, context: Context) -> dict[str, Any]:
        """Find the definition, apply settings and the task's marker, start one run of it, and wait."""
        with input_errors():
            check.not_both(("definition_id", "pipeline_name"), (self.definition_id, self.pipeline_name))
            check.one_of(("definition_id", "pipeline_name"), (self.definition_id, self.pipeline_name))
        self.settings(context)
        definition = resolve_definition(self.hook, definition_id=self.definition_id, name=self.pipeline_name)
        marker = task_marker(context, self.hook.config.token)
        definition = self.apply_settings(context, definition, marker)
        return self.run_and_wait(context, definition, marker)


__all__ = [
    "StudioPausePipelineOperator",
    "StudioPipelineFailedError",
    "StudioResumePipelineOperator",
    "StudioRunPipelineOperator",
    "StudioTriggerPipelineOperator",
    "run_phase",
]
