"""Typed views of what Studio returns.

Each dataclass keeps the full server payload in ``raw`` so fields this version does not model are
never lost, and ``to_dict()`` gives back a JSON-safe dict (for XCom).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any, ClassVar, TypeVar


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


def _object(data: Any, what: str) -> dict[str, Any]:
    """``data`` when it is a JSON object; anything else is a malformed answer."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not an object but {type(data).__name__}")
    return data


def _required_id(data: dict[str, Any], key: str, what: str) -> str:
    """An id the model cannot exist without: a non-empty string or a whole number, never ``null``."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        raise ValueError(f"{what} has no usable {key!r} (got {shown})")
    return str(value)


def _opt_bool(data: dict[str, Any], key: str, default: bool) -> bool:
    """A JSON boolean; ``"false"`` or ``0`` are not booleans (``bool("false")`` would be true)."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} is not a boolean: {value!r}")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{key!r} is not a list but {type(value).__name__}")
    return value


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
        """Build from a job object as the server sends it.

        :raises ValueError: when ``data`` is not an object or has no id.
        """
        data = _object(data, "a job")
        return cls(
            raw=data,
            id=_required_id(data, "id", "a job"),
            status=JobStatus.parse(data.get("status")),
            name=_opt_str(data.get("name")),
            url=_opt_str(data.get("url")),
            created_at=_opt_str(data.get("created_at")),
            started_at=_opt_str(data.get("started_at")),
            finished_at=_opt_str(data.get("finished_at")),
            exit_code=_opt_int(data.get("exit_code")),
            error_message=_opt_str(data.get("error_message") or None),
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

    #: Upload states that mean the file is not usable.
    FAILED_STATES: ClassVar[frozenset[str]] = frozenset({"error", "failed"})

    @property
    def failed(self) -> bool:
        """Studio reported the upload as failed (``state`` is ``error`` or ``failed``)."""
        return (self.state or "").lower() in self.FAILED_STATES

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadedFile:
        """Build from the upload response.

        :raises ValueError: when ``data`` is not an object or has no id.
        """
        data = _object(data, "an uploaded file")
        return cls(
            raw=data,
            id=_required_id(data, "id", "an uploaded file"),
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
        data = _object(data, "a cluster")
        return cls(
            raw=data,
            id=_opt_int(data.get("id")),
            name=str(data.get("name", "")),
            status=_opt_str(data.get("status")),
            is_default=_opt_bool(data, "default", False),
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
        data = _object(data, "a pipeline's job run")
        return cls(
            raw=data,
            job_id=_opt_str(data.get("job_id")),
            name=_opt_str(data.get("name")),
            status=JobStatus.parse(data.get("status")),
            parent_job_ids=tuple(str(p) for p in _list(data, "parent_job_ids")),
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
        """Build from a pipeline object (the bare object, not the ``{"ok", "pipeline"}`` envelope).

        :raises ValueError: when ``data`` is not an object, has no ``pipeline_id``, or a field has the
            wrong type.
        """
        data = _object(data, "a pipeline")
        return cls(
            raw=data,
            pipeline_id=_required_id(data, "pipeline_id", "a pipeline"),
            status=PipelineStatus.parse(data.get("status")),
            name=_opt_str(data.get("name")),
            is_definition=_opt_bool(data, "is_definition", False),
            completed=_opt_int(data.get("completed")),
            total=_opt_int(data.get("total")),
            error_message=_opt_str(data.get("error_message") or None),
            job_runs=tuple(PipelineJobRun.from_dict(r) for r in _list(data, "job_runs")),
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
        data = _object(data, "a schedule")
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
