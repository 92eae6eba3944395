"""Dataset conveniences: finding a dataset by reference, the latest version, the versions a job produced
(with their namespace and project), judging whether an awaited version is there, waiting for it, and
telling which versions are new since a baseline. The typed readings live in :mod:`.dataset_info`
(re-exported here).

Nothing here imports Airflow. Lookups are blocking and take any :class:`~.api.StudioApi` (a client or the
Airflow hook); their ``a``-prefixed twins take an :class:`~.api.AsyncStudioApi`. The wait uses the one
polling loop (:func:`~.wait.poll_until`), so deadlines and transient errors mean what they mean elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from .api import AsyncStudioApi, StudioApi
from .dataset_info import DatasetInfo, DatasetVersionInfo, version_key
from .datasets import DatasetRef, normalize_version
from .errors import StudioError, StudioNotFoundError
from .models import DatasetVersionStatus
from .wait import Deadline, poll_until

log = logging.getLogger(__name__)

#: Statuses of a version that will never become COMPLETE: a wait for it fails.
BAD_END = frozenset(
    {
        DatasetVersionStatus.FAILED,
        DatasetVersionStatus.STALE,
        DatasetVersionStatus.REMOVING,
        DatasetVersionStatus.REMOVED,
    }
)


# ---- references ----------------------------------------------------------------------------------


def dataset_ref(
    dataset: str | DatasetRef | None = None,
    *,
    namespace: str | None = None,
    project: str | None = None,
    name: str | None = None,
    what: str = "dataset",
) -> DatasetRef:
    """One :class:`~.datasets.DatasetRef` from a reference (text or parsed) or its parts; checked, so a bad
    reference fails before any request.

    :param dataset: ``name``, ``@namespace.project.name``, with an optional ``@vX.Y.Z``.
    :param namespace: the namespace (with or without ``@``), instead of or completing ``dataset``.
    :param project: the project.
    :param name: the dataset's name, instead of ``dataset``.
    :param what: the parameter's name, for messages.
    :raises ValueError: naming the parameter and the expected form.
    """
    if dataset is not None and name is not None:
        raise ValueError(f"Pass the {what} as a reference or as name=, not both.")
    if isinstance(dataset, DatasetRef):
        ref = dataset
    elif dataset is not None:
        if not isinstance(dataset, str):
            raise ValueError(f"{what} must be a dataset reference string, got {dataset!r}.")
        try:
            ref = DatasetRef.parse(dataset)
        except ValueError as exc:
            raise ValueError(
                f"{what}: {exc}. Use name, name@vX.Y.Z, @namespace.project.name or "
                f"@namespace.project.name@vX.Y.Z."
            ) from None
    elif name is not None:
        try:
            ref = DatasetRef.parse(str(name))
        except ValueError as exc:
            raise ValueError(f"{what} name: {exc}") from None
        if ref.namespace is not None or ref.version is not None:
            raise ValueError(f"{what} name must be a bare dataset name, got {name!r}.")
    else:
        raise ValueError(f"Pass the {what}: a reference such as '@namespace.project.name', or name=.")
    if (namespace is None) != (project is None) and ref.namespace is None:
        raise ValueError(f"{what}: pass namespace and project together, or neither.")
    for label, value in (("namespace", namespace), ("project", project)):
        if value is not None and (not isinstance(value, str) or not value.strip("@ ") or "." in value):
            raise ValueError(f"{what} {label} must be a non-empty name without dots, got {value!r}.")
    if namespace is not None and project is not None:
        given = ("@" + namespace.lstrip("@"), project)
        if ref.namespace is not None and (ref.namespace, ref.project) != given:
            raise ValueError(
                f"{what} {str(ref)!r} names namespace/project {ref.namespace}.{ref.project}, but "
                f"namespace={namespace!r}, project={project!r} were passed; pass one of them."
            )
        ref = DatasetRef(ref.name, given[0], given[1], ref.version)
    return ref


# ---- lookups -------------------------------------------------------------------------------------


def _pick(ref: DatasetRef, candidates: Iterable[object]) -> DatasetInfo | None:
    found = []
    for item in candidates:
        try:
            info = DatasetInfo.from_dict(item)
        except ValueError:
            continue
        if info.matches(ref):
            found.append(info)
    if len(found) > 1:
        names = ", ".join(f"@{i.namespace}.{i.project}.{i.name}" for i in found)
        raise StudioError(f"Dataset name {ref.name!r} is ambiguous ({names}); use a full reference.")
    return found[0] if found else None


def _info_params(ref: DatasetRef) -> dict[str, str]:
    return {"namespace": str(ref.namespace), "project": str(ref.project), "name": ref.name}


def find_dataset(api: StudioApi, ref: DatasetRef) -> DatasetInfo | None:
    """The dataset ``ref`` names, or ``None`` when it does not exist (yet).

    A full reference is read with ``datasets/info``; a plain name is looked up in the team's list.

    :raises StudioError: when a plain name matches datasets in several namespaces or projects.
    """
    if ref.namespace is not None:
        try:
            return DatasetInfo.from_dict(api.get_dataset_info(**_info_params(ref)))
        except StudioNotFoundError:
            return None
    return _pick(ref, api.list_datasets(prefix=ref.name))


async def afind_dataset(api: AsyncStudioApi, ref: DatasetRef) -> DatasetInfo | None:
    """The coroutine twin of :func:`find_dataset`."""
    if ref.namespace is not None:
        try:
            return DatasetInfo.from_dict(await api.get_dataset_info(**_info_params(ref)))
        except StudioNotFoundError:
            return None
    return _pick(ref, await api.list_datasets(prefix=ref.name))


def latest_version(
    api: StudioApi, ref: DatasetRef, *, complete_only: bool = True
) -> DatasetVersionInfo | None:
    """The dataset's highest (COMPLETE) version, or ``None`` when it has none or does not exist.

    :param api: a client or hook.
    :param ref: the dataset.
    :param complete_only: only COMPLETE versions.
    """
    info = find_dataset(api, ref)
    return None if info is None else info.latest(complete_only=complete_only)


def produced_versions(api: StudioApi, job_id: str) -> list[DatasetVersionInfo]:
    """The dataset versions a job produced (``dataset_job_versions``), each with its namespace, project,
    status and size, read from the dataset's own record (the version whose ``job_id`` is this job).

    A produced version whose dataset cannot be told apart (several datasets of that name, none naming
    the job) is logged and left out.

    :param api: a client or hook.
    :param job_id: the job.
    """
    produced = api.get_dataset_job_versions(job_id=job_id)
    listings: dict[str, list[DatasetInfo]] = {}
    found: list[DatasetVersionInfo] = []
    for item in produced:
        if item.dataset_name not in listings:
            listings[item.dataset_name] = [
                info
                for info in (_safe_info(raw) for raw in api.list_datasets(prefix=item.dataset_name))
                if info is not None and info.name == item.dataset_name
            ]
        candidates = [
            version
            for info in listings[item.dataset_name]
            if (version := _safe_version(info, item.version)) is not None
        ]
        by_job = [version for version in candidates if version.job_id == str(job_id)]
        chosen = by_job or candidates
        if len(chosen) != 1:
            log.warning(
                "Studio job %s produced %s@v%s, but %d datasets of that name match; left out.",
                job_id,
                item.dataset_name,
                item.version,
                len(chosen),
            )
            continue
        found.append(chosen[0])
    return found


def _safe_info(raw: object) -> DatasetInfo | None:
    try:
        return DatasetInfo.from_dict(raw)
    except ValueError:
        return None


def _safe_version(info: DatasetInfo, version: str) -> DatasetVersionInfo | None:
    try:
        return info.version(version)
    except ValueError:
        return None


# ---- what is awaited -----------------------------------------------------------------------------


class Verdict(str, Enum):
    """What a reading says about an awaited version."""

    WAIT = "wait"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class VersionTarget:
    """Which version a wait is for: exactly ``version``; else the highest COMPLETE version at or above
    ``min_version``; else the highest COMPLETE version above ``after_version``; else any COMPLETE one.

    :param version: an exact version.
    :param min_version: the lowest acceptable version.
    :param after_version: versions above this one (the baseline a sensor saw when it started).
    """

    version: str | None = None
    min_version: str | None = None
    after_version: str | None = None

    def __post_init__(self) -> None:
        for label in ("version", "min_version", "after_version"):
            value = getattr(self, label)
            if value is not None:
                try:
                    object.__setattr__(self, label, normalize_version(str(value)))
                except ValueError:
                    raise ValueError(
                        f"{label} must be a version such as 1.2.3 or v1.2.3, got {value!r}."
                    ) from None
        if self.version is not None and self.min_version is not None:
            raise ValueError("version and min_version are mutually exclusive: pass only one of them.")

    def describe(self) -> str:
        """The target in words, for messages."""
        if self.version is not None:
            return f"version {self.version}"
        if self.min_version is not None:
            return f"a version >= {self.min_version}"
        if self.after_version is not None:
            return f"a version newer than {self.after_version}"
        return "any complete version"

    def candidates(self, info: DatasetInfo) -> list[DatasetVersionInfo]:
        """The versions of ``info`` this target accepts, whatever their status, oldest first."""
        if self.version is not None:
            found = info.version(self.version)
            return [found] if found is not None else []
        if self.min_version is not None:
            low = version_key(self.min_version)
            return [item for item in info.versions if item.key >= low]
        if self.after_version is not None:
            floor = version_key(self.after_version)
            return [item for item in info.versions if item.key > floor]
        return list(info.versions)

    def judge(self, info: DatasetInfo | None) -> tuple[Verdict, DatasetVersionInfo | None]:
        """``READY`` with the (highest) COMPLETE accepted version; ``FAILED`` with the version that will
        never complete when no accepted version did; else ``WAIT``.

        :param info: the dataset's reading (``None``: it does not exist yet).
        """
        if info is None:
            return Verdict.WAIT, None
        candidates = self.candidates(info)
        complete = [item for item in candidates if item.status == DatasetVersionStatus.COMPLETE]
        if complete:
            return Verdict.READY, complete[-1]
        failed = [item for item in candidates if item.version_status in BAD_END]
        if failed and (self.version is not None or len(failed) == len(candidates)):
            return Verdict.FAILED, failed[-1]
        return Verdict.WAIT, None


def failure_message(ref: DatasetRef, version: DatasetVersionInfo) -> str:
    """Why a wait for a version of ``ref`` failed, with Studio's message."""
    status = version.version_status
    name = status.name if status is not None else str(version.status)
    detail = f": {version.error_message}" if version.error_message else ""
    job = f" (job {version.job_id})" if version.job_id else ""
    return f"Studio dataset {ref.name} version {version.version} ended {name} ({version.status}){job}{detail}"


async def wait_for_version(
    api: AsyncStudioApi,
    ref: DatasetRef,
    target: VersionTarget,
    *,
    deadline: Deadline,
    poll_interval: float,
    on_change: Callable[[DatasetInfo | None], object] | None = None,
) -> tuple[Verdict, DatasetVersionInfo | None]:
    """Poll the dataset until ``target`` is READY or FAILED (never returns WAIT).

    :param api: the async client (the loop's shared one).
    :param ref: the dataset.
    :param target: the awaited version.
    :param deadline: when to give up.
    :param poll_interval: seconds between reads.
    :param on_change: called with each reading that differs from the previous one.
    :raises StudioDeadlineExceeded: when the deadline passes first.
    """
    info = await poll_until(
        lambda: afind_dataset(api, ref),
        lambda reading: target.judge(reading)[0] is not Verdict.WAIT,
        interval=poll_interval,
        deadline=deadline,
        on_change=on_change,
        what=f"{target.describe()} of Studio dataset {ref}",
    )
    return target.judge(info)


# ---- new versions since a baseline (the asset watcher) --------------------------------------------


def complete_versions(info: DatasetInfo | None) -> list[str]:
    """The COMPLETE versions of a reading, oldest first (none when the dataset does not exist)."""
    if info is None:
        return []
    return [item.version for item in info.versions if item.status == DatasetVersionStatus.COMPLETE]


def new_versions(info: DatasetInfo | None, seen: Iterable[str]) -> list[DatasetVersionInfo]:
    """The COMPLETE versions of ``info`` not in ``seen``, oldest first: what a watcher fires for.

    :param info: the dataset's reading.
    :param seen: versions already known (fired, or present when watching started).
    """
    if info is None:
        return []
    known = set(seen)
    return [
        item
        for item in info.versions
        if item.status == DatasetVersionStatus.COMPLETE and item.version not in known
    ]


__all__ = [
    "BAD_END",
    "DatasetInfo",
    "DatasetVersionInfo",
    "Verdict",
    "VersionTarget",
    "afind_dataset",
    "complete_versions",
    "dataset_ref",
    "failure_message",
    "find_dataset",
    "latest_version",
    "new_versions",
    "produced_versions",
    "version_key",
    "wait_for_version",
]
