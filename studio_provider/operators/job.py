"""Run Studio jobs from Airflow: :class:`StudioRunJobOperator` and :class:`StudioCancelJobOperator`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from studio_provider.assets import StudioDatasetEventsMixin
from studio_provider.client import Job, JobStatus
from studio_provider.client import validation as check
from studio_provider.client.lookups import job_url
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
from studio_provider.exceptions import StudioDeadlinePassedError, StudioJobFailedError, StudioTaskError
from studio_provider.links import JOB_ID_XCOM_KEY, JOB_URL_XCOM_KEY, StudioJobLink
from studio_provider.operators.base import StudioWaitingOperator
from studio_provider.operators.submission import (
    Decision,
    Phase,
    RemoteKind,
    Submission,
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


def job_phase(job: Job, *, scheduled: bool = False) -> Phase:
    """How the submission rule judges a job: still active, succeeded, or failed.

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


class StudioRunJobOperator(StudioDatasetEventsMixin, StudioWaitingOperator[JobWaitResult]):
    """Submit a DataChain Studio job, wait for it (deferred or on the worker) with its log lines in the
    task log, and fail unless it completes.

    Exactly one Studio job is created per task instance, across retries, worker crashes and lost
    responses (see :mod:`studio_provider.operators.submission`). ``job_id`` and ``job_url`` are pushed
    to XCom before waiting. The return value is a dict: ``job_id``, ``job_url``, ``status``,
    ``exit_code``, ``duration_seconds`` and ``dataset_versions`` (the dataset versions the job produced;
    each is also an asset event on every ``AssetAlias`` in ``outlets``, and in OpenLineage:
    :mod:`studio_provider.assets`).

    Besides the job's own parameters below, it takes the waiting parameters of
    :class:`~studio_provider.operators.base.StudioWaitingOperator` (``studio_conn_id``, ``team``,
    ``wait_for_completion``, ``deferrable``, ``poll_interval``, ``timeout``, ``stream_logs``,
    ``use_websocket``, ``max_log_lines``, ``max_log_bytes``).

    :param query: the script text (templated). Exclusive with ``query_file``.
    :param query_file: a path to the script, read at execute time (templated).
    :param query_type: ``PYTHON`` or ``SHELL``; default ``PYTHON``, or from ``query_file``'s suffix
        (``.py``: PYTHON, anything else: SHELL).
    :param query_name: the job's name (default: ``query_file``'s name); a marker identifying the task is
        appended to it.
    :param environment: a dict or ``KEY=VALUE`` lines (templated).
    :param requirements: pip requirements, a list or lines (templated).
    :param files: local paths uploaded before the job is created (templated).
    :param workers: number of workers (>= 1).
    :param python_version: such as ``"3.12"`` (templated).
    :param repository: a Git repository URL (templated).
    :param priority: 0 (runs first) to 5.
    :param compute_cluster_name: the cluster by name (templated); exclusive with ``compute_cluster_id``.
    :param compute_cluster_id: the cluster by id.
    :param credentials_name: the Studio credentials to use (templated).
    :param start_after: do not start before this time (templated); the operator registers the job and
        returns without waiting.
    :param cron_expression: run on this schedule (templated); the operator registers it and returns.
    :param reset: ignore checkpoints of earlier runs.
    :param rerun_from_job_id: continue from this earlier job (templated).
    :param cancel_on_kill: cancel the job when the task is killed, or a deferred task is marked
        failed/success or cleared (Airflow 3.3+).
    """

    template_fields: Sequence[str] = (
        "query",
        "query_file",
        "query_name",
        "environment",
        "requirements",
        "files",
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
        requirements: str | Sequence[str] | None = None,
        files: Sequence[str] | None = None,
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
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Checks that need no rendering run here, so a DAG with bad arguments fails to load.
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
        self.requirements = requirements
        self.files = files
        self.python_version = python_version
        self.repository = repository
        self.compute_cluster_name = compute_cluster_name
        self.credentials_name = credentials_name
        self.start_after = start_after
        self.cron_expression = cron_expression
        self.reset = reset
        self.rerun_from_job_id = rerun_from_job_id
        self.cancel_on_kill = bool(cancel_on_kill)
        self.job_id: str | None = None

    # ---- inputs ----------------------------------------------------------------------------------

    def validate_query_source(self, query: object, query_file: object) -> None:
        """Exactly one of ``query`` and ``query_file`` (a subclass building the query otherwise overrides
        this and :meth:`get_query`)."""
        if query is not None and query_file is not None:
            raise ValueError(f"{self.task_id}: query and query_file are mutually exclusive: pass only one.")
        if query is None and query_file is None:
            raise ValueError(f"{self.task_id}: pass the script as query (its text) or query_file (a path).")

    def get_query(self, context: Context) -> str:
        """The job's script text: ``query``, or the content of ``query_file``. Override to build it
        another way (the ``@task.datachain_studio`` decorator does).

        :raises ValueError: when the query is empty or the file is missing.
        """
        if self.query_file is not None:
            path = Path(check.required_text("query_file", self.query_file)).expanduser()
            if not path.is_file():
                raise ValueError(f"query_file {str(path)!r} does not exist or is not a file; check the path.")
            text = path.read_text(encoding="utf-8")
            if not text.strip():
                raise ValueError(f"query_file {str(path)!r} is empty: the job needs a script.")
            return text
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValueError(f"query must be a non-empty script text, got {self.query!r}.")
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

    def _job_arguments(self, context: Context) -> dict[str, Any]:
        """Every ``create_job`` argument but the name and the uploaded files, checked; nothing is sent."""
        check.not_both(
            ("compute_cluster_name", "compute_cluster_id"),
            (self.compute_cluster_name, self.compute_cluster_id),
        )
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
        }
        if self.environment:
            arguments["environment"] = check.environment(self.environment)
        if self.requirements:
            arguments["requirements"] = check.lines("requirements", self.requirements)
        if self.start_after:
            arguments["start_after"] = check.iso_datetime("start_after", self.start_after)
        if self.cron_expression:
            arguments["cron_expression"] = check.cron_expression("cron_expression", str(self.cron_expression))
        return {key: value for key, value in arguments.items() if value is not None}

    def _local_files(self) -> list[Path]:
        if not self.files:
            return []
        if isinstance(self.files, (str, bytes)) or not isinstance(self.files, Sequence):
            raise ValueError(f"files must be a list of local paths, got {self.files!r}.")
        paths = [Path(str(item)).expanduser() for item in self.files]
        for path in paths:
            if not path.is_file():
                raise ValueError(f"files: {str(path)!r} does not exist or is not a file; check the path.")
        return paths

    @property
    def scheduled(self) -> bool:
        """The task registers a scheduled job (``start_after`` or ``cron_expression``) and does not wait."""
        return self.start_after not in (None, "") or self.cron_expression not in (None, "")

    # ---- submission ------------------------------------------------------------------------------

    def _job_kind(self, arguments: dict[str, Any], files: list[Path], marker: str) -> RemoteKind[Job]:
        name = with_marker(self.get_query_name(), marker)
        scheduled = self.scheduled

        def create() -> Job:
            uploaded = [self.hook.upload_file(file=path).id for path in files]
            if uploaded:
                self.log.info("Uploaded %d file(s) for the job: ids %s.", len(uploaded), ", ".join(uploaded))
            job: Job = self.hook.create_job(query_name=name, files=uploaded or None, **arguments)
            return job

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
        arguments = self._job_arguments(context)
        files = self._local_files()
        marker = task_marker(context)
        return submit_once(
            self._job_kind(arguments, files, marker),
            marker=marker,
            state_key=JOB_ID_STATE_KEY,
            store=task_state_store(context),
            log=self.log,
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
            "Studio job %s (%s): %s, status %s.", job.id, submission.decision.value, url, job.status.value
        )

        if (
            submission.decision is Decision.ALREADY_SUCCEEDED
            or self.scheduled
            or not self.wait_for_completion
        ):
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
            ),
        )
        return self.finish(context, result)

    def _write(self, line: str) -> None:
        self.log.info("%s", line)

    def finish(self, context: Context, result: JobWaitResult) -> dict[str, Any]:
        """The task's outcome: the summary dict when the job completed (its dataset versions recorded as
        asset events), an exception otherwise."""
        self.job_id = self.remote_id = result.job_id
        where = result.job_url or "(no URL)"
        if result.end is WaitEnd.DEADLINE:
            deadline = Deadline(result.deadline).describe()
            self.stop_remote(result.job_id, f"its deadline {deadline} passed")
            last = f", last status {result.status}" if result.status else ""
            raise StudioDeadlinePassedError(
                f"Studio job {result.job_id} ({where}{last}) did not finish by its deadline {deadline}; "
                f"it was cancelled.",
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
        status = result.job_status
        if status is not JobStatus.COMPLETE:
            details = f"exit code {result.exit_code}" if result.exit_code is not None else "no exit code"
            message = result.error_message or "Studio gave no error message"
            raise StudioJobFailedError(
                f"Studio job {result.job_id} ended with status {status.value} ({details}): {message}. "
                f"See {where}",
                remote_id=result.job_id,
                url=result.job_url,
                status=status.value,
            )
        return self.record_studio_datasets(context, self.summarize(self.hook.get_job(job_id=result.job_id)))

    def summarize(self, job: Job) -> dict[str, Any]:
        """The task's return value for a job (the dataset versions only for a completed one)."""
        versions = (
            [asdict(ref) for ref in self.hook.get_dataset_job_versions(job_id=job.id)]
            if job.status is JobStatus.COMPLETE
            else []
        )
        return {
            "job_id": job.id,
            "job_url": job_url(self.hook.config, job),
            "status": job.status.value,
            "exit_code": job.exit_code,
            "duration_seconds": _seconds_between(job.started_at, job.finished_at),
            "dataset_versions": versions,
        }

    @property
    def stops_on_kill(self) -> bool:
        return self.cancel_on_kill

    def stop_remote(self, remote_id: str, reason: str) -> None:
        """Cancel the job (the trigger's ``on_kill`` runs the same code)."""
        run_on_worker(self.hook.config, lambda client: cancel_job(client, remote_id, log=self.log, reason=reason))


__all__ = ["StudioRunJobOperator", "find_job_by_marker", "job_phase"]
