"""Run a DAG whenever a Studio dataset gets a new version, whoever produced it.

The ``city_stats`` asset is watched by a ``StudioDatasetVersionTrigger`` (an ``AssetWatcher``): the
triggerer polls Studio and records an asset event once per new COMPLETE version (versions that existed
when it started do not count; a restarted triggerer does not fire twice), whether ``studio_etl_chain`` or
someone in Studio wrote it. ``studio_etl_chain`` leaves ``city_stats`` out of its outlets: with the
watcher and an operator both recording events, this DAG would run twice per version (docs/assets.md).
Each event schedules one run of this DAG, which publishes a report of that version with a Studio job.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetWatcher, task

from studio_provider.assets import studio_dataset_asset, studio_dataset_events
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
        """The newest version behind this run (a watcher's or an operator's event:
        the same details). A manual run has none: the newest version is used."""
        versions = [str(event["version"]) for event in studio_dataset_events(triggering_asset_events)]
        version = max(versions, key=lambda v: [int(part) for part in v.split(".")], default="")
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
