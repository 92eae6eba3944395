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
