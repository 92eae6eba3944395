"""OpenLineage for Studio jobs and pipelines: which Studio datasets a task read and wrote.

Used only when ``apache-airflow-providers-openlineage`` is installed (the ``[openlineage]`` extra): its
listener calls the operators' ``get_openlineage_facets_on_complete``, and Airflow's asset registry calls
:func:`convert_asset_to_openlineage` for ``datachain://`` assets. Nothing here is imported otherwise, so
without the package nothing changes and nothing warns.

**Naming.** A Studio dataset is the OpenLineage dataset ``namespace="datachain://<team>"``,
``name="<namespace>.<project>.<dataset>"`` (the asset ``datachain://<team>/<namespace>/<project>/<dataset>``
of :mod:`studio_provider.assets.uri`).

- **Outputs**: the versions each completed job produced (``dataset_job_versions``), with an
  ``outputStatistics`` facet (``rowCount`` = ``num_objects``, ``size``) and the ``version`` facet.
- **Inputs**: the task's declared ``datachain://`` inlets, and the datasets a job's log declares with
  ``::dataset-read <ref>`` lines (the dataset convention of docs/emulator.md).
- **Run facet**: ``externalQuery`` with the Studio job id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from studio_provider.assets.uri import SCHEME, parse_dataset_uri
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.client.datasets import DatasetRef
from studio_provider.client.errors import StudioError
from studio_provider.client.lookups import find_dataset

log = logging.getLogger(__name__)

#: The log directive by which a job declares a dataset it read.
READ_DIRECTIVE = "::dataset-read"


def lineage_namespace(team: str) -> str:
    """The OpenLineage namespace of a team's Studio datasets: ``datachain://<team>``."""
    return f"{SCHEME}://{team}"


def lineage_name(namespace: str, project: str, name: str) -> str:
    """The OpenLineage name of a Studio dataset: ``<namespace>.<project>.<dataset>``."""
    return f"{namespace.lstrip('@')}.{project}.{name}"


def convert_asset_to_openlineage(asset: Any, lineage_context: Any = None) -> Any:
    """Airflow's asset-to-OpenLineage converter for the ``datachain`` scheme (``asset-uris``)."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    team, namespace, project, name = parse_dataset_uri(asset.uri)
    return Dataset(namespace=lineage_namespace(team), name=lineage_name(namespace, project, name))


def read_refs(lines: Iterable[str]) -> list[DatasetRef]:
    """The dataset references of ``::dataset-read`` lines, in order, once each; malformed ones are ignored.

    :param lines: log text, line by line (a message may hold several lines).
    """
    found: dict[str, DatasetRef] = {}
    for message in lines:
        for line in str(message).splitlines():
            words = line.strip().split()
            if len(words) < 2 or words[0] != READ_DIRECTIVE:
                continue
            try:
                ref = DatasetRef.parse(words[1])
            except ValueError:
                continue
            found.setdefault(str(ref), ref)
    return list(found.values())


def _read_datasets(hook: Any, job_id: str) -> list[tuple[str, str, str]]:
    """``(namespace, project, name)`` of the datasets a job's log says it read."""
    try:
        lines = [line.message for line in hook.get_job_logs(job_id=job_id)]
    except StudioError as exc:
        log.info("Could not read the log of Studio job %s for lineage: %s", job_id, exc)
        return []
    datasets = []
    for ref in read_refs(lines):
        if ref.namespace is not None and ref.project is not None:
            datasets.append((ref.namespace.lstrip("@"), ref.project, ref.name))
            continue
        try:
            info = find_dataset(hook, DatasetRef(ref.name))
        except StudioError as exc:
            log.info("Could not resolve dataset %s read by Studio job %s: %s", ref, job_id, exc)
            continue
        if info is not None:
            datasets.append((info.namespace, info.project, info.name))
    return datasets


def _output(team: str, version: DatasetVersionInfo) -> Any:
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet

    output_facets: dict[str, Any] = {}
    if version.num_objects is not None or version.size is not None:
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
            rowCount=version.num_objects, size=version.size
        )
    return OutputDataset(
        namespace=lineage_namespace(team),
        name=lineage_name(version.namespace, version.project, version.name),
        facets={"version": DatasetVersionDatasetFacet(datasetVersion=version.version)},
        outputFacets=output_facets,
    )


def lineage_of(operator: Any) -> Any:
    """The ``OperatorLineage`` of a Studio operator that completed (see
    :class:`~studio_provider.assets.events.StudioDatasetEventsMixin`)."""
    from airflow.providers.common.compat.openlineage.facet import ExternalQueryRunFacet, InputDataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    hook = operator.hook
    team = hook.config.team
    jobs = list(operator.studio_jobs or [])
    produced = operator.studio_dataset_versions()

    inputs: dict[tuple[str, str, str, str], Any] = {}

    def add_input(key: tuple[str, str, str, str]) -> None:
        if key not in inputs:
            inputs[key] = InputDataset(namespace=lineage_namespace(key[0]), name=lineage_name(*key[1:]))

    for inlet in getattr(operator, "inlets", None) or []:
        uri = getattr(inlet, "uri", None)
        if isinstance(uri, str) and uri.lower().startswith(f"{SCHEME}:"):
            try:
                add_input(parse_dataset_uri(uri))
            except ValueError:
                continue
    for job_id, _url in jobs:
        for namespace, project, name in _read_datasets(hook, job_id):
            add_input((team, namespace, project, name))

    outputs = [_output(team, version) for version, _job, _url in produced]
    run_facets = {}
    if len(jobs) == 1:
        run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=jobs[0][0], source=lineage_namespace(team)
        )
    return OperatorLineage(inputs=list(inputs.values()), outputs=outputs, run_facets=run_facets)


__all__ = [
    "READ_DIRECTIVE",
    "convert_asset_to_openlineage",
    "lineage_name",
    "lineage_namespace",
    "lineage_of",
    "read_refs",
]
