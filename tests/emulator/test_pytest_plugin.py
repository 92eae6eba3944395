"""The pytest plugin for users' own DAG tests, used as a user would: pytest in a subprocess, on a small
project of its own (a DAG, a conftest, a test), with the plugin installed through its ``pytest11`` entry
point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# The project's conftest, as docs/testing.md shows it.
USER_CONFTEST = '''
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Airflow reads its configuration when it is first imported: a throw-away home, before any test runs.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-dag-tests-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """A fresh Airflow metadata database (SQLite in AIRFLOW_HOME), once per test session."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
'''

USER_DAG = '''
from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator

with DAG(
    dag_id="greetings",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    StudioRunJobOperator(
        task_id="greet",
        query_name="greet.py",
        query="print('hello from <Studio>')\\nprint('::dataset-write greetings num_objects=2')\\n",
    )
'''

USER_TEST = '''
from __future__ import annotations

from studio_provider.emulator.testing import StudioEmulator


def test_greetings_writes_its_dataset(datachain_studio: StudioEmulator) -> None:
    from greetings import dag

    run = dag.test()

    assert run.state == "success"
    (job,) = datachain_studio.jobs()
    assert job.status == "COMPLETE" and job.name.startswith("greet.py")
    assert "hello from <Studio>" in job.logs
    (version,) = datachain_studio.datasets()
    assert (version.ref, version.status, version.num_objects) == ("@local.default.greetings@v1.0.0", "COMPLETE", 2)
    assert version.job_id == job.id
'''

# No Airflow: what the fixtures give a test, and that they leave nothing behind.
FIXTURE_TEST = '''
from __future__ import annotations

import json
import os

import httpx

from studio_provider.emulator.testing import StudioEmulator


def test_the_connection_points_at_the_emulator(datachain_studio: StudioEmulator) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT"])
    assert conn["conn_type"] == "datachain_studio" and conn["host"] == datachain_studio.url
    assert conn["extra"] == {"team": datachain_studio.team}
    assert "DATACHAIN_STUDIO_TOKEN" not in os.environ
    body = {"query": "print('hi')", "query_type": "PYTHON", "team_name": conn["extra"]["team"]}
    created = httpx.post(
        f"{datachain_studio.api_url}/datachain/jobs/", json=body,
        headers={"Authorization": f"Bearer {conn['password']}"}, timeout=15,
    ).json()
    (job,) = datachain_studio.wait_until_idle(timeout=30)
    assert (job.id, job.status, job.logs) == (created["id"], "COMPLETE", ("hi",))
    assert datachain_studio.logs(job.id) == ["hi"]
    assert [entry["method"] for entry in datachain_studio.requests(path="/api/datachain/jobs/")] == ["POST"]


def test_more_emulators_and_seeded_datasets(datachain_studio_factory) -> None:
    other = datachain_studio_factory(conn_id="studio_other", team="other-team", executor="simulated")
    assert json.loads(os.environ["AIRFLOW_CONN_STUDIO_OTHER"])["host"] == other.url
    seeded = other.seed_dataset("@acme.vision.cats", num_objects=3)
    assert (seeded.ref, seeded.status, seeded.job_id) == ("@acme.vision.cats@v1.0.0", "COMPLETE", None)
    assert other.seed_dataset("@acme.vision.cats").version == "1.0.1"


def test_nothing_is_left_behind() -> None:
    assert "AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT" not in os.environ
    assert "AIRFLOW_CONN_STUDIO_OTHER" not in os.environ
'''


def _environment(tmp_path: Path) -> dict[str, str]:
    """This process's environment without what the project's own test setup put there (Airflow settings,
    connections), as a user's shell would have it; a real Studio's settings are there, on purpose."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PYTEST_"))}
    env["DATACHAIN_STUDIO_TOKEN"] = "a-real-token-that-must-not-be-used"
    env["DATACHAIN_STUDIO_URL"] = "http://192.0.2.1:9"
    env["PYTHONPATH"] = str(tmp_path / "dags")
    return env


def _run_pytest(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
         "--rootdir", str(project), *args, str(project / "tests")],
        cwd=project, env=_environment(project), capture_output=True, text=True, timeout=timeout, check=False,
    )


def _project(tmp_path: Path, config: str, tests: dict[str, str]) -> Path:
    (tmp_path / "dags").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(config), encoding="utf-8")
    for name, text in tests.items():
        (tmp_path / "tests" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


@pytest.mark.dag_run
def test_a_users_dag_test_runs_against_the_plugins_emulator(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        "[pytest]\ndatachain_studio_emulator = true\n",
        {"conftest.py": USER_CONFTEST, "test_greetings.py": USER_TEST},
    )
    (project / "dags" / "greetings.py").write_text(USER_DAG, encoding="utf-8")
    result = _run_pytest(project, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout


@pytest.mark.parametrize(
    ("config", "conftest", "args"),
    [
        ("[pytest]\ndatachain_studio_emulator = true\n", "", ()),
        ("[pytest]\n", "", ("--datachain-studio-emulator",)),
        ("[pytest]\n", 'pytest_plugins = ["studio_provider.emulator.testing"]\n', ()),
        ("[pytest]\n", "", ("-p", "studio_provider.emulator.testing")),
        # Listed and switched on: loaded once.
        ("[pytest]\ndatachain_studio_emulator = true\n", 'pytest_plugins = ["studio_provider.emulator.testing"]\n', ()),
    ],
    ids=["ini", "flag", "pytest_plugins", "-p", "ini-and-pytest_plugins"],
)
def test_each_way_of_asking_for_the_plugin_gives_its_fixtures(
    tmp_path: Path, config: str, conftest: str, args: tuple[str, ...]
) -> None:
    project = _project(tmp_path, config, {"conftest.py": conftest, "test_fixtures.py": FIXTURE_TEST})
    result = _run_pytest(project, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


def test_the_plugin_is_inactive_unless_asked_for(tmp_path: Path) -> None:
    project = _project(tmp_path, "[pytest]\n", {"conftest.py": "", "test_fixtures.py": FIXTURE_TEST})
    result = _run_pytest(project, "--fixtures")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "datachain_studio" not in result.stdout  # no fixture of ours, not even listed
    run = _run_pytest(project)
    assert run.returncode == 1
    assert "fixture 'datachain_studio' not found" in run.stdout
    # The gate itself is loaded (through the pytest11 entry point), so its switch is known.
    helped = _run_pytest(project, "--help")
    assert "--datachain-studio-emulator" in helped.stdout
