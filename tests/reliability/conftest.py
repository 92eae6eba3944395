"""Fixtures of the reliability suite: an emulator with the suite's recognisable tokens, and the figures
every scenario records, printed at the end of the run."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from studio_provider.emulator import EmulatorConfig, EmulatorServer
from tests.pipeline_helpers import build_lineage, set_job_env
from tests.reliability.airflow_cluster import AirflowCluster, ProductionBackend
from tests.reliability.dag_templates import (
    KILL_DAG_ID,
    LOST_DAG_ID,
    OUTAGE_DAG_ID,
    RESTART_DAG_ID,
    WORKER_DAG_ID,
    WORKER_LONG_DAG_ID,
    write_dags,
    write_production_dags,
)
from tests.reliability.helpers import FIGURES, OTHER_TEAM, OTHER_TOKEN, TEAM, TOKEN


@pytest.fixture
def rel_emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    """A fresh emulator (simulated executor) whose tokens are the suite's: team A and team B."""
    return emulator_factory(
        executor="simulated", tokens={TOKEN: [TEAM], OTHER_TOKEN: [OTHER_TEAM]}, ws_ping_interval=1.0
    )


@pytest.fixture
def rel_connection(studio_connection: Callable[..., str], rel_emulator: EmulatorServer) -> str:
    """``datachain_studio_default`` pointed at :func:`rel_emulator` with the suite's token."""
    return studio_connection(rel_emulator, token=TOKEN, team=TEAM)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {json.dumps(value, default=str)}")


@pytest.fixture(scope="session")
def airflow_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowCluster, EmulatorServer]]:
    """A real Airflow (api-server, scheduler, dag-processor, triggerer as processes, on SQLite) and the
    emulator it talks to, with the suite's DAGs; shared by the multi-process scenarios (4, 5, 6)."""
    home = tmp_path_factory.mktemp("airflow-home")
    dags = home / "dags"
    dags.mkdir()
    config = EmulatorConfig(
        tokens={TOKEN: [TEAM]}, executor="simulated", data_dir=home / "emulator", ws_ping_interval=1.0
    )
    with EmulatorServer(config) as emulator:
        lineage = build_lineage(emulator, prefix="af-")
        for name in ("raw", "clean", "features"):  # the pipeline's runs last long enough to be interrupted
            set_job_env(emulator, lineage[name]["id"], STUDIO_EMULATOR_DURATION=4)
        write_dags(dags)
        connection = {"conn_type": "datachain_studio", "host": emulator.url, "password": TOKEN, "extra": {"team": TEAM}}
        cluster = AirflowCluster(home, dags, {"datachain_studio_default": connection})
        try:
            cluster.boot()
            for dag_id in (RESTART_DAG_ID, WORKER_DAG_ID, KILL_DAG_ID):
                cluster.wait_for_dag(dag_id)
            yield cluster, emulator
        finally:
            cluster.stop_all()


@pytest.fixture(scope="session")
def airflow_production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowCluster, EmulatorServer]]:
    """The same, production-shaped (``make test-production``): PostgreSQL, Redis and the CeleryExecutor with
    two Celery workers and two triggerers, with the production scenarios' DAGs too."""
    home = tmp_path_factory.mktemp("airflow-production")
    dags = home / "dags"
    dags.mkdir()
    config = EmulatorConfig(
        tokens={TOKEN: [TEAM]}, executor="simulated", data_dir=home / "emulator", ws_ping_interval=1.0
    )
    with EmulatorServer(config) as emulator:
        lineage = build_lineage(emulator, prefix="af-")
        for name in ("raw", "clean", "features"):
            set_job_env(emulator, lineage[name]["id"], STUDIO_EMULATOR_DURATION=4)
        write_production_dags(dags)
        connection = {"conn_type": "datachain_studio", "host": emulator.url, "password": TOKEN, "extra": {"team": TEAM}}
        backend = ProductionBackend(home / "services")
        cluster = AirflowCluster(home, dags, {"datachain_studio_default": connection}, backend=backend)
        try:
            cluster.boot()
            for dag_id in (LOST_DAG_ID, OUTAGE_DAG_ID, RESTART_DAG_ID, WORKER_LONG_DAG_ID):
                cluster.wait_for_dag(dag_id)
            yield cluster, emulator
        finally:
            cluster.close()
