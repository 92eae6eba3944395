"""Typed views of what Studio returns.

Each dataclass keeps the full server payload in ``raw`` so fields this version does not model are
never lost, and ``to_dict()`` gives back a JSON-safe dict (for XCom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, TypeVar


class _Status(str, Enum):
    """A status name as Studio sends it; every subclass has an ``UNKNOWN`` member."""

    @classmethod
    def parse(cls: type[S], value: object) -> S:
        """Read a status as the server sends it (case-insensitive); anything unknown is ``UNKNOWN``."""
        if isinstance(value, cls):  # str() of a (str, Enum) member is "Class.NAME", not its value
            return value
        try:
            return cls(str(value).upper())
        except ValueError:
            return cls("UNKNOWN")


S = TypeVar("S", bound=_Status)


class JobStatus(_Status):
    """A Studio job's status. Names that this version does not know parse as ``UNKNOWN``."""

    CREATED = "CREATED"
    QUEUED = "QUEUED"
    INIT = "INIT"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    CANCELING_SCHEDULED = "CANCELING_SCHEDULED"
    SCHEDULED = "SCHEDULED"
    TASK = "TASK"
    PROVISIONING = "PROVISIONING"
    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """The job will not change any more."""
        return self in _JOB_TERMINAL

    @property
    def is_success(self) -> bool:
        """The job finished well. ``TASK`` counts: a cron job's task record was created as asked."""
        return self in (JobStatus.COMPLETE, JobStatus.TASK)


_JOB_TERMINAL = frozenset({JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.TASK})


class PipelineStatus(_Status):
    """A Studio pipeline's status. Note ``COMPLETED`` here, where jobs say ``COMPLETE``."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """The run will not change any more. ``PAUSED`` is not terminal: it can be resumed."""
        return self in (PipelineStatus.COMPLETED, PipelineStatus.FAILED, PipelineStatus.CANCELED)

    @property
    def is_success(self) -> bool:
        """The run completed."""
        return self is PipelineStatus.COMPLETED


class DatasetVersionStatus(IntEnum):
    """A dataset version's status; Studio sends it as an integer."""

    CREATED = 1
    PENDING = 2
    FAILED = 3
    COMPLETE = 4
    STALE = 6
    REMOVING = 7
    REMOVED = 8


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Model:
    raw: dict[str, Any] = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The server's payload, as received."""
        return dict(self.raw)


@dataclass(frozen=True)
class Job(_Model):
    """A Studio job."""

    id: str
    status: JobStatus
    name: str | None = None
    url: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    error_message: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        """Build from a job object as the server sends it."""
        return cls(
            raw=data,
            id=str(data.get("id", "")),
            status=JobStatus.parse(data.get("status")),
            name=_opt_str(data.get("name")),
            url=_opt_str(data.get("url")),
            created_at=_opt_str(data.get("created_at")),
            started_at=_opt_str(data.get("started_at")),
            finished_at=_opt_str(data.get("finished_at")),
            exit_code=_opt_int(data.get("exit_code")),
            error_message=data.get("error_message") or None,
        )


@dataclass(frozen=True)
class LogLine:
    """One log entry of a job; ``message`` keeps its own newline."""

    id: int
    message: str


@dataclass(frozen=True)
class UploadedFile(_Model):
    """A file uploaded for jobs; pass ``str(id)`` in a job's ``files``."""

    id: str
    filename: str | None = None
    size: int | None = None
    state: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadedFile:
        """Build from the upload response."""
        return cls(
            raw=data,
            id=str(data.get("id", "")),
            filename=_opt_str(data.get("filename")),
            size=_opt_int(data.get("size")),
            state=_opt_str(data.get("state")),
        )


@dataclass(frozen=True)
class Cluster(_Model):
    """A compute cluster."""

    id: int | None
    name: str
    status: str | None = None
    is_default: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cluster:
        """Build from a cluster object."""
        return cls(
            raw=data,
            id=_opt_int(data.get("id")),
            name=str(data.get("name", "")),
            status=_opt_str(data.get("status")),
            is_default=bool(data.get("default", False)),
        )


@dataclass(frozen=True)
class PipelineJobRun(_Model):
    """One job of a pipeline; ``created_job_id`` is the job a run started for it."""

    job_id: str | None
    name: str | None
    status: JobStatus
    parent_job_ids: tuple[str, ...] = ()
    created_job_id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineJobRun:
        """Build from a ``job_runs`` item."""
        return cls(
            raw=data,
            job_id=_opt_str(data.get("job_id")),
            name=_opt_str(data.get("name")),
            status=JobStatus.parse(data.get("status")),
            parent_job_ids=tuple(str(p) for p in data.get("parent_job_ids") or ()),
            created_job_id=_opt_str(data.get("created_job_id")),
        )


@dataclass(frozen=True)
class Pipeline(_Model):
    """A pipeline definition or run."""

    pipeline_id: str
    status: PipelineStatus
    name: str | None = None
    is_definition: bool = False
    completed: int | None = None
    total: int | None = None
    error_message: str | None = None
    job_runs: tuple[PipelineJobRun, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pipeline:
        """Build from a pipeline object (the bare object, not the ``{"ok", "pipeline"}`` envelope)."""
        return cls(
            raw=data,
            pipeline_id=str(data.get("pipeline_id", "")),
            status=PipelineStatus.parse(data.get("status")),
            name=_opt_str(data.get("name")),
            is_definition=bool(data.get("is_definition", False)),
            completed=_opt_int(data.get("completed")),
            total=_opt_int(data.get("total")),
            error_message=data.get("error_message") or None,
            job_runs=tuple(PipelineJobRun.from_dict(r) for r in data.get("job_runs") or ()),
        )


@dataclass(frozen=True)
class Schedule(_Model):
    """A pipeline schedule."""

    id: int | None
    schedule_name: str | None
    cron_expression: str | None = None
    next_run: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        """Build from a schedule object (the bare object, not the ``{"ok", "schedule"}`` envelope)."""
        return cls(
            raw=data,
            id=_opt_int(data.get("id")),
            schedule_name=_opt_str(data.get("schedule_name")),
            cron_expression=_opt_str(data.get("cron_expression")),
            next_run=_opt_str(data.get("next_run")),
        )


@dataclass(frozen=True)
class DatasetVersionRef:
    """A dataset version a job produced."""

    dataset_name: str
    version: str
