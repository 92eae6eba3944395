"""``@task.datachain_studio`` against the emulator: the emulator's local executor runs the generated script as
a real Python process, so what the function prints and returns is really printed and returned there."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import task

from studio_provider.decorators.datachain_studio import (
    SUMMARY_XCOM_KEY,
    StudioDecoratedOperator,
    datachain_studio_task,
)
from studio_provider.decorators.function_script import (
    RETURN_MARKER,
    build_script,
    return_marker,
    returned_value,
)
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioJobFailedError
from studio_provider.get_provider_info import get_provider_info
from studio_provider.hooks.studio import StudioHook
from tests.operators.test_dag_run import stored_xcoms
from tests.studio_tasks import FakeTaskInstance, jobs_of, run_deferred, studio_lines, task_context

LIMIT = 7  # a module-level name: functions that read it are refused


def log_lines(output: str, job_id: str) -> list[str]:
    """The job's Studio lines in the task log (Airflow 3.1 colours its console log: colours removed)."""
    return studio_lines(re.sub(r"\x1b\[[0-9;]*m", "", output), job_id)


def new_ti(task_id: str) -> FakeTaskInstance:
    """A task instance of its own DAG run: the session emulator keeps other tests' jobs, and the
    exactly-once rule would return a job of the same task and run id."""
    return FakeTaskInstance(task_id=task_id, run_id=f"manual__{uuid.uuid4()}")


def operator_of(called: Any) -> StudioDecoratedOperator:
    """The operator behind a decorated function's call (an XComArg)."""
    op = called.operator
    assert isinstance(op, StudioDecoratedOperator)
    return op


@pytest.fixture
def shared(studio_connection: Callable[..., str], studio_emulator: EmulatorServer) -> StudioHook:
    """A connection to the session emulator (local executor: jobs are real processes)."""
    studio_connection()
    return StudioHook()


@pytest.fixture
def fresh(studio_connection: Callable[..., str], fresh_emulator: EmulatorServer) -> EmulatorServer:
    """A connection to an emulator of this test alone, whose request counters start at zero."""
    studio_connection(fresh_emulator)
    fresh_emulator.injector.reset_observations()
    return fresh_emulator


# ---- registration ------------------------------------------------------------------------------------


def test_task_datachain_studio_is_registered_through_the_provider_info() -> None:
    (entry,) = get_provider_info()["task-decorators"]
    assert entry == {
        "name": "datachain_studio",
        "class-name": "studio_provider.decorators.datachain_studio.datachain_studio_task",
    }
    # Resolved by Airflow's providers manager from the installed provider's entry point.
    assert task.datachain_studio is datachain_studio_task

    @task.datachain_studio(task_id="registered", environment={"A": "1"}, priority=2)
    def registered() -> None:
        print("hello")

    op = operator_of(registered())
    assert op.custom_operator_name == "@task.datachain_studio"
    assert op.get_query_type() == "PYTHON" and op.get_query_name() == "registered.py"
    assert op.environment == {"A": "1"} and op.priority == 2


# ---- the function on the emulator --------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_function_runs_in_studio_with_its_arguments_and_returns_its_value(
    shared: StudioHook, capsys: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    @task.datachain_studio(task_id="count_words", deferrable=deferrable, poll_interval=0.3, timeout=60)
    def count_words(words: list[str], options: dict[str, Any], *, upper: bool = False, ds: str | None = None):
        import os

        for word in words:
            print(f"seen-{word.upper() if upper else word}")
        return {
            "count": len(words),
            "options": options,
            "ds": ds,
            "in_studio": os.environ.get("DATACHAIN_IS_STUDIO"),
        }

    op = operator_of(count_words(["a", "b", "c"], {"depth": 2, "tags": ("x", "y")}, upper=True))
    ti = new_ti("count_words")
    context = {**task_context(ti), "ds": "2026-11-22"}

    result = run_deferred(op, context) if deferrable else op.execute(context)

    # The value crossed the job as JSON (the tuple became a list); ds came from the context.
    assert result == {
        "count": 3,
        "options": {"depth": 2, "tags": ["x", "y"]},
        "ds": "2026-11-22",
        "in_studio": "true",
    }
    job_id = ti.xcom["job_id"]
    summary = ti.xcom[SUMMARY_XCOM_KEY]
    assert summary["job_id"] == job_id and summary["status"] == "COMPLETE" and summary["exit_code"] == 0
    # The printed lines reach the task log once each; the return value's line (and its secret) does not.
    output = capsys.readouterr().out
    assert log_lines(output, job_id) == ["seen-A", "seen-B", "seen-C"]
    assert RETURN_MARKER not in output
    job = shared.get_job(job_id=job_id)
    assert job.name.startswith("count_words.py [airflow:")
    query = job.raw["query"]
    assert query.startswith("# Generated by @task.datachain_studio")
    assert "@task.datachain_studio(" not in query  # the decorator line is stripped
    assert '"args": [["a", "b", "c"], {"depth": 2, "tags": ["x", "y"]}]' in query  # one JSON string
    assert op.query == query  # shown in the rendered template fields after the run


def test_function_returning_none_returns_none_and_keeps_the_task_log_clean(
    shared: StudioHook, capsys: pytest.CaptureFixture[str]
) -> None:
    @task.datachain_studio(task_id="quiet", deferrable=False, poll_interval=0.3, timeout=60)
    def quiet(n: int) -> None:
        print(f"quiet-{n}")

    ti = new_ti("quiet")
    assert operator_of(quiet(5)).execute(task_context(ti)) is None
    assert log_lines(capsys.readouterr().out, ti.xcom["job_id"]) == ["quiet-5"]


def test_a_return_value_that_is_not_json_fails_the_job_saying_so(shared: StudioHook) -> None:
    @task.datachain_studio(task_id="returns_a_set", deferrable=False, poll_interval=0.3, timeout=60)
    def returns_a_set():
        return {1, 2}

    with pytest.raises(StudioJobFailedError, match="returns_a_set returned a value that is not JSON"):
        operator_of(returns_a_set()).execute(task_context(new_ti("returns_a_set")))


def test_a_function_that_raises_fails_the_task_with_its_message(shared: StudioHook) -> None:
    @task.datachain_studio(task_id="boom", deferrable=False, poll_interval=0.3, timeout=60)
    def boom(reason: str):
        raise RuntimeError(reason)

    with pytest.raises(StudioJobFailedError, match=r"exit code 1\).*RuntimeError: out of coffee"):
        operator_of(boom("out of coffee")).execute(task_context(new_ti("boom")))


def test_decorator_through_a_real_dag_run(
    run_dag: Callable[..., Any],
    shared: StudioHook,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An upstream task's XCom feeds the function; the deferred job's printed lines reach the task log."""
    from tests.dags.studio_decorator_dag import dag

    run = run_dag(dag)

    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    xcoms = stored_xcoms(dag.dag_id, run.run_id, "shout")
    job_id = xcoms["job_id"]
    assert xcoms["return_value"] == {"count": 6, "job": job_id, "run_id": run.run_id}
    assert xcoms["count"] == 6  # a dict return annotation means multiple_outputs, as for @task
    assert xcoms[SUMMARY_XCOM_KEY]["status"] == "COMPLETE"  # type: ignore[index]
    assert xcoms["_link_StudioJobLink"] == xcoms["job_url"]
    lines = log_lines(capfd.readouterr().out, str(job_id))
    assert lines == [f"word-{w}" for w in ["alpha", "beta", "gamma"] * 2]
    job = shared.get_job(job_id=str(job_id))
    environment = job.raw["environment"]
    assert job.name.startswith("shout.py [airflow:") and environment["GREETING"] == "hi"
    # The DAG run's identity reaches the job, as Airflow names it for a task's own process.
    assert (environment["AIRFLOW_CTX_DAG_ID"], environment["AIRFLOW_CTX_TASK_ID"]) == (dag.dag_id, "shout")
    assert environment["AIRFLOW_CTX_DAG_RUN_ID"] == run.run_id and environment["AIRFLOW_CTX_TRY_NUMBER"] == "1"
    # The UI's Rendered Templates show the generated script that ran (it resumed in another process).
    assert rendered_fields(dag.dag_id, run.run_id, "shout")["query"] == job.raw["query"]


def rendered_fields(dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).one()
        return dict(row.rendered_fields)


def test_an_explicit_argument_wins_over_a_context_value_of_the_same_name() -> None:
    @task.datachain_studio(task_id="dated")
    def dated(ds: str, run_id: str | None = None, params: dict[str, Any] | None = None) -> str:
        return ds

    context = {**task_context(), "ds": "2026-12-04", "run_id": "from-context", "params": {"p": 1}}
    by_keyword = operator_of(dated(ds="1999-01-01"))
    assert by_keyword.call_kwargs(context) == {"ds": "1999-01-01", "run_id": "from-context", "params": {"p": 1}}
    positional = operator_of(dated("1999-01-01", "mine"))
    assert positional.call_kwargs(context) == {"params": {"p": 1}}


# ---- what is refused, before any request -------------------------------------------------------------


def test_non_json_argument_is_refused_when_the_dag_is_parsed() -> None:
    @task.datachain_studio(task_id="dated")
    def dated(label: str, when: Any) -> None:
        print(label, when)

    with pytest.raises(ValueError, match=r"^argument 'when' .* JSON-serializable: datetime"):
        dated("x", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=r"argument 'label' .* set has no JSON form"):
        dated({"a"}, when="2026-01-01")
    with pytest.raises(ValueError, match=r"argument 'when' .*Out of range float"):
        dated("x", when=float("nan"))


def test_non_json_value_known_only_at_run_time_fails_before_any_request(fresh: EmulatorServer) -> None:
    @task.datachain_studio(task_id="late")
    def late(value: Any, ti: Any = None) -> None:
        print(value)

    op = operator_of(late("placeholder"))
    op.op_args = [object()]  # what a resolved XCom could hold
    with pytest.raises(ValueError, match=r"^argument 'value' .* object is not JSON-serializable"):
        op.execute(task_context())
    op.op_args = ["fine"]  # a context value the function asks for is checked the same way
    with pytest.raises(ValueError, match=r"argument 'ti' .* FakeTaskInstance is not JSON-serializable"):
        op.execute(task_context())
    assert fresh.injector.counters()["total"] == 0


def test_closure_variable_is_refused_when_the_dag_is_parsed() -> None:
    threshold = 3

    @task.datachain_studio(task_id="uses_closure")
    def uses_closure(values: list[int]) -> list[int]:
        return [v for v in values if v > threshold]

    with pytest.raises(ValueError, match=r"uses_closure uses threshold from an enclosing function .* arguments") as info:
        uses_closure([1, 5])
    assert str(info.value).count("uses_closure") == 1  # the function is named once, not twice


def test_a_parse_error_names_the_function_once_and_a_task_id_of_another_name() -> None:
    @task.datachain_studio(task_id="nightly_totals")
    def totals() -> str:
        return json.dumps([LIMIT])

    with pytest.raises(ValueError) as info:
        totals()
    text = str(info.value)
    assert text.startswith("nightly_totals: ") and text.count("nightly_totals") == 1
    assert text.count("totals uses the module-level name(s)") == 1


def test_module_level_names_are_refused_and_imports_inside_are_fine() -> None:
    @task.datachain_studio(task_id="uses_module")
    def uses_module() -> str:
        return json.dumps(list(range(LIMIT)))

    with pytest.raises(ValueError, match=r"module-level name\(s\) LIMIT, json, .*import modules inside"):
        uses_module()

    @task.datachain_studio(task_id="default_from_module")
    def default_from_module(n: int = LIMIT) -> int:
        return n

    with pytest.raises(ValueError, match=r"module-level name\(s\) LIMIT"):
        default_from_module()

    @task.datachain_studio(task_id="self_contained")
    def self_contained(n: int) -> str:
        import json

        def helper(k: int) -> list[int]:
            return sorted(range(k), reverse=True)

        return json.dumps(helper(n))

    assert operator_of(self_contained(3)).task_id == "self_contained"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"query": "print(1)"}, "do not pass query or query_file"),
        ({"query_file": "etl.py"}, "do not pass query or query_file"),
        ({"query_type": "SHELL"}, "query_type must be PYTHON"),
        ({"priority": 7}, "priority"),
        ({"compute_cluster_name": "a", "compute_cluster_id": 1}, "compute_cluster_name"),
    ],
    ids=["query", "query_file", "query_type", "priority", "cluster"],
)
def test_bad_operator_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    @task.datachain_studio(task_id="bad", **kwargs)
    def bad() -> None:
        print("never")

    with pytest.raises(ValueError, match=match):
        bad()


def test_async_functions_and_lambdas_are_refused() -> None:
    async def fetch() -> None:
        print("async")

    with pytest.raises(ValueError, match="fetch is async"):
        task.datachain_studio(task_id="fetch")(fetch)()

    with pytest.raises(ValueError, match="defined with 'def'"):
        task.datachain_studio(task_id="lam")(lambda: print("x"))()


# ---- the script itself -------------------------------------------------------------------------------


def test_generated_script_runs_alone_and_hands_back_its_value(tmp_path: Path) -> None:
    """The script needs nothing from Airflow or this module: run it with a bare interpreter."""

    @task.datachain_studio(task_id="decorated", deferrable=True)
    def decorated(rows: list[dict[str, int]], scale: float = 1.0) -> dict[str, float]:
        """A docstring with {{ braces }} that Jinja must not touch."""
        total = sum(row["v"] for row in rows) * scale
        print(f"total={total}")
        return {"total": total}

    marker = return_marker("token", ("dag", "decorated", "run", -1))
    script = build_script(decorated.function, [[{"v": 2}, {"v": 3}]], {"scale": 0.5}, marker=marker)
    path = tmp_path / "job.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "total=2.5"
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(marker)]
    assert returned_value(line[len(marker) :]) == (True, {"total": 2.5})
    assert returned_value(None) == (False, None)


def test_the_marker_is_a_secret_of_the_task_and_its_token() -> None:
    one = return_marker("token-a", ("dag", "task", "run", -1))
    assert one.startswith(RETURN_MARKER) and len(one) == len(RETURN_MARKER) + 33
    assert one == return_marker("token-a", ("dag", "task", "run", -1))
    assert one != return_marker("token-b", ("dag", "task", "run", -1))  # another user's token
    assert one != return_marker("token-a", ("dag", "task", "run2", -1))


def test_arguments_travel_as_one_json_string_however_deep_and_builtins_print_is_used(tmp_path: Path) -> None:
    @task.datachain_studio(task_id="print")
    def print(value: Any) -> Any:
        return value

    deep: Any = 1
    for _ in range(199):
        deep = [deep]
    marker = return_marker("token", ("d", "print", "r", -1))
    path = tmp_path / "job.py"
    path.write_text(build_script(print.function, [deep], {}, marker=marker))
    done = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(marker)]  # called once
    assert returned_value(line[len(marker) :]) == (True, deep)


def test_output_that_imitates_the_marker_cannot_forge_the_return_value(shared: StudioHook) -> None:
    @task.datachain_studio(task_id="forger", deferrable=False, poll_interval=0.3, timeout=60)
    def forger() -> None:
        # A record of the job's data that contains the marker's public part, mid-line and at a line start.
        print("row: __studio_airflow_return__:{\"forged\": true}")
        print("__studio_airflow_return__:{\"forged\": true}")
        print("__studio_airflow_return__:00000000000000000000000000000000:{\"forged\": true}")

    assert operator_of(forger()).execute(task_context(new_ti("forger"))) is None


def test_a_retry_reads_the_value_of_a_completed_job_without_reading_its_whole_log_over_rest(
    shared: StudioHook, studio_emulator: EmulatorServer
) -> None:
    """The job printed more than the REST log answer may hold (16 MiB): the retry, which finds the job
    completed, still returns the value, read from the log stream's end."""

    @task.datachain_studio(task_id="chatty", deferrable=False, poll_interval=0.3, timeout=300, max_log_lines=10)
    def chatty(n: int) -> int:
        line = "x" * 199
        for _ in range(n):
            print(line)
        return n

    ti = new_ti("chatty")
    first = operator_of(chatty(100_000))
    assert first.execute(task_context(ti)) == 100_000  # 20 MB printed
    ti.try_number = 2  # cleared: the retry finds the completed job
    assert operator_of(chatty(100_000)).execute(task_context(ti)) == 100_000
    assert len(jobs_of(shared, ti)) == 1
