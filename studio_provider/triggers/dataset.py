"""Triggers on Studio datasets.

- :class:`StudioDatasetTrigger`: a deferred :class:`~studio_provider.sensors.dataset.StudioDatasetSensor`
  waits here for a version; one final event (:class:`DatasetWaitResult`).
- :class:`StudioDatasetVersionTrigger`: a ``BaseEventTrigger`` for an ``AssetWatcher``; one event per new
  COMPLETE version of a dataset, for as long as it watches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from studio_provider.assets import dataset_uri
from studio_provider.client import DatasetRef, StudioError
from studio_provider.client.dataset_wait import (
    DatasetInfo,
    DatasetVersionInfo,
    Verdict,
    VersionTarget,
    afind_dataset,
    complete_versions,
    dataset_ref,
    failure_message,
    new_versions,
    version_key,
    wait_for_version,
)
from studio_provider.client.errors import StudioDeadlineExceeded
from studio_provider.client.pool import shared_client
from studio_provider.client.wait import Deadline, is_transient, poll_until, sleep_within
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioAsyncHook
from studio_provider.wait_events import payload_fields
from studio_provider.waiting import WaitEnd, positive_seconds

log = logging.getLogger(__name__)

#: The asset state store key prefix under which a watcher keeps the versions it has seen (Airflow 3.3+).
SEEN_STATE_KEY = "studio_seen_versions"


# ---- the sensor's wait ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetWaitResult:
    """How a wait for a dataset version ended: the trigger's event payload.

    :param end: why the wait ended (``finished``: the verdict is ``ready`` or ``failed``).
    :param dataset: the reference waited on.
    :param verdict: :class:`~studio_provider.client.dataset_wait.Verdict` value, when finished.
    :param version: the version reading (:meth:`DatasetVersionInfo.to_dict`), when finished.
    :param message: a sentence for the task log.
    :param deadline: the deadline, as epoch seconds.
    """

    end: WaitEnd
    dataset: str
    verdict: str | None = None
    version: dict[str, Any] | None = None
    message: str = ""
    deadline: float | None = None

    @property
    def version_info(self) -> DatasetVersionInfo | None:
        """The version, typed."""
        return None if self.version is None else DatasetVersionInfo.from_dict(self.version)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (primitives only)."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"end": self.end.value}

    @classmethod
    def from_dict(cls, data: object) -> DatasetWaitResult:
        """Read a payload back, checking it.

        :raises ValueError: when the payload is not one this class wrote.
        """
        data, end, deadline = payload_fields(cls, data, "Studio dataset wait result")
        verdict = data.get("verdict")
        if verdict is not None and verdict not in {v.value for v in Verdict}:
            raise ValueError(f"Invalid 'verdict' in a Studio dataset wait result: {verdict!r}.")
        version = data.get("version")
        if version is not None:
            if not isinstance(version, Mapping):
                raise ValueError(f"Invalid 'version' in a Studio dataset wait result: {version!r}.")
            DatasetVersionInfo.from_dict(version)
        return cls(
            end=end,
            dataset=str(data.get("dataset") or ""),
            verdict=verdict,
            version=None if version is None else dict(version),
            message=str(data.get("message") or ""),
            deadline=deadline,
        )


async def dataset_to_result(
    client: Any, ref: DatasetRef, target: VersionTarget, *, deadline: Deadline, poll_interval: float
) -> DatasetWaitResult:
    """Wait for ``target`` and say how the wait ended; never raises for Studio's sake (one event).

    :param client: the async client (the loop's shared one).
    :param ref: the dataset.
    :param target: the awaited version.
    :param deadline: when to stop.
    :param poll_interval: seconds between reads.
    """
    what = f"{target.describe()} of Studio dataset {ref}"
    try:
        verdict, version = await wait_for_version(
            client, ref, target, deadline=deadline, poll_interval=poll_interval
        )
    except StudioDeadlineExceeded:
        return DatasetWaitResult(
            end=WaitEnd.DEADLINE,
            dataset=str(ref),
            message=f"The deadline {deadline.describe()} passed while waiting for {what}.",
            deadline=deadline.at,
        )
    except StudioError as exc:
        return DatasetWaitResult(
            end=WaitEnd.ERROR,
            dataset=str(ref),
            message=f"Waiting for {what} failed: {exc}",
            deadline=deadline.at,
        )
    assert version is not None  # wait_for_version never returns WAIT
    if verdict is Verdict.READY:
        message = f"Studio dataset {ref} has {target.describe()}: {version.version} is COMPLETE."
    else:
        message = failure_message(ref, version)
    return DatasetWaitResult(
        end=WaitEnd.FINISHED,
        dataset=str(ref),
        verdict=verdict.value,
        version=version.to_dict(),
        message=message,
        deadline=deadline.at,
    )


class StudioDatasetTrigger(BaseTrigger):
    """Poll a Studio dataset until the awaited version is COMPLETE, or will never be (FAILED and the
    like), or the deadline passes; yield exactly one event (a :class:`DatasetWaitResult` dict).

    Transient failures are survived until the deadline; triggers of one connection share one pooled
    client in the triggerer's event loop.

    :param dataset: the dataset reference (no version).
    :param version: an exact version.
    :param min_version: the lowest acceptable version.
    :param after_version: only versions above this one.
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param deadline: an absolute deadline (epoch seconds); ``None`` waits for ever.
    :param poll_interval: seconds between reads.
    """

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

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and primitive kwargs (never a token)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dataset": self.dataset,
                "version": self.version,
                "min_version": self.min_version,
                "after_version": self.after_version,
                "studio_conn_id": self.studio_conn_id,
                "team": self.team,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the dataset and yield one final event."""
        try:
            ref = dataset_ref(self.dataset)
            target = VersionTarget(self.version, self.min_version, self.after_version)
            config = await StudioAsyncHook(self.studio_conn_id, team=self.team).get_config()
            async with shared_client(config) as client:
                result = await dataset_to_result(
                    client, ref, target, deadline=Deadline(self.deadline), poll_interval=self.poll_interval
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one final event, whatever happened
            result = DatasetWaitResult(
                end=WaitEnd.ERROR,
                dataset=self.dataset,
                message=f"Waiting for Studio dataset {self.dataset} failed: {type(exc).__name__}: {exc}",
                deadline=self.deadline,
            )
        self.log.info(result.message)
        yield TriggerEvent(result.to_dict())  # type: ignore[no-untyped-call]


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

    Each event's payload: ``dataset``, ``uri``, ``version``, ``status``, ``num_objects``, ``size``,
    ``job_id``, ``finished_at`` (Airflow stores it in the asset event's ``extra["payload"]``).

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
        team = self._team or self.team
        return {
            "dataset": str(DatasetRef(version.name, "@" + version.namespace, version.project)),
            "uri": dataset_uri(
                team=team, namespace=version.namespace, project=version.project, name=version.name
            )
            if team
            else None,
            "version": version.version,
            "status": version.status,
            "num_objects": version.num_objects,
            "size": version.size,
            "job_id": version.job_id,
            "finished_at": version.finished_at,
        }

    #: The team the connection resolved to (set when watching starts).
    _team: str | None = None

    # ---- one poll per trigger (any Airflow) --------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the dataset every ``poll_interval`` and yield an event per new COMPLETE version."""
        ref = self.ref
        await self._load_seen()
        config = await StudioAsyncHook(self.studio_conn_id, team=self.team).get_config()
        self._team = config.team
        async with shared_client(config) as client:
            while True:
                info = await poll_until(
                    lambda: afind_dataset(client, ref),
                    lambda _reading: True,
                    interval=self.poll_interval,
                    deadline=Deadline.never(),
                    what=f"Studio dataset {ref}",
                )
                for event in await self._observe(info):
                    yield event
                await asyncio.sleep(self.poll_interval)

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
        never = Deadline.never()
        async with shared_client(config) as client:
            while True:
                try:
                    raw = await client.list_datasets()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.warning("Reading the datasets of team %s failed (%s); retrying.", config.team, exc)
                else:
                    infos = []
                    for item in raw:
                        try:
                            infos.append(DatasetInfo.from_dict(item))
                        except ValueError:
                            continue
                    yield TeamSnapshot(tuple(infos), time.time())
                await sleep_within(interval, never)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the team's shared readings."""
        ref = self.ref
        await self._load_seen()
        if self._team is None:
            self._team = (await StudioAsyncHook(self.studio_conn_id, team=self.team).get_config()).team
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


__all__ = [
    "DatasetWaitResult",
    "StudioDatasetTrigger",
    "StudioDatasetVersionTrigger",
    "TeamSnapshot",
    "dataset_to_result",
]
