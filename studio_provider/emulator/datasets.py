"""Dataset registry and the stdout convention by which a job declares what it wrote and read.

A job prints, on stdout, one directive per line:

    ::dataset-write <ref> [num_objects=N] [size=BYTES]
    ::dataset-read <ref>

``<ref>`` is ``name``, ``name@vX.Y.Z``, ``@namespace.project.name`` or ``@namespace.project.name@vX.Y.Z``
(the specification's four forms; the ``v`` is optional, and ``v3`` / ``v3.1`` stand for ``3.0.0`` /
``3.1.0``). A plain name lives in namespace ``@local``, project ``default``. A write without a version gets
the next patch version (the first is 1.0.0).
"""

from __future__ import annotations

import itertools
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso
from .errors import bad_request
from .vocabulary import DatasetVersionStatus

DEFAULT_NAMESPACE = "@local"
DEFAULT_PROJECT = "default"

# A plain name may hold dots; each part of ``@namespace.project.name`` may not. Version parts are bounded
# so that ``int()`` of a hostile reference stays cheap.
_PLAIN_NAME = re.compile(r"[\w.\-]+")
_PART = re.compile(r"[\w\-]+")
_VERSION = re.compile(r"v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?")

# Dataset version statuses as Studio sends them (integers).
VERSION_CREATED = int(DatasetVersionStatus.CREATED)
VERSION_PENDING = int(DatasetVersionStatus.PENDING)
VERSION_FAILED = int(DatasetVersionStatus.FAILED)
VERSION_COMPLETE = int(DatasetVersionStatus.COMPLETE)


@dataclass(frozen=True)
class DatasetRef:
    """A parsed dataset reference; ``version`` is None when the reference names no version."""

    namespace: str
    project: str
    name: str
    version: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.project, self.name)

    def __str__(self) -> str:
        text = f"{self.namespace}.{self.project}.{self.name}"
        return f"{text}@v{self.version}" if self.version else text


@dataclass(frozen=True)
class Directive:
    """One ``::dataset-write``/``::dataset-read`` line."""

    action: str  # "write" or "read"
    ref: DatasetRef
    num_objects: int | None = None
    size: int | None = None


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_version(text: str) -> str:
    """``v1.2.3`` / ``1.2.3`` / ``v3`` → ``1.2.3`` / ``1.2.3`` / ``3.0.0``; ValueError otherwise."""
    match = _VERSION.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid dataset version {text!r}: expected vX.Y.Z")
    major, minor, patch = (int(part) if part is not None else 0 for part in match.groups())
    return f"{major}.{minor}.{patch}"


def parse_ref(text: str) -> DatasetRef:
    """Parse a dataset reference in one of the specification's forms (see the module docstring), placing a
    plain name in ``@local.default``; ValueError with a readable message when it is malformed."""
    ref = text.strip() if isinstance(text, str) else ""
    if not ref or any(char.isspace() for char in ref):
        raise ValueError(f"invalid dataset reference {text!r}")
    version: str | None = None
    at = ref.rfind("@")
    if at > 0:
        ref, version = ref[:at], parse_version(ref[at + 1 :])
    if ref.startswith("@"):
        parts = ref[1:].split(".")
        if len(parts) != 3 or not all(_PART.fullmatch(part) for part in parts):
            raise ValueError(f"invalid dataset reference {text!r}: expected @namespace.project.name")
        return DatasetRef("@" + parts[0], parts[1], parts[2], version)
    if not _PLAIN_NAME.fullmatch(ref):
        raise ValueError(f"invalid dataset name in {text!r}")
    return DatasetRef(DEFAULT_NAMESPACE, DEFAULT_PROJECT, ref, version)


def parse_directive(line: str) -> Directive | None:
    """The directive on ``line``, or None when the line is ordinary output or malformed."""
    stripped = line.strip()
    if not stripped.startswith("::dataset-"):
        return None
    words = stripped.split()
    action = {"::dataset-write": "write", "::dataset-read": "read"}.get(words[0])
    if action is None or len(words) < 2:
        return None
    try:
        ref = parse_ref(words[1])
    except ValueError:
        return None
    options: dict[str, int] = {}
    for word in words[2:]:
        key, _, value = word.partition("=")
        if key in ("num_objects", "size") and value.isdigit():
            options[key] = int(value)
    return Directive(action, ref, options.get("num_objects"), options.get("size"))


def _stable_id(*parts: str) -> int:
    # Namespaces and projects have no records of their own; a checksum gives them stable ids.
    return zlib.crc32("\x00".join(parts).encode())


def _namespace_matches(stored: str, asked: str) -> bool:
    # Clients send the namespace with or without its leading "@".
    return stored == asked or stored.lstrip("@") == asked.lstrip("@")


@dataclass
class DatasetVersion:
    id: int
    uuid: str
    version: str
    status: int
    created_at: datetime
    job_id: str | None = None
    finished_at: datetime | None = None
    num_objects: int | None = None
    size: int | None = None
    error_message: str = ""

    def to_dict(self, dataset_id: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "dataset_id": dataset_id,
            "version": self.version,
            "status": self.status,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
            "num_objects": self.num_objects,
            "size": self.size,
            "error_message": self.error_message,
            "error_stack": "",
            "script_output": "",
            "query_script": "",
            "job_id": self.job_id,
        }


@dataclass
class Dataset:
    id: int
    team: str
    namespace: str
    project: str
    name: str
    created_at: datetime
    versions: list[DatasetVersion] = field(default_factory=list)

    def version(self, version: str) -> DatasetVersion | None:
        return next((item for item in self.versions if item.version == version), None)

    def latest(self, complete_only: bool = False) -> DatasetVersion | None:
        candidates = [item for item in self.versions if not complete_only or item.status == VERSION_COMPLETE]
        return max(candidates, key=lambda item: version_key(item.version), default=None)

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.versions, key=lambda item: version_key(item.version))
        latest = ordered[-1] if ordered else None
        return {
            "id": self.id,
            "name": self.name,
            "description": "",
            "attrs": [],
            "created_at": iso(self.created_at),
            "finished_at": iso(latest.finished_at) if latest else None,
            "status": latest.status if latest else VERSION_CREATED,
            "error_message": "",
            "error_stack": "",
            "script_output": "",
            "sources": "",
            "query_script": "",
            "team_id": None,
            "warehouse_id": None,
            "created_by_id": None,
            "schema": {},
            "feature_schema": {},
            "versions": [item.to_dict(self.id) for item in ordered],
            "project": {
                "id": _stable_id(self.team, self.namespace, self.project),
                "name": self.project,
                "descr": "",
                "created_at": iso(self.created_at),
                "created_by_id": None,
                "namespace": {
                    "id": _stable_id(self.team, self.namespace),
                    "name": self.namespace,
                    "descr": "",
                    "created_at": iso(self.created_at),
                    "created_by_id": None,
                },
            },
        }


class DatasetRegistry:
    """Datasets per team, keyed by (namespace, project, name)."""

    def __init__(self) -> None:
        self._datasets: dict[tuple[str, str, str, str], Dataset] = {}
        self._dataset_ids = itertools.count(1)
        self._version_ids = itertools.count(1)

    def count(self) -> int:
        return len(self._datasets)

    def find(self, team: str, namespace: str, project: str, name: str) -> Dataset | None:
        exact = self._datasets.get((team, namespace, project, name))
        if exact is not None:
            return exact
        for dataset in self._datasets.values():
            if (
                dataset.team == team
                and dataset.name == name
                and dataset.project == project
                and _namespace_matches(dataset.namespace, namespace)
            ):
                return dataset
        return None

    def for_team(self, team: str, prefix: str | None = None) -> list[Dataset]:
        found = [
            dataset
            for dataset in self._datasets.values()
            if dataset.team == team and (not prefix or dataset.name.startswith(prefix))
        ]
        return sorted(found, key=lambda item: (item.namespace, item.project, item.name))

    def write(
        self,
        team: str,
        ref: DatasetRef,
        now: datetime,
        job_id: str | None,
        num_objects: int | None = None,
        size: int | None = None,
        status: int = VERSION_PENDING,
    ) -> DatasetVersion:
        """Record a written version (the next patch version when ``ref`` names none)."""
        key = (team, *ref.key)
        dataset = self._datasets.get(key)
        if dataset is None:
            dataset = Dataset(next(self._dataset_ids), team, *ref.key, created_at=now)
            self._datasets[key] = dataset
        version = ref.version
        if version is None:
            latest = dataset.latest()
            if latest is None:
                version = "1.0.0"
            else:
                major, minor, patch = version_key(latest.version)
                version = f"{major}.{minor}.{patch + 1}"
        record = dataset.version(version)
        if record is None:
            record = DatasetVersion(
                next(self._version_ids), str(uuid.uuid4()), version, status, created_at=now
            )
            dataset.versions.append(record)
        # Writing an existing version again (a pipeline re-run) replaces it: the newest writer owns it.
        record.status = status
        record.job_id = job_id
        record.num_objects = num_objects
        record.size = size
        record.finished_at = now if status in (VERSION_COMPLETE, VERSION_FAILED) else None
        return record

    def resolve(self, team: str, ref: DatasetRef) -> tuple[Dataset, DatasetVersion] | None:
        """The dataset and version ``ref`` names (the latest complete one when it names none)."""
        dataset = self.find(team, *ref.key)
        if dataset is None:
            return None
        if ref.version is not None:
            version = dataset.version(ref.version)
        else:
            version = dataset.latest(complete_only=True) or dataset.latest()
        return (dataset, version) if version is not None else None

    def resolve_text(self, team: str, text: str) -> tuple[Dataset, DatasetVersion]:
        """Like :meth:`resolve` for a reference string; 400 when malformed or unknown."""
        try:
            ref = parse_ref(text)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        found = self.resolve(team, ref)
        if found is None:
            raise bad_request(f"Dataset {text} not found")
        return found

    def finish_job(self, job_id: str, success: bool, now: datetime) -> None:
        """Complete (or fail) every version a job wrote, when the job ends."""
        for dataset in self._datasets.values():
            for version in dataset.versions:
                if version.job_id == job_id and version.status in (VERSION_CREATED, VERSION_PENDING):
                    version.status = VERSION_COMPLETE if success else VERSION_FAILED
                    version.finished_at = now
                    if not success:
                        version.error_message = "The job that wrote this version did not complete"

    def versions_by_job(self, team: str, job_id: str) -> list[tuple[Dataset, DatasetVersion]]:
        return [
            (dataset, version)
            for dataset in self._datasets.values()
            if dataset.team == team
            for version in sorted(dataset.versions, key=lambda item: version_key(item.version))
            if version.job_id == job_id
        ]
