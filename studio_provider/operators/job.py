"""Run Studio jobs from Airflow: :class:`StudioRunJobOperator`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from studio_provider.assets import StudioDatasetEventsMixin
from studio_provider.client import Job, JobStatus
from studio_provider.client import validation as check
from studio_provider.client.lookups import job_url
from studio_provider.client.redaction import cap
from studio_provider.client.waiting import (
    LOG_PREFIX,
    Deadline,
    JobWaitResult,
    LogWriter,
    WaitEnd,
    cancel_job,
    run_on_worker,
    wait_for_job,
)
from studio_provider.compat import task_state_store
from studio_provider.exceptions import (
    StudioDeadlinePassedError,
    StudioInputError,
    StudioJobFailedError,
    StudioTaskError,
    input_errors,
)
from studio_provider.links import JOB_ID_XCOM_KEY, JOB_URL_XCOM_KEY, StudioJobLink
from studio_provider.operators import job_inputs
from studio_provider.operators.base import StudioWaitingOperator
from studio_provider.operators.recurring import register_recurring
from studio_provider.operators.submission import (
    Decision,
    Phase,
    RemoteKind,
    Submission,
    earlier_tries,
    has_marker,
    submit_once,
    task_marker,
    with_marker,
)
from studio_provider.triggers.job import StudioJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store keys (Airflow 3.3+). Renaming them breaks in-flight retries: keep them.
JOB_ID_STATE_KEY = "studio_job_id"
DEADLINE_STATE_KEY = "studio_job_deadline"
#: How many of the team's newest jobs are searched for the task's marker.
MARKER_LOOKUP_LIMIT = 100
#: How long reading back the log of a job that already completed may take.
REPLAY_SECONDS = 600.0
#: The largest ``metrics`` or ``params`` (as JSON) kept in the task's return value (it goes to XCom).
MAX_RESULT_FIELD = 64 * 1024


def job_phase(job: Job, *, scheduled: bool = False) -> Phase:
    """How the submission rule judges a job: still active, succeeded, or failed. A status this version
    does not know is still active (never a success, never a reason to submit a second job).

    :param job: the job.
    :param scheduled: the task registers a scheduled job (``TASK``/``SCHEDULED`` count as success).
    """
    if scheduled and job.status in (JobStatus.TASK, JobStatus.SCHEDULED):
        return Phase.SUCCEEDED
    if not job.status.is_terminal:
        return Phase.ACTIVE
    return Phase.SUCCEEDED if job.status is JobStatus.COMPLETE else Phase.FAILED


def find_job_by_marker(hook: Any, marker: str, limit: int = MARKER_LOOKUP_LIMIT) -> Job | None:
    """The newest of the team's recent jobs whose name carries ``marker``, or ``None``."""
    return next((job for job in hook.list_jobs(limit=limit) if has_marker(job.name, marker)), None)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    try:
        if start and end:
            begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
            return (datetime.fromisoformat(end.replace("Z", "+00:00")) - begin).total_seconds()
    except ValueError:
        return None
    return None


def studio_field(job: Job, name: str) -> Any:
    """A JSON field of the job (``metrics``, ``params``) as Studio sent it, dropped when it is not an
    object or larger than :data:`MAX_RESULT_FIELD` once encoded (it is the server's)."""
    import json

    value = job.raw.get(name)
    if not isinstance(value, dict):
        return None
    try:
        return value if len(json.dumps(value, default=str)) <= MAX_RESULT_FIELD else None
    except (TypeError, ValueError):
        return None


class StudioRunJobOperator(StudioDatasetEventsMixin, StudioWaitingOperator[JobWaitResult]):
    """Submit a DataChain Studio job, wait for it (deferred or on the worker) with its log lines in the
    task log, and fail unless it completes.

    Exactly one Studio job is created per task instance, across retries, worker crashes and lost
    responses (see :mod:`studio_provider.operators.submission`); a retry after a failed or cancelled job
    continues from that job's checkpoints (``retry_from_checkpoint``). ``job_id`` and ``job_url`` are
    pushed to XCom before waiting. The return value is a dict: ``job_id``, ``job_url``, ``status``,
    ``exit_code``, ``duration_seconds``, ``metrics``, ``params`` and ``dataset_versions`` (the dataset
    versions the job produced; each is also an asset event on every ``AssetAlias`` in ``outlets``, and in
    OpenLineage: :mod:`studio_provider.assets`). A failure raises
    :class:`~studio_provider.exceptions.StudioJobFailedError`, which carries the exit code, Studio's error
    message and stack, metrics and params.

    Besides the job's own parameters below, it takes the waiting parameters of
    :class:`~studio_provider.operators.base.StudioWaitingOperator` (``studio_conn_id``, ``team``,
    ``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout``, ``stream_logs``,
    ``use_websocket``, ``max_log_lines``, ``max_log_bytes``).

    :param query: the script text (templated). Exclusive with ``query_file``.
    :param query_file: a path to the script, read at execute time (templated); a relative path starts
        at the DAG file's folder.
    :param query_type: ``PYTHON`` or ``SHELL``; default ``PYTHON``, or from ``query_file``'s suffix
        (``.py``: PYTHON, anything else: SHELL).
    :param query_name: the job's name (default: ``query_file``'s name); a marker identifying the task is
        appended to it.
    :param environment: a dict or ``KEY=VALUE`` lines (templated); it wins over ``env_file``.
    :param env_file: a ``.env`` file of ``KEY=VALUE`` lines (templated), as ``datachain job run
        --env-file`` reads it; relative to the DAG file's folder.
    :param requirements: pip requirements, a list or lines (templated), added to ``requirements_file``'s.
    :param requirements_file: a pip requirements file (templated), as ``--req-file``; relative to the DAG
        file's folder.
    :param files: local paths uploaded before the job is created (templated); relative paths start at the
        DAG file's folder.
    :param file_ids: ids of files already uploaded to Studio (templated).
    :param workers: number of workers (>= 1).
    :param python_version: such as ``"3.12"`` (templated).
    :param repository: a Git repository URL (templated).
    :param priority: 0 (runs first) to 5.
    :param compute_cluster_name: the cluster by name (templated); exclusive with ``compute_cluster_id``.
    :param compute_cluster_id: the cluster by id.
    :param credentials_name: the Studio credentials to use (templated).
    :param start_after: do not start before this time (templated); the operator registers the job and
        returns without waiting.
    :param cron_expression: run on this schedule (templated): the operator keeps **one** recurring Studio
        task for this Airflow task (created once, replaced when its settings change) and returns without
        waiting; ``start_after`` defaults to now, as the CLI does.
    :param reset: ignore checkpoints of earlier runs.
    :param rerun_from_job_id: continue from this earlier job (templated).
    :param retry_from_checkpoint: on a retry after the task's job failed or was cancelled, continue from
        that job (Studio's checkpoints) instead of starting over (default ``True``).
    :param pass_airflow_context: pass the DAG run's identity to the job as ``AIRFLOW_CTX_*`` environment
        variables (and OpenLineage's parent run when that provider is installed); default ``True``.
    :param pass_dag_params: also pass the DAG's ``params`` as JSON in ``AIRFLOW_CTX_PARAMS``.
    :param cancel_on_kill: cancel the job when the task is killed, or a deferred task is marked
        failed/success or cleared (Airflow 3.3+).
    """

    template_fields: Sequence[str] = (
        "query",
        "query_file",
        "query_name",
        "environment",
        "env_file",
        "requirements",
        "requirements_file",
        "files",
        "file_ids",
        "python_version",
        "repository",
        "compute_cluster_name",
        "credentials_name",
        "start_after",
        "cron_expression",
        "rerun_from_job_id",
        "studio_conn_id",
        "team",
    )
    template_fields_renderers = {"query": "py", "environment": "json", "requirements": "txt"}
    ui_color = "#945dd6"
    operator_extra_links = (StudioJobLink(),)
    result_type = JobWaitResult
    deadline_state_key: ClassVar[str] = DEADLINE_STATE_KEY

    def __init__(
        self,
        *,
        query: str | None = None,
        query_file: str | None = None,
        query_type: str | None = None,
        query_name: str | None = None,
        environment: str | Mapping[str, object] | None = None,
        env_file: str | None = None,
        requirements: str | Sequence[str] | None = None,
        requirements_file: str | None = None,
        files: Sequence[str] | None = None,
        file_ids: Sequence[str | int] | None = None,
        workers: int | None = None,
        python_version: str | None = None,
        repository: str | None = None,
        priority: int | None = None,
        compute_cluster_name: str | None = None,
        compute_cluster_id: int | None = None,
        credentials_name: str | None = None,
        start_after: str | datetime | None = None,
        cron_expression: str | None = None,
        reset: bool | None = None,
        rerun_from_job_id: str | None = None,
        retry_from_checkpoint: bool = True,
        pass_airflow_context: bool = True,
        pass_dag_params: bool = False,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Checks that need no rendering run here, so a DAG with bad arguments fails to load.
        with input_errors():
            self.query_type = None if query_type is None else check.query_type(query_type)
            self.workers = None if workers is None else check.int_in_range("workers", workers, 1)
            self.priority = None if priority is None else check.int_in_range("priority", priority, 0, 5)
            self.compute_cluster_id = (
                None
                if compute_cluster_id is None
                else check.int_in_range("compute_cluster_id", compute_cluster_id, 0)
            )
            check.not_both(
                ("compute_cluster_name", "compute_cluster_id"), (compute_cluster_name, compute_cluster_id)
            )
            self.validate_query_source(query, query_file)
        self.query = query
        self.query_file = query_file
        self.query_name = query_name
        self.environment = environment
        self.env_file = env_file
        self.requirements = requirements
        self.requirements_file = requirements_file
        self.files = files
        self.file_ids = file_ids
        self.python_version = python_version
        self.repository = repository
        self.compute_cluster_name = compute_cluster_name
        self.credentials_name = credentials_name
        self.start_after = start_after
        self.cron_expression = cron_expression
        self.reset = reset
        self.rerun_from_job_id = rerun_from_job_id
        self.retry_from_checkpoint = bool(retry_from_checkpoint)
        self.pass_airflow_context = bool(pass_airflow_context)
        self.pass_dag_params = bool(pass_dag_params)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.job_id: str | None = None
        #: How this try's wait ended (``None`` when it did not wait).
        self.last_result: JobWaitResult | None = None

    # ---- inputs ----------------------------------------------------------------------------------

    def validate_query_source(self, query: object, query_file: object) -> None:
        """Exactly one of ``query`` and ``query_file`` (a subclass building the query otherwise overrides
        this and :meth:`get_query`)."""
        if query is not None and query_file is not None:
            raise StudioInputError(f"{self.task_id}: query and query_file are mutually exclusive: pass only one.")
        if query is None and query_file is None:
            raise StudioInputError(f"{self.task_id}: pass the script as query (its text) or query_file (a path).")

    def get_query(self, context: Context) -> str:
        """The job's script text: ``query``, or the content of ``query_file``. Override to build it
        another way (the ``@task.datachain_studio`` decorator does).

        :raises StudioInputError: when the query is empty or the file is missing.
        """
        if self.query_file is not None:
            path = job_inputs.local_path("query_file", self.query_file, job_inputs.dag_folder(context))
            text = path.read_text(encoding="utf-8")
            if not text.strip():
                raise StudioInputError(f"query_file {str(path)!r} is empty: the job needs a script.")
            return text
        if not isinstance(self.query, str) or not self.query.strip():
            raise StudioInputError(f"query must be a non-empty script text, got {self.query!r}.")
        return self.query

    def get_query_type(self) -> str:
        """``PYTHON`` or ``SHELL``: as given, else from ``query_file``'s suffix, else ``PYTHON``."""
        if self.query_type is not None:
            return self.query_type
        if self.query_file is not None:
            return "PYTHON" if str(self.query_file).endswith(".py") else "SHELL"
        return "PYTHON"

    def get_query_name(self) -> str | None:
        """The job's name before the task marker is appended: ``query_name`` or the file's name."""
        if self.query_name:
            return str(self.query_name)
        return Path(str(self.query_file)).name if self.query_file else None

    def _environment(self, context: Context, base: Path | None) -> dict[str, str]:
        values: dict[str, str] = {}
        # A recurring task runs outside any DAG run: no run's identity (it would also change its settings).
        if self.pass_airflow_context and not self.cron_expression:
            values.update(job_inputs.airflow_environment(context, with_params=self.pass_dag_params))
        if self.env_file:
            values.update(job_inputs.read_env_file(job_inputs.local_path("env_file", self.env_file, base)))
        if self.environment:
            for line in check.environment(self.environment).splitlines():
                key, _, value = line.partition("=")
                values[key] = value
        return values

    def _requirements(self, base: Path | None) -> str | None:
        lines: list[str] = []
        if self.requirements_file:
            path = job_inputs.local_path("requirements_file", self.requirements_file, base)
            lines.extend(job_inputs.read_requirements_file(path))
        if self.requirements:
            lines.extend(check.lines("requirements", self.requirements).splitlines())
        return "\n".join(lines) or None

    def _job_arguments(self, context: Context) -> dict[str, Any]:
        """Every ``create_job`` argument but the name and the uploaded files, checked; nothing is sent."""
        base = job_inputs.dag_folder(context)
        check.not_both(
            ("compute_cluster_name", "compute_cluster_id"),
            (self.compute_cluster_name, self.compute_cluster_id),
        )
        start_after = self.start_after
        if self.cron_expression and not start_after:
            start_after = datetime.now(timezone.utc)  # as the CLI does: from now on
        environment = self._environment(context, base)
        arguments: dict[str, Any] = {
            "query": self.get_query(context),
            "query_type": self.get_query_type(),
            "workers": self.workers,
            "python_version": self.python_version or None,
            "repository": self.repository or None,
            "priority": self.priority,
            "compute_cluster_name": self.compute_cluster_name or None,
            "compute_cluster_id": self.compute_cluster_id,
            "credentials_name": self.credentials_name or None,
            "reset": self.reset,
            "rerun_from_job_id": self.rerun_from_job_id or None,
            "requirements": self._requirements(base),
            "environment": check.environment(environment) if environment else None,
            "start_after": check.iso_datetime("start_after", start_after) if start_after else None,
            "cron_expression": (
                check.cron_expression("cron_expression", str(self.cron_expression)) if self.cron_expression else None
            ),
        }
        return {key: value for key, value in arguments.items() if value is not None}

    def _uploads(self, context: Context) -> tuple[list[Path], list[str]]:
        paths = job_inputs.local_paths("files", self.files, job_inputs.dag_folder(context))
        ids = check.id_list("file_ids", self.file_ids) if self.file_ids else []
        return paths, ids

    @property
    def scheduled(self) -> bool:
        """The task registers a scheduled job (``start_after`` or ``cron_expression``) and does not wait."""
        return self.start_after not in (None, "") or self.cron_expression not in (None, "")

    # ---- submission ------------------------------------------------------------------------------

    def _create(self, arguments: dict[str, Any], uploads: tuple[list[Path], list[str]], name: str) -> Job:
        paths, ids = uploads
        uploaded = [self.hook.upload_file(file=path).id for path in paths]
        if uploaded:
            self.log.info("Uploaded %d file(s) for the job: ids %s.", len(uploaded), ", ".join(uploaded))
        job: Job = self.hook.create_job(query_name=name, files=[*uploaded, *ids] or None, **arguments)
        return job

    def _job_kind(self, arguments: dict[str, Any], uploads: tuple[list[Path], list[str]], marker: str) -> RemoteKind[Job]:
        name = with_marker(self.get_query_name(), marker)
        scheduled = self.scheduled

        def create(failed: Job | None) -> Job:
            given = dict(arguments)
            continuing = (
                failed is not None
                and self.retry_from_checkpoint
                and failed.status in (JobStatus.FAILED, JobStatus.CANCELED)
                and not self.rerun_from_job_id
                and not self.reset
            )
            if continuing:
                assert failed is not None
                given["rerun_from_job_id"] = failed.id
                self.log.info(
                    "Continuing from Studio job %s (%s in an earlier try): Studio resumes from its "
                    "checkpoints (retry_from_checkpoint=False starts over).",
                    failed.id,
                    failed.status.value,
                )
            return self._create(given, uploads, name)

        return RemoteKind(
            noun="Studio job",
            get=lambda job_id: self.hook.get_job(job_id=job_id),
            find=lambda mark: find_job_by_marker(self.hook, mark),
            create=create,
            id_of=lambda job: job.id,
            phase=lambda job: job_phase(job, scheduled=scheduled),
        )

    def submit(self, context: Context) -> Submission[Job]:
        """Validate everything, then own exactly one job for this task (the submission rule)."""
        with input_errors():
            arguments = self._job_arguments(context)
            uploads = self._uploads(context)
        marker = task_marker(context, self.hook.config.token)
        if self.cron_expression:
            job, decision = register_recurring(
                self.hook, context, arguments, lambda name: self._create(arguments, uploads, name),
                self.get_query_name(), log=self.log,
            )
            return Submission(job, job.id, decision)
        return submit_once(
            self._job_kind(arguments, uploads, marker),
            marker=marker,
            state_key=JOB_ID_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
            earlier=earlier_tries(context),
        )

    # ---- execution -------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        """Submit (once), push ``job_id``/``job_url``, then wait (deferred or here) unless told not to."""
        submission = self.submit(context)
        job = submission.remote
        self.job_id = self.remote_id = job.id
        url = job_url(self.hook.config, job)
        ti = context["ti"]
        ti.xcom_push(key=JOB_ID_XCOM_KEY, value=job.id)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        self.log.info(
            "Studio job %s (%s), status %s: %s", job.id, submission.decision.value, job.status.value, url
        )

        if submission.decision is Decision.ALREADY_SUCCEEDED and self.wait_for_completion and not self.scheduled:
            self.last_result = self.replay_log(context, job.id, url)
            return self.record_studio_datasets(context, self.summarize(job))
        if self.scheduled or not self.wait_for_completion:
            if self.scheduled:
                self.log.info("Registered the scheduled Studio job %s; not waiting for its runs.", job.id)
            return self.record_studio_datasets(context, self.summarize(job))

        deadline = self.deadline(context, created=submission.created)
        if deadline.at is not None:
            self.log.info("Waiting for Studio job %s until %s.", job.id, deadline.describe())
        trigger = StudioJobTrigger(
            job.id,
            studio_conn_id=self.studio_conn_id,
            team=self.team,
            job_url=url,
            deadline=deadline.at,
            poll_interval=self.poll_interval,
            stream_logs=self.stream_logs,
            use_websocket=self.use_websocket,
            cancel_on_kill=self.cancel_on_kill,
            max_log_lines=self.max_log_lines,
            max_log_bytes=self.max_log_bytes,
            deferred_at=time.time(),
            **self.trigger_options(context),
        )
        writer = None
        if self.stream_logs:
            writer = LogWriter(self._write, prefix=LOG_PREFIX.format(job_id=job.id), limits=self.log_limits)
        result = self.defer_or_wait(
            lambda: trigger,
            lambda client: wait_for_job(
                client,
                job.id,
                job_url=url,
                deadline=deadline,
                poll_interval=self.poll_interval,
                use_websocket=self.use_websocket,
                writer=writer,
                **self.wait_options(context),
            ),
        )
        return self.finish(context, result)

    def replay_log(self, context: Context, job_id: str, url: str) -> JobWaitResult:
        """Follow the log of a job an earlier try saw through (it completed while no try was waiting, as
        when a worker died) once more: each try has its own task log, and this one, the try that
        succeeds, shows the job's lines (unless ``stream_logs`` is off). Returns the finished wait."""
        writer = None
        if self.stream_logs:
            self.log.info("Studio job %s completed after an earlier try of this task ended; its log follows.", job_id)
            writer = LogWriter(self._write, prefix=LOG_PREFIX.format(job_id=job_id), limits=self.log_limits)
        deadline = Deadline.after(REPLAY_SECONDS)
        return run_on_worker(
            self.hook.config,
            lambda client: wait_for_job(
                client,
                job_id,
                job_url=url,
                deadline=deadline,
                poll_interval=self.poll_interval,
                use_websocket=self.use_websocket,
                writer=writer,
                **self.wait_options(context),
            ),
        )

    def trigger_options(self, context: Context) -> dict[str, Any]:
        """More :class:`~studio_provider.triggers.job.StudioJobTrigger` arguments (a subclass's)."""
        return {}

    def wait_options(self, context: Context) -> dict[str, Any]:
        """More :func:`~studio_provider.client.waiting.wait_for_job` arguments for the worker path."""
        return {}

    def _write(self, line: str) -> None:
        self.log.info("%s", line)

    def finish(self, context: Context, result: JobWaitResult) -> dict[str, Any]:
        """The task's outcome: the summary dict when the job completed (its dataset versions recorded as
        asset events), an exception otherwise."""
        self.job_id = self.remote_id = result.job_id
        self.last_result = result
        where = result.job_url or "(no URL)"
        if result.end is WaitEnd.DEADLINE:
            deadline = Deadline(result.deadline).describe()
            self.stop_remote(result.job_id, f"its deadline {deadline} passed")
            last = f", last status {result.status}" if result.status else ""
            raise StudioDeadlinePassedError(
                f"Studio job {result.job_id} at {where} did not finish by its deadline {deadline} "
                f"({self.deadline_source()}{last}); it was cancelled.",
                remote_id=result.job_id,
                url=result.job_url,
                status=result.status,
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(
                f"{result.message} Job: {where}",
                remote_id=result.job_id,
                url=result.job_url,
                status=result.status,
            )
        job_id = result.job_id
        job = self.read_through_outage(lambda client: client.get_job(job_id=job_id), f"read Studio job {job_id}")
        if result.job_status is not JobStatus.COMPLETE:
            raise self.failure(job, result)
        return self.record_studio_datasets(context, self.summarize(job))

    def failure(self, job: Job, result: JobWaitResult) -> StudioJobFailedError:
        """The error of a job that ended other than COMPLETE, with what Studio said about it."""
        status = result.job_status
        exit_code = result.exit_code if result.exit_code is not None else job.exit_code
        details = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        message = result.error_message or job.error_message or "Studio gave no error message"
        stack = job.raw.get("error_stack")
        return StudioJobFailedError(
            f"Studio job {result.job_id} ended with status {status.value} ({details}): {message}. "
            f"See {result.job_url or '(no URL)'}",
            remote_id=result.job_id,
            url=result.job_url,
            status=status.value,
            exit_code=exit_code,
            error_message=cap(message),
            error_stack=cap(stack) if isinstance(stack, str) and stack else None,
            metrics=studio_field(job, "metrics"),
            params=studio_field(job, "params"),
        )

    def summarize(self, job: Job) -> dict[str, Any]:
        """The task's return value for a job (the dataset versions only for a completed one)."""
        versions = (
            [
                asdict(ref)
                for ref in self.read_through_outage(
                    lambda client: client.get_dataset_job_versions(job_id=job.id),
                    f"read the dataset versions of Studio job {job.id}",
                )
            ]
            if job.status is JobStatus.COMPLETE
            else []
        )
        return {
            "job_id": job.id,
            "job_url": job_url(self.hook.config, job),
            "status": job.status.value,
            "exit_code": job.exit_code,
            "duration_seconds": _seconds_between(job.started_at, job.finished_at),
            "metrics": studio_field(job, "metrics"),
            "params": studio_field(job, "params"),
            "dataset_versions": versions,
        }

    @property
    def stops_on_kill(self) -> bool:
        return self.cancel_on_kill

    def stop_remote(self, remote_id: str, reason: str) -> None:
        """Cancel the job (the trigger's ``on_kill`` runs the same code)."""
        run_on_worker(self.hook.config, lambda client: cancel_job(client, remote_id, log=self.log, reason=reason))


__all__ = ["StudioRunJobOperator", "find_job_by_marker", "job_phase"]
