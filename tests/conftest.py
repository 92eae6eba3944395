"""Shared fixtures: an isolated Airflow home, and the local Studio emulator.

Airflow reads its configuration when it is first imported, so the environment is set here, at the top,
before any test module imports ``airflow``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="studio-provider-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags_examples")
# The provider's environment fallback must not pick up a developer's real Studio settings.
for _name in ("DATACHAIN_STUDIO_TOKEN", "DATACHAIN_STUDIO_TEAM", "DATACHAIN_STUDIO_URL"):
    os.environ.pop(_name, None)

# ---- emulator fixtures (below) ----

from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from studio_provider.emulator import EmulatorConfig, EmulatorServer  # noqa: E402
from tests.pipeline_helpers import build_lineage  # noqa: E402

# Tokens and teams of the shared emulator: token A acts for team A only, token B for team B only,
# and the "both" token for both teams (to show that another team's job id is a 404, not a leak).
EMULATOR_TOKEN = "emulator-token-a"
EMULATOR_TEAM = "team-a"
EMULATOR_OTHER_TOKEN = "emulator-token-b"
EMULATOR_OTHER_TEAM = "team-b"
EMULATOR_BOTH_TOKEN = "emulator-token-ab"


def _emulator_config(**overrides: Any) -> EmulatorConfig:
    values: dict[str, Any] = {
        "tokens": {
            EMULATOR_TOKEN: [EMULATOR_TEAM],
            EMULATOR_OTHER_TOKEN: [EMULATOR_OTHER_TEAM],
            EMULATOR_BOTH_TOKEN: [EMULATOR_TEAM, EMULATOR_OTHER_TEAM],
        },
        "kill_grace": 1.0,
    }
    values.update(overrides)
    return EmulatorConfig(**values)


@pytest.fixture(scope="session")
def studio_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator for the session (local executor), on a free loopback port. Do not advance its clock."""
    config = _emulator_config(data_dir=tmp_path_factory.mktemp("studio-emulator"))
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def emulator_factory(tmp_path: Any) -> Iterator[Callable[..., EmulatorServer]]:
    """Start fresh, isolated emulators: ``emulator_factory(executor="simulated", ws_ping_interval=0.2)``."""
    servers: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        overrides.setdefault("data_dir", tmp_path / f"emulator-{len(servers)}")
        server = EmulatorServer(_emulator_config(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fresh_emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    """A fresh emulator with the simulated executor, for tests that advance its clock or need isolation."""
    return emulator_factory(executor="simulated")


@pytest.fixture
def emulator_client(studio_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """An httpx client for the shared emulator's API, authenticated as team A (``Bearer``)."""
    with httpx.Client(base_url=studio_emulator.api_url, headers=studio_emulator.headers(), timeout=15) as client:
        yield client


@pytest.fixture
def studio_connection(monkeypatch: pytest.MonkeyPatch, studio_emulator: EmulatorServer) -> Callable[..., str]:
    """Point an Airflow ``datachain_studio`` connection at an emulator, as an ``AIRFLOW_CONN_*`` variable.

    ``studio_connection(server=None, token=EMULATOR_TOKEN, team=EMULATOR_TEAM, conn_id=..., **extra)``
    returns the connection id; ``server`` defaults to the shared emulator, ``extra`` goes to the extra field.
    """

    def configure(
        server: EmulatorServer | None = None,
        token: str = EMULATOR_TOKEN,
        team: str = EMULATOR_TEAM,
        conn_id: str = "datachain_studio_default",
        **extra: object,
    ) -> str:
        target = server or studio_emulator
        value = {
            "conn_type": "datachain_studio",
            "host": target.url,
            "password": token,
            "extra": {"team": team, **extra},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return conn_id

    return configure


# ---- Airflow: a metadata database and real DAG runs (below) ----

TEST_DAGS = Path(__file__).resolve().parent / "dags"
_BUNDLE_CONFIG = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"


@pytest.fixture
def emulator(studio_connection: Callable[..., str], fresh_emulator: EmulatorServer) -> EmulatorServer:
    """A fresh emulator that the default ``datachain_studio`` connection points at (a module's own
    ``emulator`` fixture, as in the follower's tests, overrides this one)."""
    studio_connection(fresh_emulator)
    return fresh_emulator


@pytest.fixture
def lineage(emulator: EmulatorServer) -> dict[str, dict[str, Any]]:
    """The dataset lineage of :func:`tests.pipeline_helpers.build_lineage`, produced on ``emulator``."""
    return build_lineage(emulator)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata database in the tests' AIRFLOW_HOME (once per session)."""
    import subprocess
    import sys

    airflow_bin = str(Path(sys.executable).parent / "airflow")
    done = subprocess.run(
        [airflow_bin, "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def dag_bag(folder: Path) -> Any:
    """The DAGs of ``folder`` as Airflow's DAG processor parses them (``DagBag`` moved in 3.2)."""
    try:  # Airflow 3.2+ (no example DAGs there)
        from airflow.dag_processing.dagbag import DagBag

        return DagBag(dag_folder=str(folder))
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag as LegacyDagBag  # type: ignore[attr-defined]

        return LegacyDagBag(dag_folder=str(folder), include_examples=False)


def sync_dag_folder(folder: Path, bundle_name: str) -> None:
    """Parse ``folder`` as the DAG bundle ``bundle_name`` and write its DAGs to the metadata database, as the
    dag-processor would. ``dag.test()`` does this itself on 3.3; Airflow 3.1's does not (it fails with "the
    dag is not serialized"), and asset scheduling needs every DAG of the folder, not only the one run."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    try:  # Airflow 3.2+
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

        bag: Any = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name=bundle_name)
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[attr-defined,no-redef]

        bag = DagBag(dag_folder=folder, include_examples=False, bundle_path=folder)
    assert not bag.import_errors, bag.import_errors
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    sync_bag_to_db(bag, bundle_name, None)


@pytest.fixture
def dag_folder(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """``dag_folder(path)``: make ``path`` the only DAG bundle and write its DAGs to the metadata database,
    so that ``dag.test()`` of a DAG defined there runs on every supported Airflow."""

    def use(folder: Path) -> None:
        name = f"studio-{folder.name}"
        bundle = {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        }
        monkeypatch.setenv(_BUNDLE_CONFIG, json.dumps([bundle]))
        sync_dag_folder(folder, name)

    return use


@pytest.fixture
def run_dag(dag_folder: Callable[[Path], None]) -> Callable[..., Any]:
    """``run_dag(dag, folder=tests/dags)``: a real DAG run with ``dag.test()`` (the metadata database, the
    task runner, the trigger run inline) of a DAG defined in ``folder``; returns the DAG run."""

    def run(dag: Any, folder: Path = TEST_DAGS, **kwargs: Any) -> Any:
        dag_folder(folder)
        return dag.test(**kwargs)

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Tests that run a DAG through dag.test() carry the ``dag_run`` marker: `make test-airflow-<version>`
    # runs them on each supported Airflow (the Makefile's version pins make 3.1.0's dag.test() work).
    for item in items:
        if {"run_dag", "dag_folder"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dag_run)
