"""The asset events of Studio dataset versions: the one shape of their details, the events the job and
pipeline operators emit, and how a consumer DAG reads them back.

**One shape.** Whoever records the event (an operator, through an alias or a declared asset; or the asset
watcher's :class:`~studio_provider.triggers.dataset.StudioDatasetVersionTrigger`), the version's details
are built by :func:`event_payload` and are at ``event.extra["payload"]``: Airflow nests a trigger's payload
there and the operators put the same dict there. Operator events also keep the details at the top level
of ``extra`` (``extra["version"]``); a watcher's cannot (Airflow writes that ``extra`` itself:
``{"from_trigger": True, "payload": ...}``). :func:`studio_dataset_events` reads either. On Airflow
before 3.1.2, which cannot record a nested ``extra`` through an alias (apache/airflow#57352), operator
events carry the top-level keys only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from studio_provider.assets.factories import asset_of
from studio_provider.assets.uri import SCHEME, dataset_uri, parse_dataset_uri
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.client.errors import StudioError
from studio_provider.client.lookups import produced_versions
from studio_provider.compat import nested_event_extras_supported

log = logging.getLogger(__name__)

R = TypeVar("R")

#: The keys of every Studio dataset event's details (:func:`event_payload`).
PAYLOAD_KEYS = ("dataset", "uri", "version", "status", "num_objects", "size", "job_id", "job_url", "finished_at")


def event_payload(
    version: DatasetVersionInfo, *, team: str | None, job_id: str | None = None, job_url: str | None = None
) -> dict[str, Any]:
    """The details of a dataset version's asset event, the same for an operator's event and a watcher's:
    ``dataset`` (``@namespace.project.name@vX.Y.Z``), ``uri`` (the asset's), ``version``, ``status``
    (``4`` = COMPLETE), ``num_objects``, ``size``, ``job_id``, ``job_url``, ``finished_at``.

    :param version: the dataset version.
    :param team: the Studio team (the asset URI names it); ``None`` leaves ``uri`` empty.
    :param job_id: the job that produced it (default: the one Studio names).
    :param job_url: that job's Studio page.
    """
    uri = (
        dataset_uri(team=team, namespace=version.namespace, project=version.project, name=version.name)
        if team
        else None
    )
    return {
        "dataset": str(version.ref),
        "uri": uri,
        "version": version.version,
        "status": version.status,
        "num_objects": version.num_objects,
        "size": version.size,
        "job_id": job_id or version.job_id,
        "job_url": job_url,
        "finished_at": version.finished_at,
    }


def event_extra(
    version: DatasetVersionInfo, *, team: str | None, job_id: str | None, job_url: str | None
) -> dict[str, Any]:
    """The ``extra`` of an operator's asset event: the :func:`event_payload` under ``payload`` (where a
    watcher's event has it), and its keys at the top level too.

    :param version: the dataset version.
    :param team: the Studio team.
    :param job_id: the job that produced it.
    :param job_url: that job's Studio page.
    """
    payload = event_payload(version, team=team, job_id=job_id, job_url=job_url)
    if not nested_event_extras_supported():
        return payload  # the top-level keys only: studio_dataset_events reads them there
    return {**payload, "payload": dict(payload)}


def studio_dataset_events(triggering_asset_events: Mapping[Any, Iterable[Any]] | None) -> list[dict[str, Any]]:
    """The details (:func:`event_payload`) of the Studio dataset versions behind this DAG run: one entry
    per version, in the order Airflow lists the events.

    Use it in a task of a DAG scheduled on Studio dataset assets::

        @task
        def publish(triggering_asset_events=None):
            for event in studio_dataset_events(triggering_asset_events):
                print(event["uri"], event["version"], event["job_url"])

    Airflow lists an event that came through an alias twice in ``triggering_asset_events``: under its
    asset and under the ``AssetAlias``; only the asset's entry is read. Events recorded by the operators
    and by the asset watcher give the same keys; when one run holds both events of a version (a dataset
    that is emitted and watched), the version is listed once. Events of other assets, and events without
    Studio details (a declared ``datachain://`` outlet its job did not write), are left out.

    :param triggering_asset_events: the task's ``triggering_asset_events`` (``None`` for a run that no
        asset event triggered: an empty list).
    """
    from airflow.sdk import AssetAlias

    found: dict[tuple[str, Any], dict[str, Any]] = {}
    for key, events in (triggering_asset_events or {}).items():
        if isinstance(key, AssetAlias):
            continue  # the same events are listed under their own asset
        for event in events:
            uri = str(getattr(getattr(event, "asset", None), "uri", "") or "")
            extra = getattr(event, "extra", None)
            payload = extra.get("payload") if isinstance(extra, Mapping) else None
            if payload is None and isinstance(extra, Mapping) and "version" in extra and "dataset" in extra:
                payload = extra  # an operator's event on Airflow before 3.1.2 (no nested payload)
            if not uri.lower().startswith(f"{SCHEME}:") or not isinstance(payload, Mapping):
                continue
            details = {name: payload.get(name) for name in PAYLOAD_KEYS}
            details["uri"] = details["uri"] or uri
            found.setdefault((uri, details["version"]), details)
    return list(found.values())


def _dataset_of(outlet: object) -> tuple[str, str, str, str] | None:
    uri = getattr(outlet, "uri", None)
    if not isinstance(uri, str) or not uri.lower().startswith(f"{SCHEME}:"):
        return None
    try:
        return parse_dataset_uri(uri)
    except ValueError:
        return None


def other_team_assets(assets: Iterable[object], team: str) -> list[tuple[str, str]]:
    """``(uri, team)`` of each ``datachain://`` asset in ``assets`` that names another team than ``team``.

    :param assets: a task's outlets or inlets.
    :param team: the team the task's connection works in.
    """
    found = []
    for asset in assets or []:
        key = _dataset_of(asset)
        if key is not None and key[0] != team:
            found.append((str(getattr(asset, "uri", "")), key[0]))
    return found


def warn_other_team_assets(
    assets: Iterable[object], *, team: str, conn_id: str, logger: Any = log
) -> list[tuple[str, str]]:
    """Warn, once per asset, about ``datachain://`` assets of another team than the connection's: their
    events would name the connection's team, so a DAG scheduled on the asset as declared never runs (and
    nothing else says why). Returns what it warned about.

    :param assets: the task's outlets and inlets.
    :param team: the team the task works in (its connection's ``team``, or the task's ``team=``).
    :param conn_id: the connection id, for the message.
    :param logger: where to warn.
    """
    found = other_team_assets(assets, team)
    for uri, other in dict.fromkeys(found):
        logger.warning(
            "Asset %s names Studio team %r, but this task works in team %r (connection %r). The asset "
            "events the provider records name the datasets of team %r, so a DAG scheduled on this asset "
            "never runs. Build the asset with team=%r, or give the task a connection (or team=) of team %r.",
            uri,
            other,
            team,
            conn_id,
            team,
            team,
            other,
        )
    return found


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
        extra = event_extra(version, team=team, job_id=job_id, job_url=job_url)
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

    def pre_execute(self, context: Any) -> None:
        """Before ``execute``: warn when a ``datachain://`` outlet or inlet names another team than the
        task's (:func:`warn_other_team_assets`). A connection that cannot be read is left to ``execute``
        to report."""
        super().pre_execute(context)  # type: ignore[misc]
        assets = [*(self.outlets or []), *(getattr(self, "inlets", None) or [])]
        if not any(_dataset_of(asset) is not None for asset in assets):
            return
        try:
            team = self.hook.config.team
        except Exception:  # a missing or invalid connection: execute says so, with its own message
            return
        warn_other_team_assets(
            assets, team=team, conn_id=str(getattr(self, "studio_conn_id", "")), logger=self.log
        )

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


__all__ = [
    "PAYLOAD_KEYS",
    "StudioDatasetEventsMixin",
    "emit_dataset_events",
    "event_extra",
    "event_payload",
    "other_team_assets",
    "studio_dataset_events",
    "warn_other_team_assets",
]
