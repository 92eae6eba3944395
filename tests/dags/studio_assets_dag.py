"""DAGs for the asset tests (``dag.test()`` against the emulator): a job that writes a Studio dataset
version, with the provider's asset alias in its outlets; a DAG scheduled on that dataset's asset, whose
task is the consumer docs/assets.md shows (included from here); and a DAG scheduled by new versions of
another dataset, through an asset watcher."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, AssetWatcher, task

from studio_provider.assets import studio_dataset_asset, studio_dataset_events, studio_datasets_alias
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.triggers.dataset import StudioDatasetVersionTrigger

#: The emulator's first team (tests/conftest.py), which the test connection acts for.
TEAM = "team-a"
OTHER_TEAM = "team-z"
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
        # Another team's dataset: the task warns before it runs (its events would name team-a's).
        inlets=[studio_dataset_asset("@acme.vision.raw", team=OTHER_TEAM)],
    )

with DAG(
    "studio_assets_consumer", schedule=[THUMBNAILS], start_date=datetime(2026, 1, 1), catchup=False
) as consumer:
    # --8<-- [start:consumer]
    @task
    def publish(triggering_asset_events: Any = None) -> list[str]:
        """One line per Studio dataset version behind this run, whoever recorded
        its event: an operator (directly or through the alias) or a watcher."""
        lines = []
        for event in studio_dataset_events(triggering_asset_events):
            lines.append(f"{event['uri']} v{event['version']} {event['job_url']}")
        print("\n".join(lines))
        return lines

    # --8<-- [end:consumer]
    publish()

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
