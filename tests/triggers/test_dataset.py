"""The dataset triggers against the emulator: the sensor's one-event wait, and the asset watcher that fires
once per new COMPLETE version (not for old ones, not twice after a rebuild from ``serialize()``, resuming
from the asset state store), with one shared team poll under Airflow 3.3's shared streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from studio_provider.assets import PAYLOAD_KEYS
from studio_provider.client.waiting import WaitEnd
from studio_provider.emulator import EmulatorServer
from studio_provider.triggers.dataset import (
    DatasetWaitResult,
    StudioDatasetTrigger,
    StudioDatasetVersionTrigger,
)
from tests.conftest import EMULATOR_TOKEN
from tests.dataset_helpers import run_writer, seed, start_writer
from tests.studio_tasks import rebuild, run_trigger

pytestmark = pytest.mark.integration

DATASET = "@acme.zoo.cats"
INFO_PATH = "/api/datachain/datasets/info"
LIST_PATH = "/api/datachain/datasets"


# ---- StudioDatasetTrigger (the sensor's wait) ----------------------------------------------------


def test_the_wait_trigger_serializes_primitives_and_no_token() -> None:
    original = StudioDatasetTrigger(DATASET, min_version="1.2.0", deadline=1.5e9, poll_interval=2)
    classpath, kwargs = original.serialize()
    assert classpath == "studio_provider.triggers.dataset.StudioDatasetTrigger"
    assert EMULATOR_TOKEN not in json.dumps(kwargs) and "token" not in json.dumps(kwargs).lower()
    assert rebuild(original).serialize() == original.serialize()


def test_the_wait_trigger_reports_a_version_a_running_job_completes(emulator: EmulatorServer) -> None:
    job_id = start_writer(emulator, DATASET)
    event = run_trigger(StudioDatasetTrigger(DATASET, version="1.0.0", deadline=None, poll_interval=0.1))
    result = DatasetWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.FINISHED and result.verdict == "ready"
    info = result.version_info
    assert info is not None and info.version == "1.0.0" and info.status == 4 and info.job_id == job_id


def test_the_wait_trigger_reports_a_failed_version_and_a_deadline(emulator: EmulatorServer) -> None:
    run_writer(emulator, DATASET, exit_code=1)
    failed = DatasetWaitResult.from_dict(
        run_trigger(StudioDatasetTrigger(DATASET, version="1", poll_interval=0.1)).payload
    )
    assert failed.end is WaitEnd.FINISHED and failed.verdict == "failed"
    assert "ended FAILED (3)" in failed.message

    late = DatasetWaitResult.from_dict(
        run_trigger(StudioDatasetTrigger(DATASET, min_version="2", deadline=0.0, poll_interval=0.1)).payload
    )
    assert late.end is WaitEnd.DEADLINE and "a version >= 2.0.0" in late.message


def test_an_unreadable_reference_ends_in_one_error_event(emulator: EmulatorServer) -> None:
    event = run_trigger(StudioDatasetTrigger("bad name", poll_interval=0.1))
    result = DatasetWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.ERROR and "invalid dataset reference" in result.message


# ---- StudioDatasetVersionTrigger (the asset watcher) ----------------------------------------------


class Watch:
    """Runs an event stream in a task and collects its events."""

    def __init__(self, stream: AsyncIterator[TriggerEvent]) -> None:
        self.events: asyncio.Queue[TriggerEvent] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._drain(stream))

    async def _drain(self, stream: AsyncIterator[TriggerEvent]) -> None:
        async for event in stream:
            await self.events.put(event)

    async def next_version(self, timeout: float = 30) -> str:
        event = await asyncio.wait_for(self.events.get(), timeout)
        return str(event.payload["version"])

    def pending(self) -> list[str]:
        found = []
        while not self.events.empty():
            found.append(str(self.events.get_nowait().payload["version"]))
        return found

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


async def more_polls(server: EmulatorServer, path: str = INFO_PATH, polls: int = 3) -> None:
    """Until the watcher has read ``path`` ``polls`` more times: after that, an event that did not fire
    would have fired (bounded, as ``until`` is)."""
    before = server.injector.count("GET", path)
    await until(lambda: server.injector.count("GET", path) >= before + polls)


async def seed_async(server: EmulatorServer, name: str, version: str | None = None) -> None:
    await asyncio.to_thread(seed, server, name, version)


def watcher(**kwargs: Any) -> StudioDatasetVersionTrigger:
    kwargs.setdefault("poll_interval", 0.1)
    return StudioDatasetVersionTrigger(DATASET, **kwargs)


def test_the_watcher_refuses_bad_input_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="invalid dataset reference"):
        StudioDatasetVersionTrigger("cats and dogs")
    with pytest.raises(ValueError, match=r"drop @v1\.0\.0"):
        StudioDatasetVersionTrigger("@a.b.cats@v1.0.0")
    with pytest.raises(ValueError, match="poll_interval must be a positive"):
        StudioDatasetVersionTrigger("@a.b.cats", poll_interval=0)


def test_new_versions_fire_once_and_old_ones_never(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    seed(emulator, DATASET, "1.0.1")

    async def scenario() -> tuple[list[str], StudioDatasetVersionTrigger]:
        trigger = watcher()
        watch = Watch(trigger.run())
        await until(lambda: trigger.seen_versions is not None)
        assert trigger.seen_versions == ["1.0.0", "1.0.1"]  # the baseline
        await seed_async(emulator, DATASET, "1.0.2")
        first = await watch.next_version()
        await seed_async(emulator, DATASET, "1.1.0")
        second = await watch.next_version()
        await more_polls(emulator)  # several more polls: nothing else may fire
        fired = [first, second, *watch.pending()]
        await watch.stop()
        return fired, trigger

    fired, trigger = asyncio.run(scenario())
    assert fired == ["1.0.2", "1.1.0"]
    # The state travels in serialize(): a rebuilt trigger does not fire these again...
    assert trigger.serialize()[1]["seen_versions"] == ["1.0.0", "1.0.1", "1.0.2", "1.1.0"]
    rebuilt = rebuild(trigger)

    async def after_rebuild() -> list[str]:
        watch = Watch(rebuilt.run())
        await more_polls(emulator)
        assert watch.pending() == []
        # ...but a version completed after the rebuild fires once.
        await seed_async(emulator, DATASET, "1.2.0")
        fired = [await watch.next_version()]
        await more_polls(emulator)
        fired += watch.pending()
        await watch.stop()
        return fired

    assert asyncio.run(after_rebuild()) == ["1.2.0"]


def test_the_event_payload(emulator: EmulatorServer) -> None:
    async def scenario() -> dict[str, Any]:
        trigger = watcher()
        watch = Watch(trigger.run())
        await until(lambda: trigger.seen_versions is not None)
        await asyncio.to_thread(run_writer, emulator, f"{DATASET} num_objects=5 size=50")
        event = await asyncio.wait_for(watch.events.get(), 30)
        await watch.stop()
        return dict(event.payload)

    payload = asyncio.run(scenario())
    # The keys of the operators' events (event_payload): one shape for consumers.
    assert list(payload) == list(PAYLOAD_KEYS)
    assert payload.pop("finished_at")
    job_id = payload.pop("job_id")
    assert payload == {
        "dataset": f"{DATASET}@v1.0.0",
        "uri": "datachain://team-a/acme/zoo/cats",
        "version": "1.0.0",
        "status": 4,
        "num_objects": 5,
        "size": 50,
        "job_url": f"{emulator.url}/team/team-a/datasets/jobs/{job_id}",
    }


def test_a_version_pending_at_the_start_fires_when_it_completes(emulator: EmulatorServer) -> None:
    start_writer(emulator, DATASET, duration=1.5)

    async def scenario() -> list[str]:
        trigger = watcher()
        watch = Watch(trigger.run())
        fired = [await watch.next_version()]
        await watch.stop()
        return fired

    assert asyncio.run(scenario()) == ["1.0.0"]


class MemoryAssetStore:
    """Stands in for Airflow 3.3's per-asset state store accessor (``aget``/``aset``), kept in a dict so
    it outlives one trigger instance, as the metadata database does across a triggerer restart."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        json.dumps(value)
        self.values[key] = value


def test_after_a_restart_the_watcher_resumes_from_the_asset_state_store(emulator: EmulatorServer) -> None:
    seed(emulator, DATASET, "1.0.0")
    store = MemoryAssetStore()

    async def first_life() -> list[str]:
        trigger = watcher()  # as the DAG declares it: no state in its kwargs
        trigger.asset_state_store = store  # type: ignore[assignment]
        watch = Watch(trigger.run())
        await until(lambda: trigger.seen_versions is not None)
        await seed_async(emulator, DATASET, "1.0.1")
        fired = [await watch.next_version()]
        await watch.stop()  # the triggerer goes down
        return fired

    async def second_life() -> list[str]:
        trigger = watcher()  # rebuilt from the DAG's kwargs again
        trigger.asset_state_store = store  # type: ignore[assignment]
        watch = Watch(trigger.run())
        fired = [await watch.next_version()]
        await more_polls(emulator)
        fired += watch.pending()
        await watch.stop()
        return fired

    assert asyncio.run(first_life()) == ["1.0.1"]
    assert list(store.values.values()) == [["1.0.0", "1.0.1"]]
    seed(emulator, DATASET, "1.0.2")  # completed while the triggerer was down
    assert asyncio.run(second_life()) == ["1.0.2"]


def test_watchers_of_one_team_share_one_poll(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_stream = pytest.importorskip(
        "airflow.triggers.shared_stream", reason="Airflow 3.3+ shared streams"
    )
    opened: list[dict[str, Any]] = []
    original = StudioDatasetVersionTrigger.open_shared_stream.__func__  # type: ignore[attr-defined]

    def counting(cls: type, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        opened.append(kwargs)
        return original(cls, kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(StudioDatasetVersionTrigger, "open_shared_stream", classmethod(counting))
    for name in ("@acme.zoo.cats", "@acme.zoo.dogs", "@acme.zoo.owls"):
        seed(emulator, name, "1.0.0")
    triggers = [
        StudioDatasetVersionTrigger(name, poll_interval=0.2)
        for name in ("@acme.zoo.cats", "@acme.zoo.dogs", "@acme.zoo.owls", "@acme.zoo.cats")
    ]
    keys = {trigger.shared_stream_key() for trigger in triggers}
    assert len(keys) == 1

    async def scenario() -> list[list[str]]:
        manager = shared_stream.SharedStreamManager()
        (key,) = keys
        watches = [
            Watch(trigger.filter_shared_stream(manager.subscribe(trigger_id=index, trigger=trigger, key=key)))
            for index, trigger in enumerate(triggers)
        ]
        await until(lambda: all(trigger.seen_versions is not None for trigger in triggers))
        emulator.injector.reset()
        await seed_async(emulator, "@acme.zoo.cats", "1.0.1")
        await seed_async(emulator, "@acme.zoo.dogs", "2.0.0")
        fired = [
            [await watches[0].next_version()],
            [await watches[1].next_version()],
            [],
            [await watches[3].next_version()],
        ]
        await more_polls(emulator, LIST_PATH)
        for index, watch in enumerate(watches):
            fired[index] += watch.pending()
            await watch.stop()
            await manager.unsubscribe(index, key)
        await manager.stop_all()
        return fired

    assert asyncio.run(scenario()) == [["1.0.1"], ["2.0.0"], [], ["1.0.1"]]
    # Four watchers, one poll: one shared stream opened, reading the team's list (never one dataset).
    assert len(opened) == 1
    reads = [str(e["path"]) for e in emulator.injector.requests() if "/datachain/datasets" in str(e["path"])]
    assert reads and all(path.endswith("/datachain/datasets") for path in reads)


# ---- transient failures --------------------------------------------------------------------------



def test_the_wait_trigger_survives_transient_errors(
    studio_connection: Callable[..., str], emulator: EmulatorServer
) -> None:
    # No transport retries: the trigger's own tolerance (poll_until) has to carry the wait.
    conn_id = studio_connection(emulator, conn_id="studio_no_retries", max_retries=0)
    start_writer(emulator, DATASET)
    emulator.injector.add_rule("error", method="GET", path=INFO_PATH, status=503, count=3)
    emulator.injector.add_rule(
        "error", method="GET", path=INFO_PATH, status=429, retry_after=0, count=2, after=3
    )
    event = run_trigger(
        StudioDatasetTrigger(DATASET, version="1.0.0", studio_conn_id=conn_id, poll_interval=0.1)
    )
    result = DatasetWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.FINISHED and result.verdict == "ready"
    assert emulator.injector.count("GET", INFO_PATH, 503) == 3
    assert emulator.injector.count("GET", INFO_PATH, 429) == 2


def test_credentials_that_stop_working_end_the_wait_with_one_error_event(
    studio_connection: Callable[..., str], emulator: EmulatorServer
) -> None:
    conn_id = studio_connection(emulator, conn_id="studio_bad_token", token="not-a-token")
    event = run_trigger(
        StudioDatasetTrigger(DATASET, version="1.0.0", studio_conn_id=conn_id, poll_interval=0.1)
    )
    result = DatasetWaitResult.from_dict(event.payload)
    assert result.end is WaitEnd.ERROR and "401" in result.message
    assert "not-a-token" not in json.dumps(event.payload)


def test_the_watcher_survives_transient_errors(
    studio_connection: Callable[..., str], emulator: EmulatorServer
) -> None:
    conn_id = studio_connection(emulator, conn_id="studio_no_retries", max_retries=0)
    seed(emulator, DATASET, "1.0.0")

    async def scenario() -> list[str]:
        trigger = watcher(studio_conn_id=conn_id)
        watch = Watch(trigger.run())
        await until(lambda: trigger.seen_versions is not None)
        emulator.injector.add_rule("error", method="GET", path=INFO_PATH, status=502, count=4)
        emulator.injector.add_rule("outage", method="GET", path=INFO_PATH, seconds=0.5)
        await seed_async(emulator, DATASET, "1.0.1")
        fired = [await watch.next_version()]
        await more_polls(emulator)
        fired += watch.pending()
        await watch.stop()
        return fired

    assert asyncio.run(scenario()) == ["1.0.1"]
    assert emulator.injector.count("GET", INFO_PATH, 502) == 4


def test_the_shared_poll_survives_transient_errors(
    studio_connection: Callable[..., str], emulator: EmulatorServer
) -> None:
    shared_stream = pytest.importorskip(
        "airflow.triggers.shared_stream", reason="Airflow 3.3+ shared streams"
    )
    conn_id = studio_connection(emulator, conn_id="studio_no_retries", max_retries=0)
    seed(emulator, DATASET, "1.0.0")
    trigger = watcher(studio_conn_id=conn_id)

    async def scenario() -> list[str]:
        manager = shared_stream.SharedStreamManager()
        key = trigger.shared_stream_key()
        watch = Watch(trigger.filter_shared_stream(manager.subscribe(trigger_id=1, trigger=trigger, key=key)))
        await until(lambda: trigger.seen_versions is not None)
        emulator.injector.add_rule("error", method="GET", path=LIST_PATH, status=503, count=3)
        await seed_async(emulator, DATASET, "1.0.1")
        fired = [await watch.next_version()]
        await watch.stop()
        await manager.unsubscribe(1, key)
        await manager.stop_all()
        return fired

    assert asyncio.run(scenario()) == ["1.0.1"]
    assert emulator.injector.count("GET", LIST_PATH, 503) == 3
