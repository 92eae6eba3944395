"""The reliability scenarios on the production-shaped stack (``make test-production``): Airflow on
PostgreSQL with the CeleryExecutor (Redis as the broker), two Celery workers and two triggerers, as
separate processes, the emulator in this process.

1. Lost create responses: 30 % of ``POST jobs/`` responses lost after Studio acted, under 20 deferrable
   job tasks running on the two workers at once: one job per task, every task succeeds.
2. A Studio outage: 8 deferred job tasks (half following the WebSocket, cut every 3 frames, half
   polling), then 30 s of 503 for every request and handshake: every task succeeds with all its lines.
3. ``kill -9`` of the triggerer holding the triggers while 4 job tasks and a pipeline task are deferred:
   the other triggerer takes them over; the triggerer is started again afterwards.
4. ``kill -9`` of the whole Celery worker (its process group: the worker, its pool, the task supervisor
   and the task) running a non-deferrable job task: the scheduler notices the lost heartbeat, the retry
   runs on the other worker and reconnects to the same Studio job.
5. The token nowhere in what Airflow wrote (log files, process outputs, the whole PostgreSQL database).

Each records the figures of ``docs/reliability.md``: Studio jobs per task, log lines lost and written
twice, tasks failed. The file name keeps it out of plain ``pytest`` and ``make test`` (it needs Debian's
PostgreSQL and Redis and takes minutes); ``make test-production`` names it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.reliability.airflow_cluster import AirflowCluster, all_text_files, db_dump, log_files, wait_until
from tests.reliability.dag_templates import (
    LOST_DAG_ID,
    LOST_TASKS,
    LOST_WORDS,
    OUTAGE_DAG_ID,
    OUTAGE_TASKS,
    OUTAGE_WORDS,
    RESTART_DAG_ID,
    WORKER_LONG_DAG_ID,
    words,
)
from tests.reliability.helpers import add_token_count, record, request_log, token_occurrences
from tests.reliability.test_triggerer_restart import (
    TASKS as RESTART_TASKS,
)
from tests.reliability.test_triggerer_restart import (
    check_run,
    some_lines_written,
    task_jobs,
)
from tests.reliability.test_worker_crash import task_process
from tests.studio_tasks import studio_lines

pytestmark = [pytest.mark.reliability, pytest.mark.integration, pytest.mark.timeout(600)]


def wait_deferred(cluster: AirflowCluster, dag_id: str, run_id: str, tasks: tuple[str, ...]) -> None:
    def deferred() -> bool:
        states = {task: item["state"] for task, item in cluster.task_instances(dag_id, run_id).items()}
        if any(state in ("failed", "upstream_failed") for state in states.values()):
            raise AssertionError(f"a task failed before the fault: {states}")
        return all(states.get(task) == "deferred" for task in tasks)

    wait_until(deferred, timeout=240, what=f"every task of {run_id} to defer", interval=1.0)


def job_figures(
    cluster: AirflowCluster, emulator: EmulatorServer, dag_id: str, run_id: str, tasks: tuple[str, ...], count: int
) -> dict[str, Any]:
    """Jobs per task, lines lost and written twice (over every try's log), tasks failed."""
    instances = cluster.task_instances(dag_id, run_id)
    jobs_per_task: dict[str, int] = {}
    lost = doubled = moved = before_move = 0
    for task in tasks:
        jobs = task_jobs(emulator, dag_id, run_id, task)
        jobs_per_task[task] = len(jobs)
        if len(jobs) != 1:
            continue
        # A trigger that moved to the other triggerer (Airflow redistributes triggers when one misses
        # its health check) is rebuilt there and writes again what came after its last checkpoint: the
        # known limit of docs/reliability.md, bounded by what the first triggerer wrote.
        parts = [studio_lines(text, jobs[0].id) for name, text in log_files(cluster, dag_id, run_id, task).items()
                 if ".trigger." in name]
        parts = [part for part in parts if part]
        # Lost means in no log at all: after triggers moved, Airflow's log view of a task sometimes lacks
        # a triggerer's file that is on disk (its log server is the other triggerer's), so both count.
        on_disk = {line for part in parts for line in part}
        if len(parts) > 1:
            moved += 1
            order = words(task, count)
            last = max(parts, key=lambda part: order.index(part[-1]) if part[-1] in order else -1)
            before_move += sum(len(part) for part in parts if part is not last)
        tries = int(instances[task]["try_number"])
        written = [
            line
            for attempt in range(1, tries + 1)
            for line in studio_lines(cluster.task_log(dag_id, run_id, task, try_number=attempt), jobs[0].id)
        ]
        expected = words(task, count)
        lost += len(set(expected) - set(written) - on_disk)
        doubled += len(written) - len(set(written))
    return {
        "tasks": len(tasks),
        "tasks failed": sum(1 for task in tasks if instances[task]["state"] != "success"),
        "jobs expected": len(tasks),
        "jobs found": sum(jobs_per_task.values()),
        "tasks without exactly one job": sorted(task for task, n in jobs_per_task.items() if n != 1),
        "log lines expected": len(tasks) * count,
        "lost": lost,
        "written twice": doubled,
        "triggers that moved between triggerers": moved,
        "lines written before a move": before_move,
    }


def test_lost_create_responses_through_celery(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    cluster, emulator = airflow_production
    emulator.injector.seed(29)
    path = "/api/datachain/jobs/"
    emulator.injector.add_rule("lose_response", method="POST", path=path, rate=0.15)
    emulator.injector.add_rule("lose_response", method="POST", path=path, rate=0.15 / 0.85, mode="reset")
    run_id = "lost-1"
    started = time.monotonic()
    try:
        cluster.trigger(LOST_DAG_ID, run_id)
        state = cluster.wait_run(LOST_DAG_ID, run_id, timeout=420)
    finally:
        emulator.injector.clear()
    lost = sum(
        1 for e in request_log(emulator) if e["path"] == path and e["method"] == "POST"
        and str(e.get("fault", "")).startswith("lose")
    )
    figures = {"DAG run": state, "create responses lost": lost,
               **job_figures(cluster, emulator, LOST_DAG_ID, run_id, LOST_TASKS, LOST_WORDS),
               "seconds": round(time.monotonic() - started, 1)}
    record("P1 lost create responses (Celery, PostgreSQL)", figures)
    assert lost >= 2, figures  # the fault really hit the creates
    assert state == "success", figures
    assert figures["jobs found"] == len(LOST_TASKS) and not figures["tasks without exactly one job"], figures
    assert figures["lost"] == 0 and figures["written twice"] <= figures["lines written before a move"], figures


def test_studio_outage_while_tasks_are_deferred(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    cluster, emulator = airflow_production
    run_id = "outage-1"
    cluster.trigger(OUTAGE_DAG_ID, run_id)
    wait_deferred(cluster, OUTAGE_DAG_ID, run_id, OUTAGE_TASKS)

    def lines_flowing() -> bool:
        for task in OUTAGE_TASKS:
            jobs = task_jobs(emulator, OUTAGE_DAG_ID, run_id, task)
            if len(jobs) != 1 or len(emulator.call(lambda job=jobs[0]: list(job.logs))) < 2:
                return False
        return True

    wait_until(lines_flowing, timeout=60, what="every job to print its first lines")
    emulator.injector.add_rule("ws_disconnect", method="WS", path="/api/logs/follow/*", after_frames=3)
    emulator.injector.add_rule("outage", seconds=30.0)
    outage_start = time.monotonic()
    try:
        state = cluster.wait_run(OUTAGE_DAG_ID, run_id, timeout=420)
    finally:
        emulator.injector.clear()
    refused = sum(1 for e in request_log(emulator) if str(e.get("fault", "")).startswith("outage"))
    figures = {"DAG run": state, "requests refused by the outage": refused,
               **job_figures(cluster, emulator, OUTAGE_DAG_ID, run_id, OUTAGE_TASKS, OUTAGE_WORDS),
               "seconds from the outage to the run's end": round(time.monotonic() - outage_start, 1)}
    record("P2 Studio outage of 30 s (Celery, PostgreSQL)", figures)
    assert refused > 0, figures
    assert state == "success", figures
    assert figures["jobs found"] == len(OUTAGE_TASKS) and not figures["tasks without exactly one job"], figures
    assert figures["lost"] == 0 and figures["written twice"] <= figures["lines written before a move"], figures


def test_kill_9_the_triggerer_holding_the_triggers(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    cluster, emulator = airflow_production
    run_id = "restart-production"
    cluster.trigger(RESTART_DAG_ID, run_id)
    wait_deferred(cluster, RESTART_DAG_ID, run_id, RESTART_TASKS)
    wait_until(lambda: some_lines_written(emulator, run_id), timeout=60, what="the first log lines")

    def holders() -> dict[int, int]:
        rows = cluster.rows("select triggerer_id, count(*) from trigger group by triggerer_id")
        return {int(triggerer): int(count) for triggerer, count in rows if triggerer is not None}

    held = wait_until(holders, timeout=30, what="the triggers to be assigned")
    ids = dict(cluster.triggerer_ids)
    victim = max(ids, key=lambda name: held.get(ids[name], 0))
    survivor = next(name for name in ids if name != victim)
    cluster.kill(victim)
    killed_at = time.monotonic()
    figures = check_run(cluster, emulator, run_id, killed=f"{victim} of two (kill -9 of its process group)")
    figures["seconds from kill to DAG run end"] = round(time.monotonic() - killed_at, 1)
    figures["triggers held by the killed triggerer"] = held.get(ids[victim], 0)
    figures["triggers held by the survivor before"] = held.get(ids[survivor], 0)
    figures["tasks failed"] = sum(
        1 for item in cluster.task_instances(RESTART_DAG_ID, run_id).values() if item["state"] != "success"
    )
    record("P3 two triggerers, the one holding the triggers killed (Celery, PostgreSQL)", figures)
    assert cluster.processes[survivor].poll() is None
    assert held.get(ids[victim], 0) > 0
    cluster.restart(victim)  # two triggerers again for what follows


def worker_of(cluster: AirflowCluster, pid: int) -> str | None:
    """The component (Celery worker) whose process tree holds ``pid``."""
    leaders = {process.pid: name for name, process in cluster.processes.items()}
    while pid > 1:
        if pid in leaders:
            return leaders[pid]
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    return None


def test_kill_9_the_celery_worker_running_a_task(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    cluster, emulator = airflow_production
    run_id = "worker-kill-1"
    cluster.trigger(WORKER_LONG_DAG_ID, run_id)

    def waiting_with_lines() -> str | None:
        item = cluster.task_instances(WORKER_LONG_DAG_ID, run_id)["on_worker"]
        jobs = task_jobs(emulator, WORKER_LONG_DAG_ID, run_id, "on_worker")
        if item["state"] == "running" and jobs and len(emulator.call(lambda: list(jobs[0].logs))) >= 2:
            return str(item["id"])
        return None

    ti_id = wait_until(waiting_with_lines, timeout=180, what="the task to wait on its job")
    pid = wait_until(lambda: task_process(ti_id), timeout=30, what="the task process")
    worker = worker_of(cluster, pid)
    assert worker is not None and worker.startswith("worker-"), (pid, worker)
    cluster.kill(worker)
    killed_at = time.monotonic()
    state = cluster.wait_run(WORKER_LONG_DAG_ID, run_id, timeout=300)
    item = cluster.task_instances(WORKER_LONG_DAG_ID, run_id)["on_worker"]
    jobs = task_jobs(emulator, WORKER_LONG_DAG_ID, run_id, "on_worker")
    second = cluster.task_log(WORKER_LONG_DAG_ID, run_id, "on_worker", try_number=int(item["try_number"]))
    figures = {
        "DAG run": state, "killed": f"{worker} (kill -9 of its process group)", "tries": item["try_number"],
        "seconds from kill to DAG run end": round(time.monotonic() - killed_at, 1),
        **job_figures(cluster, emulator, WORKER_LONG_DAG_ID, run_id, ("on_worker",), 8),
        "job status": jobs[0].status if jobs else None,
    }
    record("P4 Celery worker killed mid-task (Celery, PostgreSQL)", figures)
    cluster.restart(worker)
    assert state == "success", figures
    assert int(item["try_number"]) == 2
    assert len(jobs) == 1 and jobs[0].status == "COMPLETE"
    assert f"Studio job {jobs[0].id} (reconnected)" in second, second[-3000:]
    assert figures["lost"] == 0, figures


def test_no_token_anywhere_airflow_wrote(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    cluster, emulator = airflow_production
    files = all_text_files(cluster)
    dump = db_dump(cluster)
    found = {name: token_occurrences(text) for name, text in files.items() if token_occurrences(text)}
    record(
        "P5 token search (Celery, PostgreSQL)",
        {"files searched": len(files), "task and trigger log files": sum("/logs/dag_id=" in n for n in files),
         "database bytes searched": len(dump), "occurrences": sum(found.values()) + token_occurrences(dump)},
    )
    assert "xcom" in dump and "rendered_task_instance_fields" in dump
    assert add_token_count("P5 production logs and database", *files.values(), dump, request_log(emulator)) == 0
    assert not found


def test_no_component_died(airflow_production: tuple[AirflowCluster, EmulatorServer]) -> None:
    """Every process of the stack is still up after the scenarios (the killed ones were restarted)."""
    cluster, _ = airflow_production
    dead = {name: process.returncode for name, process in cluster.processes.items() if process.poll() is not None}
    assert not dead, dead
