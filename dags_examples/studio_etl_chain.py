"""Chain Studio work into one ETL run: two jobs, then a pipeline, all deferrable.

1. ``extract_cities`` uploads a local CSV and runs a local script as a Studio job; the job saves the
   ``cities`` dataset.
2. ``city_stats`` runs a second job that reads exactly the version the first job wrote (passed through
   XCom) and saves ``city_stats``.
3. ``city_stats_ready``, a dataset sensor, lets the run go on once Studio reports that version of
   ``city_stats`` COMPLETE (the same sensor waits for a dataset another team's job produces).
4. ``rebuild_stats`` asks Studio for the pipeline that rebuilds ``city_stats`` from its lineage (both
   jobs) and runs it.
5. ``report`` collects the Studio job ids and URLs from XCom.

Every wait is deferred: the worker slot is free while Studio works, and the job's log lines still reach
the task log (the triggerer streams them). Each version of ``cities`` becomes an asset event (the first job
through the ``studio-datasets`` alias, the pipeline through the declared ``cities`` asset), so DAGs
scheduled on that Studio dataset run next. ``city_stats`` is left out of the outlets: the
``studio_on_new_dataset`` DAG watches it, and one source of events per dataset runs a consumer once per
version (see docs/assets.md).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from studio_provider.assets import studio_dataset_asset, studio_datasets_alias
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from studio_provider.sensors.dataset import StudioDatasetSensor

#: The scripts and data the jobs run with, kept next to the DAG.
JOBS = Path(__file__).resolve().parent / "studio_jobs"
#: The Studio team in the asset's name: the connection's team (see docs/assets.md).
TEAM = os.environ.get("DATACHAIN_STUDIO_TEAM", "local-team")
#: The dataset the first job writes, declared so that its asset is in the datachain-studio group.
CITIES = studio_dataset_asset("@local.default.cities", team=TEAM)

# --8<-- [start:dag]
with DAG(
    dag_id="studio_etl_chain",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["datachain-studio", "example"],
    doc_md=__doc__,
    default_args={
        # Retrying is safe: a retry reconnects to the job its try created
        # instead of submitting another.
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
    },
) as dag:
    # --8<-- [start:extract]
    extract = StudioRunJobOperator(
        task_id="extract_cities",
        # the script's text becomes the job's query
        query_file=str(JOBS / "extract_cities.py"),
        # uploaded first; the job finds it in its working directory
        files=[str(JOBS / "cities.csv")],
        environment={"AIRFLOW_RUN_ID": "{{ run_id }}"},
        deferrable=True,  # wait in the triggerer, not on a worker slot
        # status reads when the log WebSocket is unavailable
        # (30-60 s in production)
        poll_interval=2,
        # then the job is cancelled and the task fails
        timeout=timedelta(minutes=30),
        # an asset event per dataset version the job writes
        outlets=[studio_datasets_alias()],
    )
    # --8<-- [end:extract]

    # --8<-- [start:stats]
    # The first job's return value lists the dataset versions it wrote: pin the
    # second job to that one.
    stats = StudioRunJobOperator(
        task_id="city_stats",
        query_file=str(JOBS / "city_stats.py"),
        files=[str(JOBS / "cities.csv")],
        environment={
            "INPUT_DATASET": "{{ ti.xcom_pull(task_ids='extract_cities')['dataset_versions'][0]"
            "['dataset_name'] }}@v{{ ti.xcom_pull(task_ids='extract_cities')['dataset_versions'][0]"
            "['version'] }}",
            "UPSTREAM_JOB_ID": "{{ ti.xcom_pull(task_ids='extract_cities', key='job_id') }}",
        },
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
        inlets=[CITIES],  # the dataset it reads (lineage; declares the asset)
        # no outlets: studio_on_new_dataset's watcher reports city_stats versions
    )
    # --8<-- [end:stats]

    # --8<-- [start:sensor]
    ready = StudioDatasetSensor(
        task_id="city_stats_ready",
        dataset="city_stats",
        version="{{ ti.xcom_pull(task_ids='city_stats')['dataset_versions'][0]['version'] }}",
        deferrable=True,
        poll_interval=2,
        # one absolute deadline for the whole wait
        timeout=timedelta(minutes=10),
    )
    # --8<-- [end:sensor]

    # --8<-- [start:pipeline]
    # Studio builds the pipeline from lineage:
    #   city_stats <- city_stats.py <- cities <- extract_cities.py.
    # Its settings' environment is merged over each job's own: here the re-run
    # reads the newest cities.
    rebuild = StudioTriggerPipelineOperator(
        task_id="rebuild_stats",
        datasets=["city_stats"],
        environment={"INPUT_DATASET": "cities"},
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(hours=1),  # then the run is paused and the task fails
        # each job run's log lines, prefixed with its name, in the task log
        stream_logs=True,
        outlets=[CITIES],  # an event for the cities version the run writes
    )
    # --8<-- [end:pipeline]

    # --8<-- [start:report]
    @task
    def report(ti: Any = None) -> dict[str, Any]:
        """What ran in Studio, from XCom: job ids and URLs, and the pipeline's progress."""
        jobs = {
            task_id: {
                "job_id": ti.xcom_pull(task_ids=task_id, key="job_id"),
                "job_url": ti.xcom_pull(task_ids=task_id, key="job_url"),
            }
            for task_id in ("extract_cities", "city_stats")
        }
        pipeline = ti.xcom_pull(task_ids="rebuild_stats")
        summary = {
            "jobs": jobs,
            "pipeline": {
                key: pipeline[key] for key in ("pipeline_id", "name", "url", "status", "completed", "total")
            },
        }
        for task_id, job in jobs.items():
            print(f"{task_id}: Studio job {job['job_id']} {job['job_url']}")
        print(f"pipeline {pipeline['name']}: {pipeline['completed']}/{pipeline['total']} {pipeline['url']}")
        return summary

    # --8<-- [end:report]

    extract >> stats >> ready >> rebuild >> report()
# --8<-- [end:dag]
