"""What a job receives from its task: files relative to the DAG file, ``env_file`` and
``requirements_file`` as the CLI reads them, and the DAG run's identity in its environment. Against the
emulator: the job as Studio stored it is checked."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.job_inputs import read_env_file, read_requirements_file
from tests.studio_tasks import AirflowFailException, FakeTaskInstance, task_context

SIMULATED = {"STUDIO_EMULATOR_EXECUTOR": "simulated", "STUDIO_EMULATOR_DURATION": "0.1"}


@pytest.fixture
def hook(emulator: EmulatorServer) -> StudioHook:
    return StudioHook()


def dag_context(dag_file: Path, ti: FakeTaskInstance | None = None, **entries: Any) -> dict[str, Any]:
    return {**task_context(ti), "dag": SimpleNamespace(fileloc=str(dag_file)), **entries}


def test_relative_paths_start_at_the_dag_files_folder(
    hook: StudioHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dags = tmp_path / "dags"
    (dags / "sql").mkdir(parents=True)
    (dags / "sql" / "step.py").write_text("print('step')\n")
    (dags / "input.csv").write_text("a,b\n")
    (dags / ".env").write_text("# settings\nexport MODE='full'\nLIMIT=10\n")
    (dags / "requirements.txt").write_text("pandas>=2  # tables\n\n# none\nrequests\n")
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the worker's directory is not the DAG's

    op = StudioRunJobOperator(
        task_id="inputs",
        query_file="sql/step.py",
        files=["input.csv"],
        env_file=".env",
        requirements_file="requirements.txt",
        requirements=["numpy"],
        environment={**SIMULATED, "LIMIT": "20"},  # wins over the env file
        pass_airflow_context=False,
    )
    result = op.execute(dag_context(dags / "etl_dag.py"))
    job = hook.get_job(job_id=result["job_id"])
    assert job.raw["query"] == "print('step')\n" and job.name.startswith("step.py [airflow:")
    assert len(job.raw["files"]) == 1
    assert job.raw["environment"] == {**SIMULATED, "MODE": "full", "LIMIT": "20"}
    assert job.raw["requirements"].splitlines() == ["pandas>=2", "requests", "numpy"]


def test_a_missing_relative_file_names_the_folder_it_was_looked_for_in(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.injector.reset_observations()
    op = StudioRunJobOperator(task_id="inputs", query="print(1)", env_file="missing.env")
    with pytest.raises(AirflowFailException, match="env_file") as info:
        op.execute(dag_context(tmp_path / "dag.py"))
    assert str(tmp_path) in str(info.value)
    assert emulator.injector.counters()["total"] == 0


def test_env_and_requirements_files_are_read_as_the_cli_reads_them(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('A=1\n\n# comment\nexport B="two words"\nC=\n')
    assert read_env_file(env) == {"A": "1", "B": "two words", "C": ""}
    env.write_text("A=1\nnot a pair\n")
    with pytest.raises(AirflowFailException, match="line 2"):
        read_env_file(env)
    req = tmp_path / "req.txt"
    req.write_text("# pinned\nx==1  # why\n\ny\n")
    assert read_requirements_file(req) == ["x==1", "y"]


def test_the_job_receives_the_dag_runs_identity(hook: StudioHook, tmp_path: Path) -> None:
    ti = FakeTaskInstance(dag_id="etl", task_id="load", run_id="manual__x", try_number=2, map_index=3)
    when = datetime(2026, 12, 4, tzinfo=timezone.utc)
    op = StudioRunJobOperator(task_id="load", query="print(1)", environment=SIMULATED, pass_dag_params=True)
    context = dag_context(tmp_path / "dag.py", ti, logical_date=when, params={"region": "eu", "n": 3})
    job = hook.get_job(job_id=op.execute(context)["job_id"])
    env = job.raw["environment"]
    assert env["AIRFLOW_CTX_DAG_ID"] == "etl" and env["AIRFLOW_CTX_TASK_ID"] == "load"
    assert env["AIRFLOW_CTX_DAG_RUN_ID"] == "manual__x" and env["AIRFLOW_CTX_TRY_NUMBER"] == "2"
    assert env["AIRFLOW_CTX_MAP_INDEX"] == "3" and env["AIRFLOW_CTX_LOGICAL_DATE"] == when.isoformat()
    assert json.loads(env["AIRFLOW_CTX_PARAMS"]) == {"region": "eu", "n": 3}
    # Off on request, and never the DAG's params unless asked.
    quiet = StudioRunJobOperator(
        task_id="load", query="print(1)", environment=SIMULATED, pass_airflow_context=False
    )
    other = FakeTaskInstance(run_id="manual__quiet")
    env = hook.get_job(job_id=quiet.execute(dag_context(tmp_path / "dag.py", other))["job_id"]).raw["environment"]
    assert not [key for key in env if key.startswith("AIRFLOW_CTX_")]
