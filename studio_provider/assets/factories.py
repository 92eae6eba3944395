"""Building assets: the asset of a Studio dataset, and the alias the operators emit their events on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from studio_provider.assets.uri import dataset_uri
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.client.lookups import dataset_ref

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias, AssetWatcher

    from studio_provider.client.datasets import DatasetRef

#: The asset alias name the operators' events are documented under.
DEFAULT_ALIAS_NAME = "studio-datasets"
#: The asset group shown in Airflow's asset views.
ASSET_GROUP = "datachain-studio"


def _ref(
    dataset: str | DatasetRef | None, namespace: str | None, project: str | None, name: str | None
) -> DatasetRef:
    ref = dataset_ref(dataset, namespace=namespace, project=project, name=name)
    if ref.namespace is None or ref.project is None:
        raise ValueError(
            f"The asset of Studio dataset {str(ref)!r} needs its namespace and project: pass "
            f"'@namespace.project.{ref.name}' or namespace= and project=."
        )
    if ref.version is not None:
        raise ValueError(
            f"An asset stands for every version of a dataset; drop @v{ref.version} from {str(ref)!r} "
            f"(the version of each event is in its extra)."
        )
    return ref


def studio_dataset_asset(
    dataset: str | DatasetRef | None = None,
    *,
    team: str,
    namespace: str | None = None,
    project: str | None = None,
    name: str | None = None,
    watchers: Sequence[AssetWatcher] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Asset:
    """The Airflow :class:`~airflow.sdk.Asset` of a Studio dataset (all its versions).

    :param dataset: ``@namespace.project.name`` (or a :class:`~studio_provider.client.DatasetRef`).
    :param team: the Studio team that owns it.
    :param namespace: the namespace, with ``project`` and ``name`` instead of ``dataset``.
    :param project: the project.
    :param name: the dataset's name.
    :param watchers: ``AssetWatcher`` s, such as one with a
        :class:`~studio_provider.triggers.dataset.StudioDatasetVersionTrigger`.
    :param extra: the asset's own ``extra`` (not an event's).
    :raises ValueError: for a malformed reference, a missing namespace/project or team, or a version.
    """
    from airflow.sdk import Asset

    ref = _ref(dataset, namespace, project, name)
    uri = dataset_uri(team=team, namespace=str(ref.namespace), project=str(ref.project), name=ref.name)
    return Asset(name=uri, uri=uri, group=ASSET_GROUP, extra=dict(extra or {}), watchers=list(watchers or []))


def create_asset(
    *, team: str, namespace: str, project: str, name: str, extra: Mapping[str, Any] | None = None
) -> Asset:
    """The asset factory Airflow registers for the ``datachain`` scheme (``asset-uris``)."""
    return studio_dataset_asset(team=team, namespace=namespace, project=project, name=name, extra=extra)


def studio_datasets_alias(name: str = DEFAULT_ALIAS_NAME) -> AssetAlias:
    """The :class:`~airflow.sdk.AssetAlias` to put in a Studio operator's ``outlets``: it receives one
    event per dataset version the job (or pipeline run) produced.

    :param name: the alias name (default ``"studio-datasets"``).
    """
    from airflow.sdk import AssetAlias

    return AssetAlias(name=name, group=ASSET_GROUP)


def asset_of(version: DatasetVersionInfo, team: str) -> Asset:
    """The asset of a produced dataset version."""
    return studio_dataset_asset(
        team=team, namespace=version.namespace, project=version.project, name=version.name
    )


__all__ = [
    "ASSET_GROUP",
    "DEFAULT_ALIAS_NAME",
    "asset_of",
    "create_asset",
    "studio_dataset_asset",
    "studio_datasets_alias",
]
