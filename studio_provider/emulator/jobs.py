"""Job records and their lifecycle: validation, launching, logs, cancel, start_after and cron tasks."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from croniter import CroniterError, croniter

from .clock import iso, parse_start_after
from .clusters import choose_cluster
from .datasets import parse_directive
from .errors import ApiError, bad_request
from .executors import LocalExecutor, SimulatedExecutor, simulation_plan
from .job_options import job_options
from .state import EmulatorState, JobRecord
from .web_paths import job_path

logger = logging.getLogger(__name__)

EXECUTOR_ENV_KEY = "STUDIO_EMULATOR_EXECUTOR"

JobListener = Callable[[JobRecord], None]


def parse_environment(value: Any) -> dict[str, str]:
    """``KEY=VALUE`` lines (blank lines and ``#`` comments skipped, ``export`` allowed) or a mapping."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(key): "" if item is None else str(item) for key, item in value.items()}
    if not isinstance(value, str):
        raise bad_request("environment must be a string of KEY=VALUE lines")
    result: dict[str, str] = {}
    for raw in value.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        key, sep, item = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise bad_request(f"invalid environment line {raw!r}: expected KEY=VALUE")
        item = item.strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
            item = item[1:-1]
        result[key] = item
    return result


def validate_cron(expression: Any, after: datetime) -> str:
    """The cron expression if croniter accepts it and it fires after ``after``; 400 with a message
    otherwise (``0 0 30 2 *``, 30 February, is valid syntax that never fires)."""
    if not isinstance(expression, str) or not expression.strip():
        raise bad_request("cron_expression must be a non-empty string")
    text = expression.strip()
    if not croniter.is_valid(text):
        raise bad_request(f"Invalid cron expression {text!r}")
    try:
        cron_next(text, after)
    except ValueError:
        raise bad_request(f"Cron expression {text!r} never fires") from None
    return text


def cron_next(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` fires.

    :raises ValueError: when there is none (croniter gives up, or the calendar ends first).
    """
    try:
        value = croniter(expression, after).get_next(datetime)
    except (CroniterError, ValueError, OverflowError) as exc:
        raise ValueError(f"cron expression {expression!r} has no next time after {after.isoformat()}: {exc}") from None
    assert isinstance(value, datetime)
    return value


def optional_int(
    body: dict[str, Any], key: str, low: int | None = None, high: int | None = None
) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_request(f"{key} must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{key} must be an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise bad_request(f"{key} must be between {low} and {high}")
    return number


def optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def job_to_dict(job: JobRecord, include_steps: bool = False) -> dict[str, Any]:
    """The job as Studio's JobOutput, plus the fields the official client reads."""
    data: dict[str, Any] = {
        "id": job.id,
        "url": job.url,
        "status": job.status,
        "created_at": iso(job.created_at),
        "created_by": job.created_by,
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "query": job.query,
        "query_type": job.query_type,
        "team": job.team,
        "name": job.name,
        "workers": job.workers,
        "priority": job.priority,
        "python_version": job.python_version,
        "requirements": job.requirements,
        "repository": job.repository,
        "environment": dict(job.environment),
        "files": list(job.files),
        "exit_code": job.exit_code,
        "error_message": job.error_message,
        "error_stack": job.error_stack,
        "params": dict(job.params),
        "metrics": dict(job.metrics),
        "parent_job_id": job.parent_job_id,
        "rerun_from_job_id": job.rerun_from_job_id,
        "run_group_id": job.run_group_id,
        "compute_cluster_id": job.compute_cluster_id,
        "compute_cluster_name": job.compute_cluster_name,
        "start_after": iso(job.start_after),
        "cron_expression": job.cron_expression,
        "next_run": iso(job.next_run),
        "credentials_name": job.credentials_name,
        "pipeline_id": job.pipeline_id,
        "steps": None,
    }
    if include_steps:
        data["steps"] = [
            {
                "name": "QUEUED",
                "label": "Queued",
                "started_at": iso(job.queued_at),
                "finished_at": iso(job.started_at),
            },
            {
                "name": "RUNNING",
                "label": "Running",
                "started_at": iso(job.started_at),
                "finished_at": iso(job.finished_at),
            },
        ]
    return data


class JobService:
    """Creates jobs, drives them through their statuses and hands them to an executor."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.local = LocalExecutor(self)
        self.simulated = SimulatedExecutor(self)
        self.listeners: list[JobListener] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Jobs waiting for a time (SCHEDULED ones and cron TASK records), so the ticker need not scan all.
        self._timed: set[str] = set()

    @property
    def now(self) -> datetime:
        return self.state.clock.now()

    # ---- creation -------------------------------------------------------------------------------------

    def create_from_request(self, team: str, values: Mapping[str, Any], base_url: str) -> JobRecord:
        """Create a job from a create-job request already checked against its spec (``api_spec.CREATE_JOB``):
        started, scheduled or a TASK."""
        cluster = choose_cluster(values.get("compute_cluster_id"), values.get("compute_cluster_name"))
        start_after: datetime | None = None
        if values.get("start_after") is not None:
            try:
                start_after = parse_start_after(values["start_after"])
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        cron = None
        if values.get("cron_expression") is not None:
            cron = validate_cron(values["cron_expression"], max(self.now, start_after or self.now))
        return self.create(
            team,
            base_url,
            query=values["query"],
            query_type=values["query_type"],
            name=values.get("query_name") or "",
            environment=parse_environment(values.get("environment")),
            workers=values.get("workers") or 1,
            priority=values.get("priority"),
            python_version=values.get("python_version"),
            requirements=values.get("requirements") or "",
            repository=values.get("repository") or "",
            files=self.state.owned_files(team, values.get("files") or []),
            compute_cluster_id=cluster["id"],
            compute_cluster_name=cluster["name"],
            start_after=start_after,
            cron_expression=cron,
            credentials_name=values.get("credentials_name"),
            reset=bool(values.get("reset")),
            rerun_from_job_id=values.get("rerun_from_job_id"),
        )

    def create(self, team: str, base_url: str, **fields: Any) -> JobRecord:
        """Create a job record from already validated fields and start it, schedule it, or make it a TASK."""
        job_id = str(uuid.uuid4())
        environment: dict[str, str] = fields.pop("environment", {})
        executor = (
            "simulated" if environment.get(EXECUTOR_ENV_KEY) == "simulated" else self.state.config.executor
        )
        try:
            options = job_options(environment)
            if executor == "simulated":
                simulation_plan(environment)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        job = JobRecord(
            id=job_id,
            team=team,
            created_at=self.now,
            created_by=self.state.config.username,
            url=base_url.rstrip("/") + job_path(team, job_id),
            environment=environment,
            executor=executor,
            options=options,
            next_log_id=options.log_id_start,
            **fields,
        )
        if not job.name:
            job.name = f"job-{job_id[:8]}"
        job.run_group_id = job.run_group_id or job_id
        first_run: datetime | None = None
        if job.cron_expression:
            # Before the job is stored: a cron with no next time leaves no half-made record behind.
            try:
                first_run = cron_next(job.cron_expression, max(self.now, job.start_after or self.now))
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        self.state.jobs[job.id] = job
        if job.cron_expression:
            # A cron job is a TASK record; each due time spawns a run whose parent_job_id is the task.
            job.status = "TASK"
            job.next_run = first_run
            self._timed.add(job.id)
        elif job.start_after is not None and job.start_after > self.now:
            job.status = "SCHEDULED"
            job.next_run = job.start_after
            self._timed.add(job.id)
        else:
            self.launch(job)
        self._changed(job)
        return job

    def clone(self, template: JobRecord, **overrides: Any) -> JobRecord:
        """A new run of ``template``'s query, environment and files (for cron runs and pipeline runs)."""
        fields: dict[str, Any] = {
            "query": template.query,
            "query_type": template.query_type,
            "name": template.name,
            "environment": dict(template.environment),
            "workers": template.workers,
            "priority": template.priority,
            "python_version": template.python_version,
            "requirements": template.requirements,
            "repository": template.repository,
            "files": list(template.files),
            "compute_cluster_id": template.compute_cluster_id,
            "compute_cluster_name": template.compute_cluster_name,
            "credentials_name": template.credentials_name,
        }
        fields.update(overrides)
        base_url = template.url.split("/team/", 1)[0]
        return self.create(template.team, base_url, **fields)

    # ---- lifecycle ------------------------------------------------------------------------------------

    def launch(self, job: JobRecord) -> None:
        """Hand a job to its executor in a task of the running event loop."""
        job.status = "CREATED"
        job.next_run = None
        self._timed.discard(job.id)
        self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job), name=f"job-{job.id}")

    async def _run(self, job: JobRecord) -> None:
        executor = self.simulated if job.executor == "simulated" else self.local
        try:
            await asyncio.sleep(0)  # let the create response show CREATED first
            if job.cancel_requested:
                self.finish(job, None)
                return
            job.queued_at = self.now
            self.set_status(job, "QUEUED")
            await executor.run(job)
        except asyncio.CancelledError:
            if not job.finished:
                self.finish(job, None)
        except Exception as exc:  # an executor bug or an OS error must fail the job, not hang it
            logger.exception("job %s crashed in the emulator", job.id)
            if not job.finished:
                self.finish(job, None, error_message=f"Emulator error: {exc}")
        finally:
            self._tasks.pop(job.id, None)

    def set_status(self, job: JobRecord, status: str) -> None:
        if job.status == status:
            return
        if job.status == "CANCELING" and status not in ("CANCELED",):
            return  # a cancel in flight wins over the executor's progress
        job.status = status
        if status == "RUNNING" and job.started_at is None:
            job.started_at = self.now
        self._changed(job)

    def log(self, job: JobRecord, message: str, stream: str = "stdout") -> None:
        """Append one log line (keeping its newline) and apply a dataset directive printed on stdout."""
        job.logs.append((job.next_log_id, message))
        job.next_log_id += job.options.log_id_step
        if stream == "stdout":
            directive = parse_directive(message)
            if directive is not None:
                self._apply_directive(
                    job, directive.action, directive.ref, directive.num_objects, directive.size
                )
        job.notify()

    def declare_write(self, job: JobRecord, text: str) -> None:
        directive = parse_directive(f"::dataset-write {text}")
        if directive is not None:
            self._apply_directive(job, "write", directive.ref, directive.num_objects, directive.size)

    def declare_read(self, job: JobRecord, text: str) -> None:
        directive = parse_directive(f"::dataset-read {text}")
        if directive is not None:
            self._apply_directive(job, "read", directive.ref, None, None)

    def _apply_directive(
        self, job: JobRecord, action: str, ref: Any, num_objects: int | None, size: int | None
    ) -> None:
        registry = self.state.datasets
        if action == "write":
            version = registry.write(job.team, ref, self.now, job.id, num_objects, size)
            job.writes.append((ref.key, version.version))
            return
        found = registry.resolve(job.team, ref)
        producer = found[1].job_id if found else None
        job.reads.append(
            {
                "dataset": f"{ref.namespace}.{ref.project}.{ref.name}",
                "version": found[1].version if found else ref.version,
                "job_id": producer if producer != job.id else None,
            }
        )

    def finish(
        self,
        job: JobRecord,
        exit_code: int | None,
        error_message: str = "",
        error_stack: str = "",
    ) -> None:
        """End a job: CANCELED if a cancel was asked, COMPLETE on exit 0, FAILED otherwise."""
        if job.finished:
            return
        now = self.now
        if job.cancel_requested:
            job.status = "CANCELED"
            job.exit_code = exit_code
        elif exit_code == 0:
            job.status = "COMPLETE"
            job.exit_code = 0
        else:
            job.status = "FAILED"
            job.exit_code = exit_code
            job.error_message = error_message or f"Job exited with code {exit_code}"
            job.error_stack = error_stack
        job.finished_at = now
        if job.started_at is None and job.status != "CANCELED":
            job.started_at = now
        self.state.datasets.finish_job(job.id, job.status == "COMPLETE", now)
        self._changed(job)

    def cancel(self, job: JobRecord) -> None:
        """Cancel a job: a waiting one at once, a running one via CANCELING (its process group is killed).

        With ``STUDIO_EMULATOR_CANCEL_SECONDS`` the cancel takes that long: a waiting job shows
        CANCELING_SCHEDULED, a running simulated one CANCELING, meanwhile."""
        delay = job.options.cancel_seconds
        if job.status in ("SCHEDULED", "TASK"):
            # Cancelling a SCHEDULED job or a cron TASK stops it from ever (again) running.
            job.next_run = None
            self._timed.discard(job.id)
            if delay:
                job.status = "CANCELING_SCHEDULED"
                self._changed(job)
                asyncio.get_running_loop().call_later(delay, self._cancel_scheduled, job)
                return
            self._cancel_scheduled(job)
            return
        if job.status == "CANCELING_SCHEDULED":
            return
        if job.finished:
            raise ApiError(400, f"Job {job.id} is already finished ({job.status})")
        if job.status == "CANCELING":
            return
        job.cancel_requested = True
        self.set_status(job, "CANCELING")
        if not self.local.kill(job):
            task = self._tasks.get(job.id)
            if task is None:
                self.finish(job, None)
            elif delay:
                asyncio.get_running_loop().call_later(delay, task.cancel)
            else:
                task.cancel()

    def _cancel_scheduled(self, job: JobRecord) -> None:
        job.status = "CANCELED"
        job.finished_at = self.now
        self._changed(job)

    # ---- time -----------------------------------------------------------------------------------------

    def process_due(self) -> int:
        """Start SCHEDULED jobs and spawn cron runs whose time has come; return how many started."""
        now = self.now
        started = 0
        for job_id in sorted(self._timed, key=lambda key: self.state.jobs[key].next_run or now):
            job = self.state.jobs[job_id]
            if job.next_run is None or job.next_run > now:
                continue
            try:
                self._fire(job, now)
            except Exception:
                # One record that cannot fire (whatever its team) must not stop the others: it leaves the
                # ticker instead of failing on every tick.
                logger.exception("job %s of team %s could not start on time; it will not run again", job.id, job.team)
                job.next_run = None
                self._timed.discard(job.id)
                continue
            started += 1
        return started

    def _fire(self, job: JobRecord, now: datetime) -> None:
        if job.status == "SCHEDULED":
            self.launch(job)
            self._changed(job)
        elif job.status == "TASK" and job.cron_expression:
            # The next time first (missed firings coalesce into one run: it is computed from now), so a
            # cron that has none stops here rather than after starting a run.
            next_run = cron_next(job.cron_expression, now)
            self.clone(job, parent_job_id=job.id, run_group_id=job.id)
            job.next_run = next_run
            self._changed(job)

    def next_due(self) -> datetime | None:
        times = [self.state.jobs[key].next_run for key in self._timed]
        return min((item for item in times if item is not None), default=None)

    # ---- notifications and shutdown -------------------------------------------------------------------

    def _changed(self, job: JobRecord) -> None:
        if not job.history or job.history[-1] != job.status:
            job.history.append(job.status)
        job.notify()
        for listener in list(self.listeners):
            try:
                listener(job)
            except Exception:  # a listener bug must not break the job's lifecycle
                logger.exception("job listener failed for %s", job.id)

    def running_workers(self, team: str) -> list[tuple[int | None, int]]:
        return [
            (job.compute_cluster_id, job.workers or 1)
            for job in self.state.jobs.values()
            if job.team == team and job.status in ("RUNNING", "QUEUED", "INIT")
        ]

    async def shutdown(self) -> None:
        """Kill every job process and stop every job task (the emulator is going away)."""
        for job in list(self.state.jobs.values()):
            if not job.finished:
                job.cancel_requested = True
        await self.local.kill_all()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
