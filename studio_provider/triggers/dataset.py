"""Triggers on Studio datasets.

- :class:`StudioDatasetTrigger`: a deferred :class:`~studio_provider.sensors.dataset.StudioDatasetSensor`
  waits here for a version; one final event (a
  :class:`~studio_provider.client.waiting.DatasetWaitResult` dict).
- :class:`StudioDatasetVersionTrigger`: a ``BaseEventTrigger`` for an ``AssetWatcher``; one event per new
  COMPLETE version of a dataset, for as long as it watches.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from studio_provider.assets import event_payload
from studio_provider.client import AsyncStudioClient, DatasetRef, StudioConfig, StudioError
from studio_provider.client.dataset_info import DatasetInfo, DatasetVersionInfo, version_key
from studio_provider.client.lookups import dataset_ref, job_url
from studio_provider.client.pool import shared_client
from studio_provider.client.validation import positive_seconds
from studio_provider.client.waiting import (
    DatasetWaitResult,
    Deadline,
    VersionTarget,
    WaitEnd,
    wait_for_version,
)
from studio_provider.client.waiting.datasets import complete_versions, new_versions, watch_dataset, watch_team
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioAsyncHook
from studio_provider.triggers.base import StudioTrigger

#: The asset state store key prefix under which a watcher keeps the versions it has seen (Airflow 3.3+).
SEEN_STATE_KEY = "studio_seen_versions"


class StudioDatasetTrigger(StudioTrigger):
    """Poll a Studio dataset until the awaited version is COMPLETE, or will never be (FAILED and the
    like), or the deadline passes; yield exactly one event (a
    :class:`~studio_provider.client.waiting.DatasetWaitResult` dict).

    Transient failures are survived until the deadline; triggers of one connection share one pooled
    client in the triggerer's event loop. It never changes the dataset.

    :param dataset: the dataset reference (no version).
    :param version: an exact version.
    :param min_version: the lowest acceptable version.
    :param after_version: only versions above this one.
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param deadline: an absolute deadline (epoch seconds); ``None`` waits for ever.
    :param poll_interval: seconds between reads.
    """

    fields: ClassVar[tuple[str, ...]] = (
        "dataset",
        "version",
        "min_version",
        "after_version",
        "studio_conn_id",
        "team",
        "deadline",
        "poll_interval",
    )

    def __init__(
        self,
        dataset: str,
        *,
        version: str | None = None,
        min_version: str | None = None,
        after_version: str | None = None,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        deadline: float | None = None,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.dataset = str(dataset)
        self.version = version
        self.min_version = min_version
        self.after_version = after_version
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.deadline = None if deadline is None else float(deadline)
        self.poll_interval = float(poll_interval)

    @property
    def awaited(self) -> str:  # type: ignore[override]
        return f"Studio dataset {self.dataset}"

    async def wait(self, client: AsyncStudioClient) -> DatasetWaitResult:
        """Poll the dataset until the version is there (or will never be)."""
        ref = dataset_ref(self.dataset)
        target = VersionTarget(self.version, self.min_version, self.after_version)
        return await wait_for_version(
            client, ref, target, deadline=Deadline(self.deadline), poll_interval=self.poll_interval
        )

    def failed(self, reason: str) -> DatasetWaitResult:
        return DatasetWaitResult(end=WaitEnd.ERROR, dataset=self.dataset, message=reason, deadline=self.deadline)


# ---- the asset watcher ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamSnapshot:
    """One reading of all of a team's datasets: the raw event of the shared poll."""

    datasets: tuple[DatasetInfo, ...]
    read_at: float


def _sorted_versions(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=version_key)


class StudioDatasetVersionTrigger(BaseEventTrigger):
    """Fire once per new COMPLETE version of a Studio dataset, for an ``AssetWatcher``::

        thumbnails = studio_dataset_asset(
            "@acme.vision.thumbnails",
            team="acme",
            watchers=[
                AssetWatcher(
                    name="thumbnails-versions",
                    trigger=StudioDatasetVersionTrigger("@acme.vision.thumbnails"),
                )
            ],
        )
        with DAG("on_thumbnails", schedule=[thumbnails]): ...

    - Versions COMPLETE when it starts do not fire; a version that completes later fires once (also one
      that was PENDING at the start).
    - What it has seen is ``seen_versions``: in :meth:`serialize` (a trigger rebuilt from it does not
      fire again) and, on Airflow 3.3+, in the watched asset's state store, re-read after a triggerer
      restart (versions completed meanwhile then fire once). Without a store, a restart starts a new
      baseline: nothing fires twice, versions completed while it was down do not fire.
    - On Airflow 3.3+ all watchers of one connection, team and ``poll_interval`` in a triggerer share
      one poll (one ``GET datachain/datasets`` per interval for the team); on older Airflow each reads
      its own dataset, through the loop's shared client.
    - Transient failures (5xx, 429, outages) are retried for ever; a lasting one (credentials) ends it.

    Each event's payload is :func:`~studio_provider.assets.event_payload`, as in the operators' events:
    ``dataset`` (with the version), ``uri``, ``version``, ``status``, ``num_objects``, ``size``, ``job_id``,
    ``job_url``, ``finished_at``. Airflow stores it in the asset event's ``extra["payload"]``;
    :func:`~studio_provider.assets.studio_dataset_events` reads it.

    :param dataset: the dataset reference (``@namespace.project.name``; a plain name if unambiguous).
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param poll_interval: seconds between reads.
    :param seen_versions: versions already seen (``None``: take the COMPLETE ones at start).
    """

    def __init__(
        self,
        dataset: str,
        *,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        poll_interval: float = 60.0,
        seen_versions: Iterable[str] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        ref = dataset_ref(dataset)  # a bad reference fails when the DAG is parsed
        if ref.version is not None:
            raise ValueError(
                f"dataset: watch a dataset, not one version; drop @v{ref.version} from {dataset!r}."
            )
        self.dataset = str(ref)
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.poll_interval = positive_seconds("poll_interval", poll_interval)
        self.seen_versions: list[str] | None = (
            None if seen_versions is None else _sorted_versions(seen_versions)
        )

    @property
    def ref(self) -> DatasetRef:
        """The watched dataset."""
        return DatasetRef.parse(self.dataset)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and primitive kwargs, with the versions seen so far."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dataset": self.dataset,
                "studio_conn_id": self.studio_conn_id,
                "team": self.team,
                "poll_interval": self.poll_interval,
                "seen_versions": None if self.seen_versions is None else list(self.seen_versions),
            },
        )

    # ---- state -----------------------------------------------------------------------------------

    def _state_key(self) -> str:
        return f"{SEEN_STATE_KEY}:{self.studio_conn_id}:{self.team or ''}:{self.dataset}"

    def _store(self) -> Any | None:
        # Airflow 3.3+ injects the watched asset's state store before run(); it answers aget/aset for a
        # watcher of one asset (and raises ValueError for several, handled as "no store" below).
        return getattr(self, "asset_state_store", None)

    async def _load_seen(self) -> None:
        if self.seen_versions is not None:
            return
        store = self._store()
        if store is None:
            return
        try:
            stored = await store.aget(self._state_key())
        except Exception as exc:  # the store is a convenience; the baseline still protects from repeats
            self.log.warning("Could not read the watcher's state (%s); starting from what exists now.", exc)
            return
        if isinstance(stored, list) and all(isinstance(item, str) for item in stored):
            self.seen_versions = _sorted_versions(stored)
            self.log.info("Studio dataset %s: resuming after versions %s.", self.dataset, self.seen_versions)

    async def _save_seen(self) -> None:
        store = self._store()
        if store is None or self.seen_versions is None:
            return
        try:
            await store.aset(self._state_key(), list(self.seen_versions))
        except Exception as exc:
            self.log.warning("Could not store the watcher's state: %s", exc)

    async def _observe(self, info: DatasetInfo | None) -> list[TriggerEvent]:
        """The events for a reading (none for the first, which sets the baseline); updates the state."""
        if self.seen_versions is None:
            self.seen_versions = _sorted_versions(complete_versions(info))
            self.log.info(
                "Watching Studio dataset %s; COMPLETE versions at start (not fired): %s.",
                self.dataset,
                ", ".join(self.seen_versions) or "none",
            )
            await self._save_seen()
            return []
        fresh = new_versions(info, self.seen_versions)
        if not fresh:
            return []
        # Keep only versions that still exist: the state stays as small as the dataset.
        self.seen_versions = _sorted_versions([*complete_versions(info)])
        await self._save_seen()
        return [TriggerEvent(self._payload(version)) for version in fresh]  # type: ignore[no-untyped-call]

    def _payload(self, version: DatasetVersionInfo) -> dict[str, Any]:
        self.log.info("Studio dataset %s: new COMPLETE version %s.", self.dataset, version.version)
        config = self._config
        url = job_url(config, version.job_id) if config is not None and version.job_id else None
        # The operators' events carry the same dict (event_payload): one shape for consumers.
        return event_payload(version, team=self._team or self.team, job_id=version.job_id, job_url=url)

    #: The connection's settings, once resolved (when watching starts): the team and the job URLs.
    _config: StudioConfig | None = None

    @property
    def _team(self) -> str | None:
        return None if self._config is None else self._config.team

    # ---- one poll per trigger (any Airflow) --------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the dataset every ``poll_interval`` and yield an event per new COMPLETE version."""
        ref = self.ref
        await self._load_seen()
        config = self._config = await StudioAsyncHook(self.studio_conn_id, team=self.team).get_config()
        async with shared_client(config) as client:
            async for info in watch_dataset(client, ref, interval=self.poll_interval):
                for event in await self._observe(info):
                    yield event

    # ---- one poll per team (Airflow 3.3+ shared streams) -----------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one connection, team and interval share one poll of the team's datasets."""
        return ("studio-datasets", self.studio_conn_id, self.team or "", self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Read all of the team's datasets every ``poll_interval``, for ever; yield each reading (a
        :class:`TeamSnapshot`). Transient failures are retried; a lasting one ends the stream."""
        conn_id = kwargs.get("studio_conn_id") or DEFAULT_CONN_ID
        interval = float(kwargs.get("poll_interval") or 60.0)
        config = await StudioAsyncHook(conn_id, team=kwargs.get("team")).get_config()
        async with shared_client(config) as client:
            async for infos in watch_team(client, interval=interval):
                yield TeamSnapshot(infos, time.time())

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the team's shared readings."""
        ref = self.ref
        await self._load_seen()
        if self._config is None:
            self._config = await StudioAsyncHook(self.studio_conn_id, team=self.team).get_config()
        async for snapshot in shared_stream:
            if not isinstance(snapshot, TeamSnapshot):
                continue
            matches = [info for info in snapshot.datasets if info.matches(ref)]
            if len(matches) > 1:
                raise StudioError(
                    f"Dataset name {ref.name!r} is ambiguous; watch '@namespace.project.{ref.name}'."
                )
            for event in await self._observe(matches[0] if matches else None):
                yield event


__all__ = ["StudioDatasetTrigger", "StudioDatasetVersionTrigger", "TeamSnapshot"]
