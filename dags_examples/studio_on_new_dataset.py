"""Run a DAG whenever a Studio dataset gets a new version, whoever produced it.

The ``city_stats`` asset is watched by a ``StudioDatasetVersionTrigger`` (an ``AssetWatcher``): the
triggerer polls Studio and records an asset event once per new COMPLETE version (versions that existed
when it started do not count; a restarted triggerer does not fire twice). Versions written by the
provider's own operators with the ``studio-datasets`` alias in their ``outlets`` (``studio_etl_chain``)
reach the same asset through Airflow's own events. Each event schedules one run of this DAG, which
publishes a report of that version with a Studio job.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetWatcher, task

from studio_provider.assets import studio_dataset_asset
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.triggers.dataset import StudioDatasetVersionTrigger

JOBS = Path(__file__).resolve().parent / "studio_jobs"
#: The Studio team in the asset's name (the connection's team is what the
#: trigger reads with).
TEAM = os.environ.get("DATACHAIN_STUDIO_TEAM", "local-team")

# --8<-- [start:asset]
# A plain dataset name lives in namespace "local", project "default" on the
# emulator; name yours fully.
CITY_STATS = studio_dataset_asset(
    "@local.default.city_stats",
    team=TEAM,
    watchers=[
        AssetWatcher(
            name="city-stats-versions",
            trigger=StudioDatasetVersionTrigger("@local.default.city_stats", poll_interval=10),
        )
    ],
)
# --8<-- [end:asset]

with DAG(
    dag_id="studio_on_new_dataset",
    schedule=[CITY_STATS],  # one run per new version of city_stats
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["datachain-studio", "example"],
    doc_md=__doc__,
) as dag:
    # --8<-- [start:version]
    @task
    def new_version(triggering_asset_events: Any = None) -> str:
        """The version that triggered this run: the watcher's event carries it in ``payload``, an event
        from a Studio operator in ``extra``. A manual run has none: the newest version is used."""
        version = ""
        for events in (triggering_asset_events or {}).values():
            for event in events:
                extra = dict(event.extra or {})
                version = str(extra.get("payload", {}).get("version") or extra.get("version") or version)
        print(f"city_stats version: {version or 'newest'}")
        return version

    publish = StudioRunJobOperator(
        task_id="publish_report",
        query_file=str(JOBS / "publish_report.py"),
        environment={"DATASET": "city_stats", "VERSION": "{{ ti.xcom_pull(task_ids='new_version') }}"},
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=15),
    )
    # --8<-- [end:version]

    new_version() >> publish
