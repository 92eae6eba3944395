"""The asset watcher in a real Airflow (api-server, scheduler, dag-processor and triggerer as separate
processes on SQLite, the reliability suite's harness): each new COMPLETE version of a Studio dataset
starts exactly one DAG run, old versions none, and after a ``kill -9`` of the triggerer a new triggerer
resumes from the asset state store: the version completed while it was down runs once, nothing twice."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.dataset_helpers import seed
from tests.reliability.airflow_cluster import AirflowCluster, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.dag_run, pytest.mark.timeout(400)]

DAG_ID = "studio_on_new_cats"
DATASET = "@acme.zoo.cats"
LIST_PATH = "/api/datachain/datasets"

DAG_FILE = f'''
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, AssetWatcher

from studio_provider.assets import studio_dataset_asset
from studio_provider.triggers.dataset import StudioDatasetVersionTrigger

CATS = studio_dataset_asset(
    "{DATASET}",
    team="{{team}}",
    watchers=[AssetWatcher(name="cats-versions", trigger=StudioDatasetVersionTrigger("{DATASET}", poll_interval=0.5))],
)

with DAG("{DAG_ID}", schedule=[CATS], start_date=datetime(2026, 1, 1), catchup=False):
    EmptyOperator(task_id="use_cats")
'''


def versions_run(cluster: AirflowCluster) -> list[str]:
    """The Studio versions that started a DAG run, in order (from each run's triggering asset event)."""
    runs = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"]
    found = []
    for run in sorted(runs, key=lambda item: str(item["run_after"])):
        if not run.get("start_date"):
            # Airflow 3.3.2's API server answers 500 for the events of a run queued but not started yet;
            # such a run still counts, as "pending", so a wait goes on until it has started.
            found.append("pending")
            continue
        events = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
        for event in events["asset_events"]:
            found.append(str(event["extra"]["payload"]["version"]))
    return found


def polls(emulator: EmulatorServer) -> int:
    return emulator.injector.count("GET", LIST_PATH, 200)


def test_one_dag_run_per_new_version_across_a_triggerer_restart(
    tmp_path: Path, emulator_factory: Callable[..., EmulatorServer]
) -> None:
    emulator = emulator_factory(executor="simulated")
    seed(emulator, DATASET, "1.0.0")  # present before the watcher starts: never runs the DAG
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "on_new_cats.py").write_text(textwrap.dedent(DAG_FILE.replace("{team}", emulator.team)))
    connection: dict[str, Any] = {
        "conn_type": "datachain_studio",
        "host": emulator.url,
        "password": emulator.token,
        "extra": {"team": emulator.team},
    }
    cluster = AirflowCluster(tmp_path / "home", dags, {"datachain_studio_default": connection})
    (tmp_path / "home").mkdir()
    try:
        cluster.boot()
        cluster.wait_for_dag(DAG_ID)
        # The watcher polls the team's list (the shared stream); two polls: its baseline is taken.
        start = polls(emulator)
        wait_until(lambda: polls(emulator) >= start + 2, timeout=180, what="the watcher to poll Studio")

        seed(emulator, DATASET, "1.0.1")
        wait_until(lambda: versions_run(cluster) == ["1.0.1"], timeout=180, what="a DAG run for 1.0.1")

        cluster.kill("triggerer-1")
        seed(emulator, DATASET, "1.0.2")  # completed while no triggerer runs
        cluster.start("triggerer-2", "triggerer")
        wait_until(
            lambda: versions_run(cluster) == ["1.0.1", "1.0.2"], timeout=180, what="a DAG run for 1.0.2"
        )
        # Several more polls of the new triggerer: no version runs twice, the old one never.
        start = polls(emulator)
        wait_until(lambda: polls(emulator) >= start + 4, timeout=120, what="more polls")
        assert versions_run(cluster) == ["1.0.1", "1.0.2"]
    finally:
        cluster.stop_all()
