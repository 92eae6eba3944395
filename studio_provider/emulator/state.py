"""The in-memory store: records of jobs, files, pipelines and schedules, each owned by one team.

Everything is mutated from the emulator's event loop only; other threads (tests) may read it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .clock import Clock
from .config import EmulatorConfig
from .datasets import DatasetRegistry
from .errors import bad_request, not_found
from .job_options import JobOptions
from .rbac import RbacStore
from .vocabulary import FINISHED_JOB_STATUSES


@dataclass
class JobRecord:
    """One job: a run, a SCHEDULED job waiting for ``start_after``, or a cron TASK record."""

    id: str
    team: str
    query: str
    query_type: str
    name: str
    created_at: datetime
    created_by: str
    url: str
    status: str = "CREATED"
    environment: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    priority: int | None = None
    python_version: str | None = None
    requirements: str = ""
    repository: str = ""
    files: list[str] = field(default_factory=list)
    compute_cluster_id: int | None = None
    compute_cluster_name: str | None = None
    start_after: datetime | None = None
    cron_expression: str | None = None
    credentials_name: str | None = None
    reset: bool = False
    rerun_from_job_id: str | None = None
    parent_job_id: str | None = None
    run_group_id: str | None = None
    pipeline_id: str | None = None
    executor: str = "local"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    error_message: str = ""
    error_stack: str = ""
    # What the job reported (the simulated executor takes them from its environment).
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    next_run: datetime | None = None
    workdir: Path | None = None
    pid: int | None = None
    logs: list[tuple[int, str]] = field(default_factory=list)
    # Dataset versions written ((namespace, project, name), version) and read ({dataset, version, job_id}).
    writes: list[tuple[tuple[str, str, str], str]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    cancel_requested: bool = False
    # Emulator keys of the job's environment (see job_options), and every status it went through.
    options: JobOptions = field(default_factory=JobOptions)
    history: list[str] = field(default_factory=list)
    next_log_id: int = 1
    _waiters: list[asyncio.Event] = field(default_factory=list, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES

    def notify(self) -> None:
        """Wake everyone waiting for a change (new log lines or a new status)."""
        waiters, self._waiters = self._waiters, []
        for event in waiters:
            event.set()

    async def wait_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the next change; True if one happened."""
        event = asyncio.Event()
        self._waiters.append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if event in self._waiters:
                self._waiters.remove(event)


@dataclass
class UploadedFile:
    id: int
    team: str
    filename: str
    size: int
    path: Path
    created_at: datetime


@dataclass(frozen=True)
class UploadOutcome:
    """How an upload answers: ``uploaded`` (the default), ``pending`` (stored, still being processed) or
    ``error`` (not stored; ``error`` says why)."""

    state: str = "uploaded"
    error: str | None = None


UPLOAD_STATES = ("uploaded", "pending", "error")


@dataclass
class QueuedOutcome:
    """``outcome`` for the team's next ``remaining`` uploads: one entry whatever the count."""

    outcome: UploadOutcome
    remaining: int


@dataclass
class JobRun:
    """A job inside a pipeline: ``job_id`` is the original job, ``created_job_id`` its re-run."""

    job_id: str
    name: str
    parent_job_ids: list[str] = field(default_factory=list)
    status: str = "PENDING"
    created_job_id: str | None = None
    # Never started because a parent failed or was cancelled (shown as CANCELED).
    skipped: bool = False


@dataclass
class PipelineRecord:
    id: str
    team: str
    name: str
    is_definition: bool
    created_at: datetime
    updated_at: datetime
    status: str = "PENDING"
    job_runs: list[JobRun] = field(default_factory=list)
    triggered_from: str = ""
    definition_id: str | None = None
    schedule_name: str | None = None
    created_via: str = "manual"
    error_message: str = ""
    error_stack: str = ""
    python_version: str | None = None
    requirements: str | None = None
    repository: str | None = None
    workers: int | None = None
    priority: int | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    credentials_names: list[str] = field(default_factory=list)


@dataclass
class ScheduleRecord:
    id: int
    team: str
    schedule_name: str
    pipeline_id: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    start_after: datetime | None = None
    cron_expression: str | None = None
    next_run: datetime | None = None
    paused: bool = False
    latest_run_id: str | None = None


class EmulatorState:
    """All records of one emulator, with team-scoped lookups (another team's record is a 404)."""

    #: Bounds of a team's queued upload outcomes: entries, and uploads one entry may cover.
    MAX_UPLOAD_RULES = 20
    MAX_UPLOAD_COUNT = 10_000

    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.data_dir = config.resolved_data_dir()
        self.jobs: dict[str, JobRecord] = {}
        self.files: dict[int, UploadedFile] = {}
        self.pipelines: dict[str, PipelineRecord] = {}
        self.schedules: dict[int, ScheduleRecord] = {}
        self.datasets = DatasetRegistry()
        self.rbac = RbacStore()
        self._file_ids = itertools.count(1)
        # Log blobs served by capability URL: key -> (job id, first line index, end line index).
        self.log_blobs: dict[str, tuple[str, int, int]] = {}
        # Per team, outcomes queued for its next uploads (see queue_upload_outcomes); none means "uploaded".
        self._upload_outcomes: dict[str, deque[QueuedOutcome]] = {}
        self._schedule_ids = itertools.count(1)

    def queue_upload_outcomes(self, team: str, state: str, count: int = 1, error: str | None = None) -> None:
        """Make ``team``'s next ``count`` uploads answer ``state`` (``pending`` or ``error``; ``uploaded``
        clears the team's queue). Other teams' uploads are not affected.

        :raises ApiError: 400 for an unknown state, a count above ``MAX_UPLOAD_COUNT``, or a queue already
            holding ``MAX_UPLOAD_RULES`` entries.
        """
        if state not in UPLOAD_STATES:
            raise bad_request(f"state must be one of {', '.join(UPLOAD_STATES)}")
        if state == "uploaded":
            self._upload_outcomes.pop(team, None)
            return
        if not 1 <= count <= self.MAX_UPLOAD_COUNT:
            raise bad_request(f"count must be between 1 and {self.MAX_UPLOAD_COUNT}")
        queue = self._upload_outcomes.setdefault(team, deque())
        if len(queue) >= self.MAX_UPLOAD_RULES:
            raise bad_request(
                f"team {team} already has {self.MAX_UPLOAD_RULES} queued upload outcomes; "
                'clear them with {"state": "uploaded"}'
            )
        message = (error or "Emulated upload failure") if state == "error" else None
        queue.append(QueuedOutcome(UploadOutcome(state, message), count))

    def next_upload_outcome(self, team: str) -> UploadOutcome:
        """How ``team``'s next upload answers (and one use of it spent)."""
        queue = self._upload_outcomes.get(team)
        if not queue:
            return UploadOutcome()
        head = queue[0]
        head.remaining -= 1
        if head.remaining <= 0:
            queue.popleft()
        if not queue:
            del self._upload_outcomes[team]
        return head.outcome

    def queued_upload_outcomes(self, team: str) -> list[tuple[str, str | None, int]]:
        """``team``'s queue as (state, error, remaining) entries, oldest first (for tests)."""
        return [(item.outcome.state, item.outcome.error, item.remaining) for item in self._upload_outcomes.get(team, ())]

    def next_file_id(self) -> int:
        return next(self._file_ids)

    def next_schedule_id(self) -> int:
        return next(self._schedule_ids)

    def owned_files(self, team: str, file_ids: list[str]) -> list[str]:
        """``file_ids`` if each names an upload of ``team``; 400 otherwise (another team's file is unknown)."""
        for file_id in file_ids:
            record = self.files.get(int(file_id)) if file_id.isascii() and file_id.isdigit() else None
            if record is None or record.team != team:
                raise bad_request(f"File {file_id!r} not found: upload it first and pass the id it was given")
        return list(file_ids)

    def job(self, team: str, job_id: str) -> JobRecord:
        job = self.jobs.get(str(job_id))
        if job is None or job.team != team:
            raise not_found(f"Job {job_id} not found")
        return job

    def pipeline(self, team: str, pipeline_id: str | None = None, name: str | None = None) -> PipelineRecord:
        if pipeline_id:
            found = self.pipelines.get(str(pipeline_id))
            if found is not None and found.team == team:
                return found
            raise not_found(f"Pipeline {pipeline_id} not found")
        if name:
            for pipeline in self.pipelines.values():
                if pipeline.team == team and pipeline.name == name:
                    return pipeline
            raise not_found(f"Pipeline {name!r} not found")
        raise bad_request("pipeline_id or name is required")

    def schedule(self, team: str, schedule_id: Any) -> ScheduleRecord:
        try:
            key = int(schedule_id)
        except (TypeError, ValueError):
            raise bad_request("schedule_id must be an integer") from None
        found = self.schedules.get(key)
        if found is None or found.team != team:
            raise not_found(f"Schedule {schedule_id} not found")
        return found

    def summary(self) -> dict[str, Any]:
        """Counts by kind and status, for the admin ``state`` endpoint and white-box tests."""
        by_status: dict[str, int] = {}
        for job in self.jobs.values():
            by_status[job.status] = by_status.get(job.status, 0) + 1
        pipelines: dict[str, int] = {}
        for pipeline in self.pipelines.values():
            pipelines[pipeline.status] = pipelines.get(pipeline.status, 0) + 1
        return {
            "time": self.clock.now().isoformat(),
            "clock_offset_seconds": self.clock.offset_seconds,
            "executor": self.config.executor,
            "jobs": len(self.jobs),
            "jobs_by_status": by_status,
            "files": len(self.files),
            "pipelines": len(self.pipelines),
            "pipelines_by_status": pipelines,
            "schedules": len(self.schedules),
            "datasets": self.datasets.count(),
        }
