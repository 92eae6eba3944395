"""The asset events of the job and pipeline operators: one per dataset version their Studio jobs wrote."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from studio_provider.assets.factories import asset_of
from studio_provider.assets.uri import SCHEME, parse_dataset_uri
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.client.errors import StudioError
from studio_provider.client.lookups import produced_versions

log = logging.getLogger(__name__)

R = TypeVar("R")


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
        from studio_provider.assets.lineage import lineage_of

        return lineage_of(self)


__all__ = ["StudioDatasetEventsMixin", "emit_dataset_events", "event_extra"]
