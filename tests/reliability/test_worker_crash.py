"""Scenario 5, a worker crash and a user's kill, on the real multi-process Airflow:

- ``kill -9`` the task process of a non-deferrable run while it waits: the retry reconnects to the same
  Studio job (Airflow 3.3's task state store, or the task marker), and the DAG run succeeds with one job.
- Mark a deferred task failed through Airflow's REST API: the trigger's ``on_kill`` cancels the job.

It ends with scenario 6's search of everything Airflow wrote (task and trigger logs, process outputs,
the whole database: trigger rows, XCom, rendered template fields) for the token.
"""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.operators.submission import has_marker, marker_for
from tests.reliability.airflow_cluster import AirflowCluster, all_text_files, db_dump, log_files, wait_until
from tests.reliability.dag_templates import KILL_DAG_ID, WORKER_DAG_ID
from tests.reliability.helpers import (
    TOKEN,
    add_token_count,
    record,
    request_log,
    token_occurrences,
    true_status,
)
from tests.studio_tasks import studio_lines

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(300)]


def task_jobs(emulator: EmulatorServer, dag_id: str, run_id: str, task_id: str) -> list[Any]:
    marker = marker_for(TOKEN, dag_id, task_id, run_id)
    return emulator.call(lambda: [job for job in emulator.state.jobs.values() if has_marker(job.name, marker)])


def task_process(ti_id: str) -> int | None:
    """The pid of the task process itself (``airflow worker -- <ti id>``), not its supervisor's."""
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.strip() == f"airflow worker -- {ti_id}":
            return int(pid)
    return None


def test_killed_task_process_retries_and_reconnects_to_the_same_job(
    airflow_studio: tuple[AirflowCluster, EmulatorServer],
) -> None:
    cluster, emulator = airflow_studio
    run_id = "crash-1"
    cluster.trigger(WORKER_DAG_ID, run_id)

    def waiting_with_lines() -> str | None:
        item = cluster.task_instances(WORKER_DAG_ID, run_id)["on_worker"]
        jobs = task_jobs(emulator, WORKER_DAG_ID, run_id, "on_worker")
        if item["state"] == "running" and jobs and len(emulator.call(lambda: list(jobs[0].logs))) >= 2:
            return str(item["id"])
        return None

    ti_id = wait_until(waiting_with_lines, timeout=120, what="the task to wait on its job")
    pid = wait_until(lambda: task_process(ti_id), timeout=30, what="the task process")
    os.kill(pid, signal.SIGKILL)
    state = cluster.wait_run(WORKER_DAG_ID, run_id, timeout=150)
    item = cluster.task_instances(WORKER_DAG_ID, run_id)["on_worker"]
    jobs = task_jobs(emulator, WORKER_DAG_ID, run_id, "on_worker")
    second = cluster.task_log(WORKER_DAG_ID, run_id, "on_worker", try_number=2)
    record(
        "5 task process killed mid-wait",
        {"DAG run": state, "tries": item["try_number"], "jobs expected": 1, "jobs found": len(jobs),
         "job status": jobs[0].status if jobs else None},
    )
    assert state == "success"
    assert item["try_number"] == 2
    assert len(jobs) == 1 and jobs[0].status == "COMPLETE"
    assert f"Studio job {jobs[0].id} (reconnected)" in second
    assert studio_lines(second, jobs[0].id)  # the retry follows the same job's log


def test_marking_a_deferred_task_failed_cancels_its_job(
    airflow_studio: tuple[AirflowCluster, EmulatorServer],
) -> None:
    cluster, emulator = airflow_studio
    run_id = "mark-failed-1"
    cluster.trigger(KILL_DAG_ID, run_id)
    wait_until(
        lambda: cluster.task_instances(KILL_DAG_ID, run_id)["deferred"]["state"] == "deferred",
        timeout=120,
        what="the task to defer",
    )
    # Only a trigger that runs in a triggerer can be told of the user's action (on_kill): wait for it.
    wait_until(
        lambda: any(".trigger." in name for name in log_files(cluster, KILL_DAG_ID, run_id, "deferred")),
        timeout=60,
        what="a triggerer to run the trigger",
    )
    jobs = task_jobs(emulator, KILL_DAG_ID, run_id, "deferred")
    assert len(jobs) == 1 and true_status(emulator, jobs[0].id) in ("QUEUED", "RUNNING")
    cluster.api(
        "PATCH", f"/dags/{KILL_DAG_ID}/dagRuns/{run_id}/taskInstances/deferred", json={"new_state": "failed"}
    )
    status = wait_until(
        lambda: (s := true_status(emulator, jobs[0].id)) in ("CANCELED", "COMPLETE", "FAILED") and s,
        timeout=60,
        what="the job to end",
    )
    record("5 deferred task marked failed", {"job status": status, "jobs found": len(jobs)})
    assert status == "CANCELED"


def test_no_token_anywhere_airflow_wrote(airflow_studio: tuple[AirflowCluster, EmulatorServer]) -> None:
    """Scenario 6 on the real Airflow: every log and process output, the whole database and the
    emulator's request log hold the token zero times (the connection itself lives in the environment)."""
    cluster, emulator = airflow_studio
    files = all_text_files(cluster)
    task_logs = [name for name in files if "/logs/dag_id=" in name]
    dump = db_dump(cluster)
    found = {name: token_occurrences(text) for name, text in files.items() if token_occurrences(text)}
    record(
        "6 token search in Airflow",
        {"files searched": len(files), "task and trigger log files": len(task_logs),
         "database bytes searched": len(dump), "requests searched": len(request_log(emulator)),
         "occurrences": sum(found.values()) + token_occurrences(dump, request_log(emulator))},
    )
    assert task_logs and "rendered_task_instance_fields" in dump and "xcom" in dump
    assert add_token_count("6 Airflow logs, database, request log", *files.values(), dump, request_log(emulator)) == 0
    assert not found
