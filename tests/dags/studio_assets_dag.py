"""DAGs for the asset tests (``dag.test()`` against the emulator): a job that writes a Studio dataset
version, with the provider's asset alias in its outlets; a DAG scheduled on that dataset's asset; and a
DAG scheduled by new versions of another dataset, through an asset watcher."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, AssetWatcher

from studio_provider.assets import studio_dataset_asset, studio_datasets_alias
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.triggers.dataset import StudioDatasetVersionTrigger

#: The emulator's first team (tests/conftest.py), which the test connection acts for.
TEAM = "team-a"
DATASET = "@acme.vision.thumbnails"
THUMBNAILS = studio_dataset_asset(DATASET, team=TEAM)

with DAG("studio_assets_producer", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as producer:
    StudioRunJobOperator(
        task_id="make_thumbnails",
        query="print('thumbnails')",
        query_name="thumbnails.py",
        environment={
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": "0.5",
            "STUDIO_EMULATOR_LOG_TEXT": f"::dataset-write {DATASET} num_objects=1200 size=4096000",
        },
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
        outlets=[studio_datasets_alias()],
    )

with DAG(
    "studio_assets_consumer", schedule=[THUMBNAILS], start_date=datetime(2026, 1, 1), catchup=False
) as consumer:
    EmptyOperator(task_id="use_thumbnails")

LABELS = studio_dataset_asset(
    "@acme.vision.labels",
    team=TEAM,
    watchers=[
        AssetWatcher(
            name="labels-versions",
            trigger=StudioDatasetVersionTrigger("@acme.vision.labels", poll_interval=30),
        )
    ],
)

with DAG(
    "studio_assets_on_new_labels", schedule=[LABELS], start_date=datetime(2026, 1, 1), catchup=False
) as on_labels:
    EmptyOperator(task_id="use_labels")
