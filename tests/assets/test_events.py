"""Studio datasets as Airflow assets: the naming scheme, its registration with Airflow, the events the job
and pipeline operators record (and do not record for a failed job), and a real DAG run whose asset event
queues a DAG scheduled on that dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from studio_provider.assets import (
    DEFAULT_ALIAS_NAME,
    PAYLOAD_KEYS,
    dataset_uri,
    emit_dataset_events,
    event_extra,
    event_payload,
    parse_dataset_uri,
    studio_dataset_asset,
    studio_dataset_events,
    studio_datasets_alias,
    warn_other_team_assets,
)
from studio_provider.client.dataset_info import DatasetVersionInfo
from studio_provider.compat import nested_event_extras_supported
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioJobFailedError
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from tests.pipeline_helpers import build_lineage
from tests.studio_tasks import task_context

DAGS = Path(__file__).resolve().parent.parent / "dags"


# ---- the naming scheme ----------------------------------------------------------------------------


def test_one_uri_per_dataset_from_any_spelling() -> None:
    expected = "datachain://acme/ns/proj/thumbs"
    assets = [
        studio_dataset_asset("@ns.proj.thumbs", team="acme"),
        studio_dataset_asset(name="thumbs", namespace="@ns", project="proj", team="acme"),
        studio_dataset_asset(name="thumbs", namespace="ns", project="proj", team="acme"),
    ]
    assert {(a.name, a.uri) for a in assets} == {(expected, expected)}
    assert assets[0] == assets[1] == assets[2]
    assert parse_dataset_uri(expected) == ("acme", "ns", "proj", "thumbs")
    assert dataset_uri(team="a b", namespace="n", project="p", name="d") == "datachain://a%20b/n/p/d"
    assert studio_datasets_alias() == AssetAlias(DEFAULT_ALIAS_NAME, group="datachain-studio")


def providers_manager() -> Any:
    """The providers manager the asset code consults (the task SDK's own from Airflow 3.2)."""
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    except ImportError:  # Airflow 3.1
        from airflow.providers_manager import ProvidersManager

        return ProvidersManager()
    return ProvidersManagerTaskRuntime()


def test_airflow_normalizes_hand_written_uris_with_the_registered_handler() -> None:
    # The provider info registers the scheme (asset-uris): Airflow applies our normalizer.
    manager = providers_manager()
    assert "datachain" in manager.asset_uri_handlers
    assert "datachain" in manager.asset_factories
    assert Asset(uri="datachain://acme/@ns/proj/thumbs/").uri == "datachain://acme/ns/proj/thumbs"
    with pytest.raises(ValueError, match="not a Studio dataset asset URI"):
        Asset(uri="datachain://acme/only-two/parts")
    made = manager.asset_factories["datachain"](team="acme", namespace="ns", project="proj", name="thumbs")
    assert made == studio_dataset_asset("@ns.proj.thumbs", team="acme")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("thumbs",), {"team": "acme"}, "needs its namespace and project"),
        (("@ns.proj.thumbs@v1.0.0",), {"team": "acme"}, "drop @v1.0.0"),
        (("@ns.thumbs",), {"team": "acme"}, "expected @namespace.project.name"),
        (("@ns.proj.thumbs",), {"team": ""}, "non-empty team"),
        (("bad name",), {"team": "acme"}, "invalid dataset reference"),
    ],
)
def test_bad_references_are_refused_clearly(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        studio_dataset_asset(*args, **kwargs)


def version(name: str, number: str, **fields: Any) -> DatasetVersionInfo:
    return DatasetVersionInfo(namespace="ns", project="proj", name=name, version=number, status=4, **fields)


def test_events_on_aliases_and_on_declared_assets_that_were_produced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alias = studio_datasets_alias()
    declared = studio_dataset_asset("@ns.proj.thumbs", team="acme")
    not_produced = studio_dataset_asset("@ns.proj.other", team="acme")
    events = OutletEventAccessors()
    produced = [
        (version("thumbs", "1.0.3", num_objects=7, size=70), "job-1", "http://studio/job-1"),
        (version("labels", "2.0.0"), "job-1", "http://studio/job-1"),
    ]
    count = emit_dataset_events(
        {"outlet_events": events}, [alias, declared, not_produced], produced, team="acme"
    )

    assert count == 2
    alias_events = events[alias].asset_alias_events
    assert [(e.dest_asset_key.uri, e.extra["version"]) for e in alias_events] == [
        ("datachain://acme/ns/proj/thumbs", "1.0.3"),
        ("datachain://acme/ns/proj/labels", "2.0.0"),
    ]
    details = {
        "dataset": "@ns.proj.thumbs@v1.0.3",
        "uri": "datachain://acme/ns/proj/thumbs",
        "version": "1.0.3",
        "status": 4,
        "num_objects": 7,
        "size": 70,
        "job_id": "job-1",
        "job_url": "http://studio/job-1",
        "finished_at": None,
    }
    # The details under "payload", where a watcher's event has them, and at the top level as before.
    # (Airflow before 3.1.2 cannot record a nested extra through an alias: the top-level keys only.)
    assert alias_events[0].extra == ({**details, "payload": details} if nested_event_extras_supported() else details)
    assert events[declared].extra["version"] == "1.0.3"
    assert events[not_produced].extra == {}
    assert "datachain://acme/ns/proj/other was not produced" in caplog.text


def triggering(*events: tuple[str, dict[str, Any], list[str]]) -> Any:
    """Airflow's own ``triggering_asset_events`` accessor over events ``(asset uri, extra, alias names)``."""
    from datetime import datetime, timezone

    from airflow.sdk.api.datamodels._generated import (
        AssetAliasReferenceAssetEventDagRun,
        AssetReferenceAssetEventDagRun,
    )
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    return TriggeringAssetEventsAccessor.build(
        AssetEventDagRunReferenceResult(
            asset=AssetReferenceAssetEventDagRun(name=uri, uri=uri, extra={}),
            extra=extra,
            source_task_id=None,
            source_dag_id=None,
            source_run_id=None,
            source_map_index=None,
            source_aliases=[AssetAliasReferenceAssetEventDagRun(name=name) for name in aliases],
            timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc),
        )
        for uri, extra, aliases in events
    )


def test_operator_and_watcher_events_have_the_same_details() -> None:
    thumbs = version("thumbs", "1.0.3", num_objects=7, size=70, job_id="job-1", finished_at="2026-01-01T00:00:00")
    labels = version("labels", "2.0.0", job_id="job-2")
    operator_extra = event_extra(thumbs, team="acme", job_id="job-1", job_url="http://studio/job-1")
    # Airflow stores a trigger's payload as {"from_trigger": True, "payload": <the payload>}.
    watcher_extra = {"from_trigger": True, "payload": event_payload(labels, team="acme", job_url="http://studio/job-2")}
    operator_details = operator_extra["payload"] if nested_event_extras_supported() else operator_extra
    assert set(operator_details) == set(watcher_extra["payload"]) == set(PAYLOAD_KEYS)
    assert {"version", "job_url", "uri"} <= set(operator_extra)

    # Through the alias, an operator's event is listed under the asset and under the alias: read once.
    events = triggering(
        ("datachain://acme/ns/proj/thumbs", operator_extra, [DEFAULT_ALIAS_NAME]),
        ("datachain://acme/ns/proj/labels", watcher_extra, []),
        ("s3://bucket/other", {"payload": {"version": "9"}}, []),  # not a Studio dataset: left out
    )
    assert any(isinstance(key, AssetAlias) for key in events)
    read = studio_dataset_events(events)
    assert [(item["uri"], item["version"], item["job_url"]) for item in read] == [
        ("datachain://acme/ns/proj/thumbs", "1.0.3", "http://studio/job-1"),
        ("datachain://acme/ns/proj/labels", "2.0.0", "http://studio/job-2"),
    ]
    assert all(list(item) == list(PAYLOAD_KEYS) for item in read)
    assert studio_dataset_events(None) == []


def test_a_version_emitted_and_watched_is_read_once_in_one_run() -> None:
    thumbs = version("thumbs", "1.0.3", job_id="job-1")
    operator_extra = event_extra(thumbs, team="acme", job_id="job-1", job_url="http://studio/job-1")
    watcher_extra = {"from_trigger": True, "payload": event_payload(thumbs, team="acme", job_url="http://studio/job-1")}
    uri = "datachain://acme/ns/proj/thumbs"
    events = triggering((uri, operator_extra, [DEFAULT_ALIAS_NAME]), (uri, watcher_extra, []))
    assert len(events[studio_dataset_asset("@ns.proj.thumbs", team="acme")]) == 2
    assert [item["version"] for item in studio_dataset_events(events)] == ["1.0.3"]


def test_assets_of_another_team_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    mine = studio_dataset_asset("@ns.proj.thumbs", team="team-a")
    theirs = studio_dataset_asset("@ns.proj.labels", team="acme")
    found = warn_other_team_assets(
        [studio_datasets_alias(), mine, theirs, Asset("s3://bucket/x")], team="team-a", conn_id="studio_a"
    )
    assert found == [("datachain://acme/ns/proj/labels", "acme")]
    (record,) = [r for r in caplog.records if r.levelname == "WARNING"]
    message = record.getMessage()
    assert "datachain://acme/ns/proj/labels names Studio team 'acme'" in message
    assert "works in team 'team-a' (connection 'studio_a')" in message
    assert "never runs" in message and "team='team-a'" in message


# ---- operators against the emulator ---------------------------------------------------------------


def job_operator(writes: str, **env: Any) -> StudioRunJobOperator:
    return StudioRunJobOperator(
        task_id="writer",
        query="print(1)",
        environment={
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": "0.2",
            "STUDIO_EMULATOR_WRITES": writes,
            **env,
        },
        poll_interval=0.2,
        deferrable=False,
        outlets=[studio_datasets_alias(), studio_dataset_asset("@acme.zoo.cats", team="team-a")],
    )


@pytest.mark.integration
def test_a_completed_job_records_its_versions(emulator: EmulatorServer) -> None:
    events = OutletEventAccessors()
    operator = job_operator("@acme.zoo.cats,@acme.zoo.dogs")
    result = operator.execute({**task_context(), "outlet_events": events})

    alias_events = events[studio_datasets_alias()].asset_alias_events
    assert [(e.dest_asset_key.uri, e.extra["version"], e.extra["job_id"]) for e in alias_events] == [
        ("datachain://team-a/acme/zoo/cats", "1.0.0", result["job_id"]),
        ("datachain://team-a/acme/zoo/dogs", "1.0.0", result["job_id"]),
    ]
    assert alias_events[0].extra["job_url"] == result["job_url"]
    assert events[studio_dataset_asset("@acme.zoo.cats", team="team-a")].extra["version"] == "1.0.0"


@pytest.mark.integration
def test_a_failed_job_records_nothing(emulator: EmulatorServer) -> None:
    events = OutletEventAccessors()
    operator = job_operator("@acme.zoo.cats", STUDIO_EMULATOR_EXIT_CODE="1")
    with pytest.raises(StudioJobFailedError):
        operator.execute({**task_context(), "outlet_events": events})
    assert events[studio_datasets_alias()].asset_alias_events == []
    assert events[studio_dataset_asset("@acme.zoo.cats", team="team-a")].extra == {}
    assert operator.studio_produced is None


@pytest.mark.integration
def test_a_completed_pipeline_run_records_the_versions_of_its_jobs(emulator: EmulatorServer) -> None:
    build_lineage(emulator)
    events = OutletEventAccessors()
    operator = StudioTriggerPipelineOperator(
        task_id="rebuild",
        datasets=["features"],
        poll_interval=0.2,
        deferrable=False,
        outlets=[studio_datasets_alias()],
    )
    result = operator.execute({**task_context(), "outlet_events": events})

    assert result["status"] == "COMPLETED"
    run_jobs = {run["studio_job_id"] for run in result["job_runs"]}
    alias_events = events[studio_datasets_alias()].asset_alias_events
    recorded = {(e.dest_asset_key.uri, e.extra["job_id"]) for e in alias_events}
    assert {job for _uri, job in recorded} == run_jobs
    assert {uri for uri, _job in recorded} == {
        f"datachain://team-a/local/default/{name}" for name in ("raw", "clean", "features")
    }
    assert all(e.extra["job_url"] and e.extra["version"] for e in alias_events)


# ---- a real DAG run -------------------------------------------------------------------------------


def sync_test_dags(dag_folder: Callable[[Path], None]) -> None:
    """Write every DAG of tests/dags to the metadata database and unpause the consumer, so an asset event
    can queue it."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    dag_folder(DAGS)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == "studio_assets_consumer").update({"is_paused": False})


@pytest.mark.integration
@pytest.mark.dag_run
def test_a_dag_run_records_the_event_and_queues_the_dag_scheduled_on_the_dataset(
    dag_folder: Callable[[Path], None], emulator: EmulatorServer
) -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from tests.dags.studio_assets_dag import THUMBNAILS, producer

    sync_test_dags(dag_folder)
    run = producer.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == THUMBNAILS.uri).one()
        assert asset.uri == "datachain://team-a/acme/vision/thumbnails"
        events = session.query(AssetEvent).filter(AssetEvent.asset_id == asset.id).all()
        mine = [e for e in events if e.source_run_id == run.run_id]
        assert len(mine) == 1
        extra = mine[0].extra
        assert extra["version"] == "1.0.0" and extra["num_objects"] == 1200 and extra["size"] == 4096000
        assert extra["dataset"] == "@acme.vision.thumbnails@v1.0.0" and extra["job_url"]
        details = extra["payload"] if nested_event_extras_supported() else extra
        assert set(details) == set(PAYLOAD_KEYS) and details["version"] == "1.0.0"
        assert mine[0].source_dag_id == "studio_assets_producer"
        queued = session.query(AssetDagRunQueue).filter(AssetDagRunQueue.asset_id == asset.id).all()
        assert [q.target_dag_id for q in queued] == ["studio_assets_consumer"]


@pytest.mark.integration
@pytest.mark.dag_run
def test_a_watched_dataset_registers_its_trigger_with_primitive_kwargs(
    dag_folder: Callable[[Path], None],
) -> None:
    from airflow.models.asset import AssetModel, AssetWatcherModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    from tests.dags.studio_assets_dag import LABELS

    sync_test_dags(dag_folder)
    with create_session() as session:
        asset = session.query(AssetModel).filter(AssetModel.uri == LABELS.uri).one()
        (watcher,) = session.query(AssetWatcherModel).filter(AssetWatcherModel.asset_id == asset.id).all()
        trigger = session.query(Trigger).filter(Trigger.id == watcher.trigger_id).one()
        assert watcher.name == "labels-versions"
        assert trigger.classpath == "studio_provider.triggers.dataset.StudioDatasetVersionTrigger"
        kwargs = dict(trigger.kwargs)
    assert kwargs["dataset"] == "@acme.vision.labels" and kwargs["seen_versions"] is None
    assert kwargs["poll_interval"] == 30.0


def run_consumer_on(producer_run_id: str) -> Any:
    """Run studio_assets_consumer as the scheduler would after the producer's run: an asset-triggered DAG
    run holding the producer's asset events, then its task through ``airflow tasks test`` (Airflow's task
    runner in this process). ``dag.test()`` cannot do it: its runs are manual, without triggering events."""
    from airflow.cli import cli_parser
    from airflow.cli.commands.task_command import task_test
    from airflow.models.asset import AssetEvent
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from tests.dags.studio_assets_dag import consumer

    now = timezone.utcnow()
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == producer_run_id).all()
        assert events, "the producer recorded no asset event"
        scheduler_dag = SerializedDagModel.get_dag(consumer.dag_id, session=session)
        run = scheduler_dag.create_dagrun(
            run_id=f"asset_triggered__{producer_run_id}",
            logical_date=None,
            data_interval=None,
            run_after=now,
            run_type=DagRunType.ASSET_TRIGGERED,
            triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.RUNNING,
            start_date=now,
            session=session,
        )
        run.consumed_asset_events.extend(events)
        run_id = run.run_id
    args = cli_parser.get_parser().parse_args(["tasks", "test", consumer.dag_id, "publish", run_id])
    task_test(args, dag=consumer)
    return run_id


@pytest.mark.integration
@pytest.mark.dag_run
def test_the_documented_consumer_reads_an_alias_producers_event(
    dag_folder: Callable[[Path], None], emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """docs/assets.md includes this consumer from tests/dags/studio_assets_dag.py: with the producer's
    event arriving through the alias (so listed under the asset and under the alias), it reads the version
    once and does not fail. The producer also warned about its inlet of another team."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from tests.dags.studio_assets_dag import OTHER_TEAM, THUMBNAILS, consumer, producer
    from tests.operators.test_dag_run import stored_xcoms

    sync_test_dags(dag_folder)
    produced = producer.test()
    assert str(produced.state) in ("success", "DagRunState.SUCCESS")
    out = capfd.readouterr().out
    assert f"names Studio team '{OTHER_TEAM}', but this task works in team 'team-a'" in out

    run_id = run_consumer_on(produced.run_id)

    with create_session() as session:
        (ti,) = session.query(TaskInstance).filter_by(dag_id=consumer.dag_id, run_id=run_id).all()
        assert str(ti.state) in ("success", "TaskInstanceState.SUCCESS"), ti.state
    (job_url,) = {stored_xcoms(producer.dag_id, produced.run_id, "make_thumbnails")["job_url"]}
    lines = stored_xcoms(consumer.dag_id, run_id, "publish")["return_value"]
    assert lines == [f"{THUMBNAILS.uri} v1.0.0 {job_url}"]
