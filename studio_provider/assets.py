"""Studio datasets as Airflow Assets: the one naming scheme, the helpers that build assets and aliases,
and the asset events the job and pipeline operators emit.

**The scheme.** A Studio dataset is the asset ``datachain://<team>/<namespace>/<project>/<dataset>``
(namespace without its ``@``; each part percent-encoded). The asset's name is its URI. A version is not
part of the asset: it travels in the event's ``extra`` (``version``, ``num_objects``, ``size``,
``job_id``, ``job_url``, ``dataset``, ``status``). OpenLineage names the same dataset
``namespace="datachain://<team>"``, ``name="<namespace>.<project>.<dataset>"``.

DAG authors never write these URIs by hand::

    from studio_provider.assets import studio_dataset_asset, studio_datasets_alias

    thumbnails = studio_dataset_asset("@acme.vision.thumbnails", team="acme")
    StudioRunJobOperator(..., outlets=[studio_datasets_alias()])   # an event per produced version
    with DAG(..., schedule=[thumbnails]): ...                       # runs on each event
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, quote, unquote, urlsplit

from studio_provider.client.dataset_wait import DatasetVersionInfo, dataset_ref, produced_versions
from studio_provider.client.errors import StudioError

if TYPE_CHECKING:
    from airflow.sdk import Asset, AssetAlias, AssetWatcher

    from studio_provider.client.datasets import DatasetRef

log = logging.getLogger(__name__)

R = TypeVar("R")

#: The URI scheme of Studio dataset assets (registered in the provider info with a normalizer).
SCHEME = "datachain"
#: The asset alias name the operators' events are documented under.
DEFAULT_ALIAS_NAME = "studio-datasets"
#: The asset group shown in Airflow's asset views.
ASSET_GROUP = "datachain-studio"


def _part(label: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"A Studio dataset asset needs a non-empty {label}, got {value!r}.")
    return quote(value, safe="")


def dataset_uri(*, team: str, namespace: str, project: str, name: str) -> str:
    """The asset URI of a Studio dataset: ``datachain://<team>/<namespace>/<project>/<dataset>``.

    :param team: the Studio team.
    :param namespace: the namespace (a leading ``@`` is dropped).
    :param project: the project.
    :param name: the dataset's name.
    :raises ValueError: when a part is empty.
    """
    parts = [
        _part("team", team),
        _part("namespace", namespace.lstrip("@") if isinstance(namespace, str) else namespace),
        _part("project", project),
        _part("dataset name", name),
    ]
    return f"{SCHEME}://{parts[0]}/{parts[1]}/{parts[2]}/{parts[3]}"


def parse_dataset_uri(uri: str) -> tuple[str, str, str, str]:
    """``(team, namespace, project, name)`` of a Studio dataset asset URI.

    :raises ValueError: when ``uri`` is not one.
    """
    parsed = urlsplit(str(uri))
    segments = parsed.path.strip("/").split("/") if parsed.path.strip("/") else []
    if parsed.scheme.lower() != SCHEME or not parsed.netloc or len(segments) != 3 or not all(segments):
        raise ValueError(
            f"{uri!r} is not a Studio dataset asset URI; expected "
            f"{SCHEME}://<team>/<namespace>/<project>/<dataset> (build it with studio_dataset_asset())."
        )
    if parsed.query or parsed.fragment:
        raise ValueError(f"A Studio dataset asset URI has no query or fragment: {uri!r}.")
    team, namespace, project, name = (unquote(part) for part in (parsed.netloc, *segments))
    return team, namespace.lstrip("@"), project, name


def normalize_uri(parts: SplitResult) -> SplitResult:
    """Airflow's URI normalizer for the ``datachain`` scheme (``asset-uris`` in the provider info): one
    spelling per dataset, so two DAGs naming it alike share one asset.

    :raises ValueError: when the URI does not name a team, namespace, project and dataset.
    """
    team, namespace, project, name = parse_dataset_uri(parts.geturl())
    return urlsplit(dataset_uri(team=team, namespace=namespace, project=project, name=name))


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


def event_extra(version: DatasetVersionInfo, *, job_id: str | None, job_url: str | None) -> dict[str, Any]:
    """The ``extra`` of a version's asset event."""
    return {
        "dataset": str(version.ref),
        "version": version.version,
        "status": version.status,
        "num_objects": version.num_objects,
        "size": version.size,
        "job_id": job_id or version.job_id,
        "job_url": job_url,
    }


def _dataset_of(outlet: object) -> tuple[str, str, str, str] | None:
    uri = getattr(outlet, "uri", None)
    if not isinstance(uri, str) or not uri.lower().startswith(f"{SCHEME}:"):
        return None
    try:
        return parse_dataset_uri(uri)
    except ValueError:
        return None


def emit_dataset_events(
    context: Mapping[str, Any],
    outlets: Iterable[object],
    produced: Iterable[tuple[DatasetVersionInfo, str | None, str | None]],
    *,
    team: str,
    logger: Any = log,
) -> int:
    """Record asset events for produced dataset versions: one per version on every ``AssetAlias`` in
    ``outlets``, and the version's details in the event of a declared ``datachain://`` asset that was
    produced. Call it only after the job (or run) completed. Returns how many versions were recorded.

    Airflow records an event for every static outlet when the task succeeds; a declared dataset asset
    the job did not produce gets that event without a version, and a warning says so.

    :param context: the task's context (its ``outlet_events``).
    :param outlets: the task's outlets.
    :param produced: ``(version, job_id, job_url)`` triples.
    :param team: the Studio team (the assets' URIs name it).
    :param logger: where to say what was recorded.
    """
    from airflow.sdk import Asset, AssetAlias

    items = list(produced)
    declared = list(outlets or [])
    if not declared:
        return 0  # no alias and no asset to record events on
    events = context.get("outlet_events")
    if events is None:
        logger.info("No outlet_events in this context; no asset events recorded.")
        return 0
    aliases = [outlet for outlet in declared if isinstance(outlet, AssetAlias)]
    static = {
        key: outlet
        for outlet in declared
        if isinstance(outlet, Asset) and (key := _dataset_of(outlet)) is not None
    }
    matched: set[tuple[str, str, str, str]] = set()
    for version, job_id, job_url in items:
        extra = event_extra(version, job_id=job_id, job_url=job_url)
        asset = asset_of(version, team)
        for alias in aliases:
            events[alias].add(asset, extra=extra)
        key = (team, version.namespace, version.project, version.name)
        if key in static:
            events[static[key]].extra.update(extra)
            matched.add(key)
        logger.info("Asset event: %s version %s (%s).", asset.uri, version.version, extra["dataset"])
    for key, outlet in static.items():
        if key not in matched:
            logger.warning(
                "Outlet %s was not produced by this task's Studio job(s); Airflow records its event "
                "without a version. Use studio_datasets_alias() for datasets a job may not write.",
                getattr(outlet, "uri", outlet),
            )
    return len(items)


# ---- the operators' side -------------------------------------------------------------------------


class StudioDatasetEventsMixin:
    """What the job and pipeline operators share for assets and lineage: once the task's result is
    known (at each return of ``execute`` and ``execute_complete``, through
    :meth:`record_studio_datasets`), the dataset versions its completed Studio job(s) produced become
    asset events (:func:`emit_dataset_events`) and are kept for OpenLineage
    (``get_openlineage_facets_on_complete``). A failed job raises before this: no events.

    A subclass whose result is not a job's says which Studio jobs it stands for by overriding
    :meth:`completed_studio_jobs`. The operator has ``hook`` (a
    :class:`~studio_provider.hooks.studio.StudioHook`), ``outlets`` and ``inlets``.
    """

    # Provided by the operator (annotations only: nothing is defined here).
    hook: Any
    outlets: Any
    log: Any

    #: ``(version, job_id, job_url)`` of each produced version, once read (see studio_dataset_versions).
    studio_produced: list[tuple[DatasetVersionInfo, str | None, str | None]] | None = None
    #: The completed Studio jobs ``(job_id, job_url)`` of the task.
    studio_jobs: list[tuple[str, str | None]] | None = None

    def completed_studio_jobs(self, result: Any) -> list[tuple[str, str | None]]:
        """The completed Studio jobs ``(job_id, job_url)`` behind a task result (none when the result
        is not a completed one). This default reads the job operator's result (``job_id``, ``job_url``,
        ``status``) and the pipeline operators' (a COMPLETED run's ``job_runs[].studio_job_id``)."""
        if not isinstance(result, Mapping):
            return []
        if result.get("status") == "COMPLETE" and result.get("job_id"):
            return [(str(result["job_id"]), result.get("job_url"))]
        if result.get("status") == "COMPLETED" and not result.get("is_definition"):
            runs = result.get("job_runs") or []
            ids = [
                str(run["studio_job_id"])
                for run in runs
                if isinstance(run, Mapping) and run.get("studio_job_id")
            ]
            return [(job_id, None) for job_id in dict.fromkeys(ids)]  # URLs read when needed
        return []

    def _job_url(self, job_id: str) -> str | None:
        try:
            return self.hook.get_job(job_id=job_id).url  # type: ignore[no-any-return]
        except StudioError as exc:
            self.log.info("Could not read Studio job %s for its URL: %s", job_id, exc)
            return None

    def record_studio_datasets(self, context: Any, result: R) -> R:
        """Record the asset events of the completed job(s) behind ``result`` (when the task declares
        outlets); returns ``result`` (``return self.record_studio_datasets(context, self.finish(...))``)."""
        self.studio_jobs = self.completed_studio_jobs(result)
        self.studio_produced = None
        if self.studio_jobs and self.outlets:
            emit_dataset_events(
                context,
                self.outlets,
                self.studio_dataset_versions(),
                team=self.hook.config.team,
                logger=self.log,
            )
        return result

    def studio_dataset_versions(self) -> list[tuple[DatasetVersionInfo, str | None, str | None]]:
        """``(version, job_id, job_url)`` of each version the completed job(s) produced; read from Studio
        once, when first needed (asset events or lineage)."""
        if self.studio_produced is None:
            produced: list[tuple[DatasetVersionInfo, str | None, str | None]] = []
            for job_id, job_url in self.studio_jobs or []:
                versions = produced_versions(self.hook, job_id)
                if versions and job_url is None:
                    job_url = self._job_url(job_id)
                produced.extend((version, job_id, job_url) for version in versions)
            self.studio_produced = produced
        return self.studio_produced

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage inputs and outputs: the Studio datasets the job(s) read and wrote (called by the
        OpenLineage provider, when installed, after the task succeeded)."""
        from studio_provider.openlineage import lineage_of

        return lineage_of(self)


__all__ = [
    "ASSET_GROUP",
    "DEFAULT_ALIAS_NAME",
    "SCHEME",
    "StudioDatasetEventsMixin",
    "asset_of",
    "create_asset",
    "dataset_uri",
    "emit_dataset_events",
    "event_extra",
    "normalize_uri",
    "parse_dataset_uri",
    "studio_dataset_asset",
    "studio_datasets_alias",
]
