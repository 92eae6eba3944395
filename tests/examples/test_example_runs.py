"""Each example DAG run through Airflow (``dag.test()``: the metadata database, the task runner, the
deferred waits run inline with the triggerer's code) against a fresh local-executor emulator.

The emulator and the connection come from the provider's own pytest plugin (the ``datachain_studio``
fixture of :mod:`studio_provider.emulator.testing`, turned on in pyproject.toml), as docs/testing.md shows
DAG authors; what the DAGs did in Studio is read back through it. The jobs are the examples' own scripts,
run for real by the emulator (each takes well under a second), except the one that is cancelled at its
deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from studio_provider.emulator.testing import StudioEmulator
from studio_provider.hooks.studio import StudioHook
from tests.conftest import dag_bag
from tests.emulator.helpers import client_for
from tests.operators.test_dag_run import stored_xcoms
from tests.pipeline_helpers import produce
from tests.studio_tasks import rebuild

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "dags_examples"


@pytest.fixture
def example_dags(
    dag_folder: Callable[[Path], None], datachain_studio: StudioEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Any]]:
    """``example_dags(dag_id)``: the example DAG as the DAG processor parses it from ``dags_examples``,
    with that folder as the (synced) DAG bundle. The examples name their assets after
    ``DATACHAIN_STUDIO_TEAM``, as ``make up`` sets it: here the emulator's team."""
    monkeypatch.setenv("DATACHAIN_STUDIO_TEAM", datachain_studio.team)
    dag_folder(EXAMPLES)
    bag = dag_bag(EXAMPLES)
    assert bag.import_errors == {}
    yield lambda dag_id: bag.dags[dag_id]


def task_states(run: Any) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {row.task_id: str(row.state.value if hasattr(row.state, "value") else row.state) for row in rows}


def test_etl_chain(
    example_dags: Callable[[str], Any],
    datachain_studio: StudioEmulator,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag = example_dags("studio_etl_chain")

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    extract = datachain_studio.job(stored_xcoms(dag.dag_id, run.run_id, "extract_cities")["job_id"])
    stats = datachain_studio.job(stored_xcoms(dag.dag_id, run.run_id, "city_stats")["job_id"])
    # The dataset sensor saw that version COMPLETE.
    ready = stored_xcoms(dag.dag_id, run.run_id, "city_stats_ready")["return_value"]
    assert (ready["name"], ready["version"], ready["status"]) == ("city_stats", "1.0.0", 4)
    assert extract.status == stats.status == "COMPLETE"
    assert extract.datasets_written == ("@local.default.cities@v1.0.0",)
    # The second job read exactly the version the first wrote: XCom carried it into its environment.
    assert stats.environment["INPUT_DATASET"] == "cities@v1.0.0"
    assert stats.environment["UPSTREAM_JOB_ID"] == extract.id

    # The pipeline re-ran both jobs from lineage and rebuilt city_stats.
    pipeline = stored_xcoms(dag.dag_id, run.run_id, "rebuild_stats")["return_value"]
    assert (pipeline["status"], pipeline["completed"], pipeline["total"]) == ("COMPLETED", 2, 2)
    reruns = [datachain_studio.job(job_run["studio_job_id"]) for job_run in pipeline["job_runs"]]
    assert [job.status for job in reruns] == ["COMPLETE", "COMPLETE"]
    assert {job.id for job in reruns}.isdisjoint({extract.id, stats.id})  # new jobs, not the first two
    rebuilt = {ref for job in reruns for ref in job.datasets_written}
    assert rebuilt == {"@local.default.cities@v1.0.1", "@local.default.city_stats@v1.0.1"}
    assert [(v.name, v.version, v.status) for v in datachain_studio.datasets("city_stats")] == [
        ("city_stats", "1.0.0", "COMPLETE"),
        ("city_stats", "1.0.1", "COMPLETE"),
    ]

    # The report task gathered the job ids and URLs from XCom; the job link points at the job.
    report = stored_xcoms(dag.dag_id, run.run_id, "report")["return_value"]
    assert report["jobs"]["extract_cities"] == {"job_id": extract.id, "job_url": extract.url}
    assert report["jobs"]["city_stats"] == {"job_id": stats.id, "job_url": stats.url}
    assert stored_xcoms(dag.dag_id, run.run_id, "extract_cities")["_link_StudioJobLink"] == extract.url

    # The jobs' own log lines were streamed into the task log.
    out = capfd.readouterr().out
    assert "extract: read 6 cities from cities.csv" in datachain_studio.logs(extract.id)[0]
    assert f"[studio {extract.id}] extract: read 6 cities from cities.csv" in out
    assert f"[studio {stats.id}] city_stats: read cities@v1.0.0; population by country:" in out
    # The example's assets name the connection's team: no warning about another team.
    assert "names Studio team" not in out


def test_failure_handling(
    example_dags: Callable[[str], Any],
    datachain_studio: StudioEmulator,
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
    # One Studio job per try: the failed first try's job, then the retry's; never a duplicate. (The
    # operator names each job after its file.)
    flaky = datachain_studio.jobs(name="flaky.py ")
    assert [job.status for job in flaky] == ["FAILED", "COMPLETE"]
    (bad,) = datachain_studio.jobs(name="bad_input.py ")
    assert bad.status == "FAILED"
    assert "row 17: population 'n/a' is not a number" in bad.log_text
    (slow,) = datachain_studio.jobs(name="slow.py ")
    assert slow.status in ("CANCELING", "CANCELED")  # the deadline cancelled it

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
    assert urls == {"flaky_job": flaky[-1].url, "bad_input_job": bad.url, "slow_job": slow.url}


def test_schedules_sync_twice(
    example_dags: Callable[[str], Any],
    datachain_studio: StudioEmulator,
) -> None:
    import pendulum

    from studio_provider.client.schedule_owner import split_marker

    # city_stats must exist, written by a job, for Studio to build a pipeline from it.
    with client_for(datachain_studio.server) as client:
        produce(client, datachain_studio.team, "city_stats")
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
    assert [item.name for item in datachain_studio.pipelines() if item.is_definition] == [names.pop()]


def test_taskflow(
    example_dags: Callable[[str], Any],
    datachain_studio: StudioEmulator,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag = example_dags("studio_taskflow")

    run = dag.test()

    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    xcoms = stored_xcoms(dag.dag_id, run.run_id, "load_cities")
    assert xcoms["return_value"] == {"rows": 4, "stage": "example", "job": xcoms["job_id"]}
    totals = stored_xcoms(dag.dag_id, run.run_id, "country_totals")
    assert totals["return_value"] == {"JP": 2752412, "CZ": 1357326, "PT": 777758}
    assert datachain_studio.job(totals["job_id"]).datasets_written == ("@local.default.country_totals@v1.0.0",)
    out = capfd.readouterr().out
    assert f"[studio {xcoms['job_id']}] load: Osaka (JP)" in out
    assert f"Studio job: {totals['job_url']}" in out


def test_on_new_dataset(
    example_dags: Callable[[str], Any],
    datachain_studio: StudioEmulator,
) -> None:
    dag = example_dags("studio_on_new_dataset")
    with client_for(datachain_studio.server) as client:
        produce(client, datachain_studio.team, "city_stats")  # version 1.0.0

    # The DAG's own watcher, as the triggerer rebuilds it, fires for a version that appears later, once.
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    trigger = rebuild(watcher.trigger)
    trigger.poll_interval = 0.2  # the example polls every 10 s
    trigger.seen_versions = ["1.0.0"]  # what it saw at start (otherwise taken on its first poll)

    async def first_event() -> Any:
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        # Nothing fires for the version that was there: wait for a few of its polls first.
        polls = len(datachain_studio.requests(path="/api/datachain/datasets*"))
        deadline = asyncio.get_running_loop().time() + 30
        while len(datachain_studio.requests(path="/api/datachain/datasets*")) < polls + 3:
            assert asyncio.get_running_loop().time() < deadline, "the watcher does not poll"
            await asyncio.sleep(0.05)
        assert not pending.done()
        await asyncio.to_thread(produce_version)
        try:
            return await asyncio.wait_for(pending, 60)
        finally:
            await events.aclose()

    def produce_version() -> None:
        with client_for(datachain_studio.server) as client:
            produce(client, datachain_studio.team, "city_stats")  # version 1.0.1

    event = asyncio.run(first_event())
    assert (event.payload["version"], event.payload["status"]) == ("1.0.1", 4)
    assert event.payload["uri"] == asset.uri  # the asset the example declares: its team is the connection's

    # A manual run (no triggering event) publishes the newest version with a Studio job.
    run = dag.test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), task_states(run)
    job = datachain_studio.job(stored_xcoms(dag.dag_id, run.run_id, "publish_report")["job_id"])
    assert job.status == "COMPLETE" and job.environment["DATASET"] == "city_stats"
