"""How a wait ended, one family of results: the trigger's event payload and the worker wait's value.

Every result is a frozen dataclass of primitives. It crosses the defer boundary as a dict
(:meth:`WaitResult.to_dict`) and is read back with one check (:meth:`WaitResult.from_dict`), driven by
the dataclass's own fields, so the job, pipeline and dataset results cannot drift apart. Texts that
Studio provides (error messages, names, URLs) are capped on the way in: an event payload is stored in
Airflow's database, and a server can send megabytes.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import Enum
from typing import Any, ClassVar, TypeVar, Union

from ..dataset_info import DatasetVersionInfo
from ..models import JobStatus, PipelineStatus
from ..redaction import cap

R = TypeVar("R", bound="WaitResult")

#: The longest text a result keeps (a cut is marked with ``…``).
MAX_TEXT = 4000
#: The most failed job runs a pipeline result lists.
MAX_FAILURES = 20
#: The longest return value a job wait carries back (it travels in the trigger's event, in Airflow's
#: database, then XCom): a function returning more should write a dataset instead.
MAX_RETURNED = 256 * 1024


class WaitEnd(str, Enum):
    """Why a wait ended."""

    FINISHED = "finished"
    """What was awaited reached a final (or an awaited) state."""
    DEADLINE = "deadline"
    """The deadline passed first; the remote work may still be running."""
    ERROR = "error"
    """Waiting failed for good (credentials, a vanished object, an unexpected error)."""


class Verdict(str, Enum):
    """What a reading says about an awaited dataset version."""

    WAIT = "wait"
    READY = "ready"
    FAILED = "failed"


def _check(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits one of the few field types results use."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_check(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(item is Any or _check(entry, item) for entry in value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return value in {member.value for member in hint}
    return hint is Any


@dataclass(frozen=True, kw_only=True)
class WaitResult:
    """What every result holds.

    :param end: why the wait ended.
    :param message: a sentence for the task log.
    :param deadline: the wait's deadline, as epoch seconds.
    """

    #: The result's name in errors about a payload.
    what: ClassVar[str] = "Studio wait result"
    #: Text fields bounded by their own rule instead of :data:`MAX_TEXT`.
    uncapped: ClassVar[frozenset[str]] = frozenset()

    end: WaitEnd
    message: str = ""
    deadline: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str) and len(value) > MAX_TEXT and item.name not in self.uncapped:
                object.__setattr__(self, item.name, cap(value, MAX_TEXT))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (primitives only), as a ``TriggerEvent`` payload."""
        data = asdict(self)
        data["end"] = self.end.value
        return data

    @classmethod
    def from_dict(cls: type[R], data: object) -> R:
        """Read a payload back, checking every field against the class's declaration.

        :raises ValueError: naming the bad key, when the payload is not one this class wrote.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"A {cls.what} must be a dict, got {type(data).__name__}.")
        declared = {item.name: item for item in fields(cls)}
        unknown = set(data) - set(declared)
        if unknown:
            raise ValueError(f"Unexpected keys in a {cls.what}: {sorted(map(str, unknown))}.")
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, item in declared.items():
            if name not in data:
                if item.default is MISSING and item.default_factory is MISSING:  # a required field
                    raise ValueError(f"Missing {name!r} in a {cls.what}.")
                continue
            value = data[name]
            if not _check(value, hints[name]):
                raise ValueError(f"Invalid {name!r} in a {cls.what}: {str(value)[:200]!r}.")
            values[name] = value
        values["end"] = WaitEnd(values["end"])
        result = cls(**values)
        result.validate()
        return result

    def validate(self) -> None:
        """Checks beyond the field types (a subclass adds its own).

        :raises ValueError: naming the bad field.
        """


@dataclass(frozen=True, kw_only=True)
class JobWaitResult(WaitResult):
    """The outcome of waiting for one Studio job.

    :param job_id: the job.
    :param job_url: its URL in Studio, when known.
    :param status: its last known status (a :class:`~..models.JobStatus` name).
    :param exit_code: its exit code, when finished.
    :param error_message: Studio's error message of a failed job.
    :param last_log_id: the id of the last log line written to the task log (the resume point).
    :param returned: the text after the return-value marker the wait was asked to catch (the
        ``@task.datachain_studio`` function's JSON return value), at most :data:`MAX_RETURNED` characters.
    :param returned_size: the size of a caught value that was larger than that (then ``returned`` is
        ``None``).
    """

    what: ClassVar[str] = "Studio job wait result"
    uncapped: ClassVar[frozenset[str]] = frozenset({"returned"})

    job_id: str
    job_url: str | None = None
    status: str | None = None
    exit_code: int | None = None
    error_message: str | None = None
    last_log_id: int | None = None
    returned: str | None = None
    returned_size: int | None = None

    def validate(self) -> None:
        if self.returned is not None and len(self.returned) > MAX_RETURNED:
            raise ValueError(f"Invalid 'returned' in a {self.what}: longer than {MAX_RETURNED} characters.")
        if not self.job_id:
            raise ValueError(f"Invalid 'job_id' in a {self.what}: {self.job_id!r}.")

    @property
    def job_status(self) -> JobStatus:
        """The status as an enum (``UNKNOWN`` when missing or unrecognised)."""
        return JobStatus.parse(self.status)


@dataclass(frozen=True)
class FailedJobRun:
    """A job run of a pipeline that did not complete, with what its Studio job said.

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

    def __post_init__(self) -> None:
        if self.error_message is not None and len(self.error_message) > MAX_TEXT // 4:
            object.__setattr__(self, "error_message", cap(self.error_message, MAX_TEXT // 4))

    def to_dict(self) -> dict[str, Any]:
        """Primitives only (for trigger events and XCom)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailedJobRun:
        """Rebuild from :meth:`to_dict`."""
        text = {key: None if data.get(key) is None else str(data[key]) for key in ("name", "job_id")}
        exit_code = data.get("exit_code")
        return cls(
            studio_job_id=None if data.get("studio_job_id") is None else str(data["studio_job_id"]),
            status=str(data.get("status") or ""),
            error_message=None if data.get("error_message") is None else str(data["error_message"]),
            exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
            **text,
        )

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


@dataclass(frozen=True, kw_only=True)
class PipelineWaitResult(WaitResult):
    """The outcome of waiting for one pipeline run.

    :param pipeline_id: the run.
    :param url: its URL in Studio.
    :param name: its name.
    :param status: its last known status (a :class:`~..models.PipelineStatus` name).
    :param completed: job runs completed.
    :param total: job runs in all.
    :param error_message: Studio's error message of the run.
    :param failures: the failed job runs (:meth:`FailedJobRun.to_dict`), at most :data:`MAX_FAILURES`.
    """

    what: ClassVar[str] = "Studio pipeline wait result"

    pipeline_id: str
    url: str | None = None
    name: str | None = None
    status: str | None = None
    completed: int | None = None
    total: int | None = None
    error_message: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self, "failures", [FailedJobRun.from_dict(item).to_dict() for item in self.failures[:MAX_FAILURES]]
        )

    def validate(self) -> None:
        if not self.pipeline_id:
            raise ValueError(f"Invalid 'pipeline_id' in a {self.what}: {self.pipeline_id!r}.")

    @property
    def pipeline_status(self) -> PipelineStatus:
        """The status as an enum (``UNKNOWN`` when missing or unrecognised)."""
        return PipelineStatus.parse(self.status)

    @property
    def failed_job_runs(self) -> list[FailedJobRun]:
        """The failed job runs, typed."""
        return [FailedJobRun.from_dict(item) for item in self.failures]


@dataclass(frozen=True, kw_only=True)
class DatasetWaitResult(WaitResult):
    """How a wait for a dataset version ended.

    :param dataset: the reference waited on.
    :param verdict: a :class:`Verdict` value (``ready`` or ``failed``), when finished.
    :param version: the version reading (:meth:`~..dataset_info.DatasetVersionInfo.to_dict`), when finished.
    """

    what: ClassVar[str] = "Studio dataset wait result"

    dataset: str
    verdict: str | None = None
    version: dict[str, Any] | None = None

    def validate(self) -> None:
        if self.verdict is not None and self.verdict not in {item.value for item in Verdict}:
            raise ValueError(f"Invalid 'verdict' in a {self.what}: {self.verdict!r}.")
        if self.version is not None:
            DatasetVersionInfo.from_dict(self.version)

    @property
    def version_info(self) -> DatasetVersionInfo | None:
        """The version, typed."""
        return None if self.version is None else DatasetVersionInfo.from_dict(self.version)


__all__ = [
    "MAX_RETURNED",
    "MAX_TEXT",
    "DatasetWaitResult",
    "FailedJobRun",
    "JobWaitResult",
    "PipelineWaitResult",
    "Verdict",
    "WaitEnd",
    "WaitResult",
]
