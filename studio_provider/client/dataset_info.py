"""Typed readings of Studio datasets: :class:`DatasetInfo` (a dataset with its versions, as ``datasets`` and
``datasets/info`` answer) and :class:`DatasetVersionInfo` (one version with the dataset's full name), and
the version order. Nothing here imports Airflow or sends a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .datasets import DatasetRef, normalize_version
from .models import DatasetVersionStatus


def version_key(version: str) -> tuple[int, int, int]:
    """A sortable key of a version (``"1.10.0"`` sorts after ``"1.9.0"``); ``v``-prefixed and short
    versions are accepted.

    :raises ValueError: when ``version`` is not one.
    """
    major, minor, patch = normalize_version(str(version)).split(".")
    return int(major), int(minor), int(patch)


def _status(value: object) -> DatasetVersionStatus | None:
    try:
        return DatasetVersionStatus(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One version of a Studio dataset, with the dataset's full name.

    :param namespace: the namespace, without a leading ``@``.
    :param project: the project.
    :param name: the dataset's name.
    :param version: ``X.Y.Z``.
    :param status: the integer status (:class:`~.models.DatasetVersionStatus`); ``None`` when unknown.
    :param num_objects: rows/objects, when Studio says.
    :param size: bytes, when Studio says.
    :param job_id: the job that produced it.
    :param finished_at: when it finished (ISO text).
    :param error_message: Studio's error message of a failed version.
    """

    namespace: str
    project: str
    name: str
    version: str
    status: int | None = None
    num_objects: int | None = None
    size: int | None = None
    job_id: str | None = None
    finished_at: str | None = None
    error_message: str | None = None

    @property
    def version_status(self) -> DatasetVersionStatus | None:
        """The status as an enum, ``None`` when missing or unknown."""
        return _status(self.status)

    @property
    def ref(self) -> DatasetRef:
        """The reference ``@namespace.project.name@vX.Y.Z``."""
        return DatasetRef(self.name, "@" + self.namespace, self.project, self.version)

    @property
    def key(self) -> tuple[int, int, int]:
        """The version's sort key."""
        return version_key(self.version)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe primitives (an XCom value, a trigger event payload)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetVersionInfo:
        """Read :meth:`to_dict` output back.

        :raises ValueError: when a required field is missing.
        """
        try:
            return cls(
                namespace=str(data["namespace"]),
                project=str(data["project"]),
                name=str(data["name"]),
                version=str(data["version"]),
                status=_opt_int(data.get("status")),
                num_objects=_opt_int(data.get("num_objects")),
                size=_opt_int(data.get("size")),
                job_id=_opt_str(data.get("job_id")),
                finished_at=_opt_str(data.get("finished_at")),
                error_message=_opt_str(data.get("error_message")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a dataset version reading: {data!r} ({exc})") from None


@dataclass(frozen=True)
class DatasetInfo:
    """A Studio dataset with its versions (oldest first)."""

    namespace: str
    project: str
    name: str
    versions: tuple[DatasetVersionInfo, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object) -> DatasetInfo:
        """Read a dataset as ``datasets`` and ``datasets/info`` answer it.

        :raises ValueError: when it is not a dataset.
        """
        if not isinstance(data, Mapping) or not data.get("name"):
            raise ValueError(f"a dataset must be an object with a name, got {data!r}")
        project: Mapping[str, Any] = data["project"] if isinstance(data.get("project"), Mapping) else {}
        namespace: Mapping[str, Any] = (
            project["namespace"] if isinstance(project.get("namespace"), Mapping) else {}
        )
        info = {
            "namespace": str(namespace.get("name") or "").lstrip("@"),
            "project": str(project.get("name") or ""),
            "name": str(data["name"]),
        }
        versions = []
        for item in data.get("versions") or []:
            if not isinstance(item, Mapping) or item.get("version") is None:
                continue
            try:
                version = normalize_version(str(item["version"]))
            except ValueError:
                continue  # a version this client cannot order is not one it can wait for
            versions.append(
                DatasetVersionInfo(
                    **info,
                    version=version,
                    status=_opt_int(item.get("status")),
                    num_objects=_opt_int(item.get("num_objects")),
                    size=_opt_int(item.get("size")),
                    job_id=_opt_str(item.get("job_id")),
                    finished_at=_opt_str(item.get("finished_at")),
                    error_message=_opt_str(item.get("error_message")),
                )
            )
        versions.sort(key=lambda item: item.key)
        return cls(**info, versions=tuple(versions), raw=dict(data))

    def version(self, version: str) -> DatasetVersionInfo | None:
        """The version called ``version`` (any spelling ``normalize_version`` accepts), or ``None``."""
        wanted = normalize_version(version)
        return next((item for item in self.versions if item.version == wanted), None)

    def latest(self, *, complete_only: bool = True) -> DatasetVersionInfo | None:
        """The highest version (COMPLETE ones only, by default), or ``None``.

        :param complete_only: only versions with status COMPLETE.
        """
        for item in reversed(self.versions):
            if not complete_only or item.status == DatasetVersionStatus.COMPLETE:
                return item
        return None

    def matches(self, ref: DatasetRef) -> bool:
        """Whether this dataset is the one ``ref`` names (a plain name matches any namespace/project)."""
        if ref.name != self.name:
            return False
        if ref.namespace is None:
            return True
        return ref.namespace.lstrip("@") == self.namespace and ref.project == self.project


__all__ = ["DatasetInfo", "DatasetVersionInfo", "version_key"]
