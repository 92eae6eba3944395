"""Each example DAG run through Airflow (``dag.test()``: the metadata database, the task runner, the
deferred waits run inline with the triggerer's code) against a fresh local-executor emulator.

The jobs are the examples' own scripts, run for real by the emulator (each takes well under a second),
except the one that is cancelled at its deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from tests.conftest import dag_bag
from tests.emulator.helpers import client_for
from tests.operators.test_dag_run import stored_xcoms
from tests.pipeline_helpers import produce
from tests.studio_tasks import rebuild

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "dags_examples"


@pytest.fixture
def example_dags(dag_folder: Callable[[Path], None]) -> Iterator[Callable[[str], Any]]:
    """``example_dags(dag_id)``: the example DAG as the DAG processor parses it from ``dags_examples``,
    with that folder as the (synced) DAG bundle."""
    dag_folder(EXAMPLES)
    bag = dag_bag(EXAMPLES)
    assert bag.import_errors == {}
    yield lambda dag_id: bag.dags[dag_id]


@pytest.fixture
def local_emulator(
    emulator_factory: Callable[..., EmulatorServer], studio_connection: Callable[..., str]
) -> EmulatorServer:
    """A fresh local-executor emulator, the default connection pointing at it."""
    server = emulator_factory(executor="local")
    studio_connection(server)
    return server


def task_states(run: Any) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {row.task_id: str(row.state.value if hasattr(row.state, "value") else row.state) for row in rows}


def jobs_named(hook: StudioHook, script: str) -> list[Any]:
    """The team's jobs whose name starts with ``script`` (the operator names jobs after the file), oldest
    first."""
    return [job for job in reversed(hook.list_jobs(limit=100)) if job.name.startswith(f"{script} ")]


def test_etl_chain(
    example_dags: Callable[[str], Any],
    local_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag = example_dags("studio_etl_chain")

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    hook = StudioHook()
    extract = hook.get_job(job_id=stored_xcoms(dag.dag_id, run.run_id, "extract_cities")["job_id"])
    stats = hook.get_job(job_id=stored_xcoms(dag.dag_id, run.run_id, "city_stats")["job_id"])
    # The dataset sensor saw that version COMPLETE.
    ready = stored_xcoms(dag.dag_id, run.run_id, "city_stats_ready")["return_value"]
    assert (ready["name"], ready["version"], ready["status"]) == ("city_stats", "1.0.0", 4)
    assert extract.status.value == stats.status.value == "COMPLETE"
    # The second job read exactly the version the first wrote: XCom carried it into its environment.
    assert stats.raw["environment"]["INPUT_DATASET"] == "cities@v1.0.0"
    assert stats.raw["environment"]["UPSTREAM_JOB_ID"] == extract.id

    # The pipeline re-ran both jobs from lineage and rebuilt city_stats.
    pipeline = stored_xcoms(dag.dag_id, run.run_id, "rebuild_stats")["return_value"]
    assert (pipeline["status"], pipeline["completed"], pipeline["total"]) == ("COMPLETED", 2, 2)
    reruns = [hook.get_job(job_id=job_run["studio_job_id"]) for job_run in pipeline["job_runs"]]
    assert [job.status.value for job in reruns] == ["COMPLETE", "COMPLETE"]
    assert {job.id for job in reruns}.isdisjoint({extract.id, stats.id})  # new jobs, not the first two
    rebuilt = {(ref.dataset_name, ref.version) for job in reruns for ref in hook.get_dataset_job_versions(job_id=job.id)}
    assert rebuilt == {("cities", "1.0.1"), ("city_stats", "1.0.1")}

    # The report task gathered the job ids and URLs from XCom; the job link points at the job.
    report = stored_xcoms(dag.dag_id, run.run_id, "report")["return_value"]
    assert report["jobs"]["extract_cities"] == {"job_id": extract.id, "job_url": extract.url}
    assert report["jobs"]["city_stats"] == {"job_id": stats.id, "job_url": stats.url}
    assert stored_xcoms(dag.dag_id, run.run_id, "extract_cities")["_link_StudioJobLink"] == extract.url

    # The jobs' own log lines were streamed into the task log.
    out = capfd.readouterr().out
    assert f"[studio {extract.id}] extract: read 6 cities from cities.csv" in out
    assert f"[studio {stats.id}] city_stats: read cities@v1.0.0; population by country:" in out


def test_failure_handling(
    example_dags: Callable[[str], Any],
    local_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    dag = example_dags("studio_failure_handling")
    dag.task_dict["flaky_job"].retry_delay = timedelta(0)  # the example waits 30 s between tries
    dag.task_dict["slow_job"].timeout = 4.0  # the example allows 20 s

    run = dag.test()

    # summary runs whatever happened, so the run succeeds while two of its tasks failed.
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert task_states(run) == {
        "flaky_job": "success",
        "bad_input_job": "failed",
        "slow_job": "failed",
        "summary": "success",
    }
    hook = StudioHook()
    # One Studio job per try: the failed first try's job, then the retry's; never a duplicate.
    assert [job.status.value for job in jobs_named(hook, "flaky.py")] == ["FAILED", "COMPLETE"]
    (bad,) = jobs_named(hook, "bad_input.py")
    assert bad.status.value == "FAILED"
    (slow,) = jobs_named(hook, "slow.py")
    assert slow.status.value in ("CANCELING", "CANCELED")  # the deadline cancelled it

    out = capfd.readouterr()
    text = out.out + out.err
    assert "row 17: population 'n/a' is not a number" in text  # Studio's error message in the task log
    # The callback named each failed task's Studio job URL; flaky_job's first try was up for retry, not
    # failed, so it did not report.
    reports = [record.getMessage() for record in caplog.records if "STUDIO FAILURE" in record.getMessage()]
    assert len(reports) == 2, reports
    assert any(f"bad_input_job: job status FAILED, see {bad.url}" in message for message in reports)
    assert any(f"slow_job: job status RUNNING, see {slow.url}" in message for message in reports)
    urls = stored_xcoms(dag.dag_id, run.run_id, "summary")["return_value"]
    assert urls == {"flaky_job": jobs_named(hook, "flaky.py")[-1].url, "bad_input_job": bad.url, "slow_job": slow.url}


def test_schedules_sync_twice(
    example_dags: Callable[[str], Any],
    local_emulator: EmulatorServer,
) -> None:
    import pendulum

    from studio_provider.client.schedule_owner import split_marker

    # city_stats must exist, written by a job, for Studio to build a pipeline from it.
    with client_for(local_emulator) as client:
        produce(client, local_emulator.team, "city_stats")
    hook = StudioHook()
    dag = example_dags("studio_schedules")

    first = dag.test(logical_date=pendulum.datetime(2026, 3, 1, tz="UTC"))
    second = dag.test(logical_date=pendulum.datetime(2026, 3, 2, tz="UTC"))

    assert str(first.state) in ("success", "DagRunState.SUCCESS"), task_states(first)
    assert str(second.state) in ("success", "DagRunState.SUCCESS"), task_states(second)
    actions = {
        task_id: (
            stored_xcoms(dag.dag_id, first.run_id, task_id)["return_value"]["action"],
            stored_xcoms(dag.dag_id, second.run_id, task_id)["return_value"]["action"],
        )
        for task_id in ("sync_city_stats_nightly", "sync_city_stats_weekly_full")
    }
    assert actions == {
        "sync_city_stats_nightly": ("created", "unchanged"),
        "sync_city_stats_weekly_full": ("created", "unchanged"),
    }
    # In Studio each name carries the DAG's marker, "<name> [airflow:<16 hex>]".
    schedules = {split_marker(item.schedule_name or "")[0]: item for item in hook.list_schedules()}
    assert set(schedules) == {"city-stats-nightly", "city-stats-weekly-full"}
    assert schedules["city-stats-nightly"].cron_expression == "0 2 * * *"
    assert schedules["city-stats-nightly"].next_run is not None
    assert schedules["city-stats-weekly-full"].next_run is None  # paused: nothing fires
    # Both runs used the one definition the first created.
    names = {stored_xcoms(dag.dag_id, r.run_id, "pipeline_for_datasets")["return_value"] for r in (first, second)}
    assert len(names) == 1


def test_taskflow(
    example_dags: Callable[[str], Any],
    local_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag = example_dags("studio_taskflow")

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    xcoms = stored_xcoms(dag.dag_id, run.run_id, "load_cities")
    assert xcoms["return_value"] == {"rows": 4, "stage": "example", "job": xcoms["job_id"]}
    totals = stored_xcoms(dag.dag_id, run.run_id, "country_totals")
    assert totals["return_value"] == {"JP": 2752412, "CZ": 1357326, "PT": 777758}
    hook = StudioHook()
    produced = hook.get_dataset_job_versions(job_id=totals["job_id"])
    assert [(ref.dataset_name, ref.version) for ref in produced] == [("country_totals", "1.0.0")]
    out = capfd.readouterr().out
    assert f"[studio {xcoms['job_id']}] load: Osaka (JP)" in out
    assert f"Studio job: {totals['job_url']}" in out


def test_on_new_dataset(
    example_dags: Callable[[str], Any],
    local_emulator: EmulatorServer,
) -> None:
    dag = example_dags("studio_on_new_dataset")
    with client_for(local_emulator) as client:
        produce(client, local_emulator.team, "city_stats")  # version 1.0.0

    # The DAG's own watcher, as the triggerer rebuilds it, fires for a version that appears later, once.
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    trigger = rebuild(watcher.trigger)
    trigger.poll_interval = 0.2  # the example polls every 10 s
    trigger.seen_versions = ["1.0.0"]  # what it saw at start (otherwise taken on its first poll)

    async def first_event() -> Any:
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.5)
        assert not pending.done()  # nothing fires for the version that was there
        await asyncio.to_thread(produce_version)
        try:
            return await asyncio.wait_for(pending, 60)
        finally:
            await events.aclose()

    def produce_version() -> None:
        with client_for(local_emulator) as client:
            produce(client, local_emulator.team, "city_stats")  # version 1.0.1

    event = asyncio.run(first_event())
    assert (event.payload["version"], event.payload["status"]) == ("1.0.1", 4)

    # A manual run (no triggering event) publishes the newest version with a Studio job.
    run = dag.test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    job = StudioHook().get_job(job_id=stored_xcoms(dag.dag_id, run.run_id, "publish_report")["job_id"])
    assert job.status.value == "COMPLETE" and job.raw["environment"]["DATASET"] == "city_stats"
