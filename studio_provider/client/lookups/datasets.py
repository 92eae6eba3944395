"""Finding datasets: a reference checked before any request, a dataset by reference, its latest
version, and the versions a job produced (with their namespace and project).

Lookups are blocking and take any :class:`~..api.StudioApi` (a client or the Airflow hook); their
``a``-prefixed twins take an :class:`~..api.AsyncStudioApi`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..api import AsyncStudioApi, StudioApi
from ..dataset_info import DatasetInfo, DatasetVersionInfo
from ..datasets import DatasetRef
from ..errors import StudioError, StudioNotFoundError

log = logging.getLogger(__name__)


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


__all__ = [
    "afind_dataset",
    "dataset_ref",
    "find_dataset",
    "latest_version",
    "produced_versions",
]
