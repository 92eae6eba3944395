"""`make demo`: run the ``studio_etl_chain`` example DAG through Airflow against a local Studio.

1. starts the Studio emulator (local executor: it really runs the jobs) in the background on a free port;
2. configures the ``datachain_studio_default`` connection through an ``AIRFLOW_CONN_`` variable;
3. migrates a fresh Airflow metadata database under ``airflow-home/demo``;
4. runs ``airflow dags test studio_etl_chain``: every task through Airflow's task runner, the deferred
   waits through the triggerer's code (run inline: ``dags test`` needs no triggerer process);
5. prints a summary: each task's state and duration, the Studio jobs and their URLs, the pipeline's
   ``completed/total``, and an excerpt of the Studio log lines streamed into the task logs.

The emulator and Airflow are stopped on every exit, Ctrl-C included. Exit status 0 only when the DAG run
succeeded. Airflow's own output goes to ``airflow-home/demo/dags-test.log`` (its tail is shown on failure).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore", DeprecationWarning)  # this process's own noise; errors stay visible

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.local_studio import BIN, ROOT, TEAM, airflow_env, emulator, interrupt_on_sigterm, stop  # noqa: E402

HOME = ROOT / "airflow-home" / "demo"
DAG_ID = "studio_etl_chain"
#: Long enough for a slow first start of Airflow on a busy machine; the run itself takes seconds.
RUN_LIMIT = 600

def say(text: str = "") -> None:
    print(text, flush=True)


class Progress:
    """One status line, rewritten in place on a terminal, printed on change otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last = ""

    def show(self, status: str, clock: str) -> None:
        """Show ``clock + status``: every time on a terminal, only when ``status`` changed otherwise."""
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            sys.stdout.write("\r" + (clock + status)[:width].ljust(width))
            sys.stdout.flush()
        elif status != self.last:
            say(clock + status)
        self.last = status

    def done(self) -> None:
        if self.tty and self.last:
            sys.stdout.write("\n")
            sys.stdout.flush()


def query(sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read Airflow's metadata database (SQLite) directly: no Airflow import in this process."""
    path = HOME / "airflow.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute(sql, args).fetchall()
    except sqlite3.Error:
        return []  # the run is creating the tables, or holds a write lock: read again later


def task_rows() -> list[tuple[str, str | None, str | None, str | None, int]]:
    return query(
        "SELECT task_id, state, start_date, end_date, try_number FROM task_instance WHERE dag_id = ? "
        "AND run_id = (SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1) ORDER BY rowid",
        DAG_ID,
        DAG_ID,
    )


def xcom(task_id: str, key: str) -> Any:
    rows = query(
        "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? ORDER BY timestamp DESC LIMIT 1",
        DAG_ID,
        task_id,
        key,
    )
    if not rows or rows[0][0] is None:
        return None
    value = rows[0][0]
    return json.loads(value) if isinstance(value, str) else value


def seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


#: A Studio line in Airflow's log: a job's ``[studio <id>] text`` or a pipeline job run's ``[<name> [marker]]
#: text``, followed by the logger's name (the Studio triggers') and the source location.
STUDIO_LINE = re.compile(
    r"\] (\[studio [0-9a-f-]+\]|\[[\w.-]+ \[airflow:[0-9a-f]+\]\]) (.*?) "
    r"\[studio_provider\.(?:triggers|operators|sensors)\.[\w.]+\] loc="
)


def studio_lines(log: Path) -> list[tuple[str, str]]:
    """The Studio log lines the tasks wrote, as (source, text); the dataset directives are left out."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text(errors="replace").splitlines():
        match = STUDIO_LINE.search(line)
        if match and not match.group(2).startswith("::dataset"):
            source = match.group(1)
            if "[airflow:" in source:  # a pipeline job run: show its script's name
                source = "[pipeline " + source[1:].split(" [")[0] + "]"
            found.append((source, match.group(2)))
    return found


def run_dag(env: dict[str, str], log: Path, progress: Progress) -> int:
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "airflow"), "dags", "test", DAG_ID], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            while process.poll() is None:
                if time.monotonic() - started > RUN_LIMIT:
                    raise TimeoutError(f"the DAG run took over {RUN_LIMIT} s")
                states = ", ".join(f"{task} {state or 'queued'}" for task, state, *_ in task_rows())
                lines = len(studio_lines(log))
                status = (states or "starting Airflow") + (f"; {lines} Studio log lines" if lines else "")
                progress.show(status, f"  [{time.monotonic() - started:4.0f} s] ")
                time.sleep(0.5)
        finally:
            stop(process)
            progress.done()
    return process.returncode


def status_name(status: Any) -> str:
    """A dataset version's status by its name (Studio sends the number: ``4`` is ``COMPLETE``)."""
    from studio_provider.client.models import DatasetVersionStatus

    try:
        return DatasetVersionStatus(int(status)).name
    except (TypeError, ValueError):
        return f"status {status}"


def summary(log: Path) -> bool:
    rows = task_rows()
    run = query("SELECT state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", DAG_ID)
    state = run[0][0] if run else "not created"
    say(f"\nDAG run {DAG_ID}: {state}")
    for task_id, task_state, start, end, tries in rows:
        took = seconds(start, end)
        duration = f"{took:5.1f} s" if took is not None else "    - "
        retry = f" (try {tries})" if tries and tries > 1 else ""
        say(f"  {task_id:<17} {task_state or '-':<10} {duration}{retry}")

    say("\nStudio jobs")
    for task_id in ("extract_cities", "city_stats"):
        say(f"  {task_id:<17} {xcom(task_id, 'job_id') or '-'}  {xcom(task_id, 'job_url') or ''}")
    ready = xcom("city_stats_ready", "return_value")
    if ready:
        say(f"  dataset sensor    {ready['name']}@v{ready['version']} {status_name(ready['status'])}")
    pipeline = xcom("rebuild_stats", "return_value")
    if pipeline:
        say(
            f"\nStudio pipeline {pipeline['name']}: {pipeline['status']}, "
            f"{pipeline['completed']}/{pipeline['total']} jobs  {pipeline['url']}"
        )
        for job_run in pipeline["job_runs"]:
            say(f"  {job_run['name'].split(' [')[0]:<17} {job_run['status']:<9} job {job_run['studio_job_id']}")

    lines = studio_lines(log)
    if lines:
        say(f"\nStudio log lines streamed into the task logs by the triggers ({len(lines)} in all; excerpt):")
        shown: dict[str, int] = {}
        for source, text in lines:
            shown[source] = shown.get(source, 0) + 1
            if shown[source] <= 3:
                say(f"  {source} {text}")
    return state == "success" and bool(rows) and all(row[1] == "success" for row in rows)


def main() -> int:
    interrupt_on_sigterm()
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    log = HOME / "dags-test.log"
    progress = Progress()
    began = time.monotonic()
    try:
        with emulator(HOME / "studio", HOME / "emulator.log") as url:
            say(f"Studio emulator (local executor) at {url}, team {TEAM}")
            env = airflow_env(HOME, url, AIRFLOW__LOGGING__LOGGING_LEVEL="INFO")
            say("Preparing Airflow's metadata database (airflow db migrate) ...")
            migrate = subprocess.run(
                [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
            )
            if migrate.returncode != 0:
                say(migrate.stdout[-3000:] + migrate.stderr[-3000:])
                say("demo FAILED: airflow db migrate failed")
                return 1
            say(f"Running {DAG_ID} with `airflow dags test` (deferrable tasks; Airflow log: {log}):")
            code = run_dag(env, log, progress)
            ok = summary(log)
    except KeyboardInterrupt:
        progress.done()
        say("\ninterrupted: the emulator and Airflow were stopped")
        return 130
    except (RuntimeError, TimeoutError, OSError) as exc:
        progress.done()
        say(f"demo FAILED: {exc}")
        return 1
    if not ok or code != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
        say("\n".join(["", f"--- the last lines of {log} ---", *tail]))
        say(f"\ndemo FAILED (airflow dags test exit code {code})")
        return 1
    say(f"\ndemo OK in {time.monotonic() - began:.0f} s. Next: `make up` for the Airflow UI, `make test`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
