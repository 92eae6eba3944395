"""Waiting for Studio jobs end to end, through Airflow's own triggerers (``make bench-e2e``).

The production-shaped stack of ``tools/production_stack.py`` (PostgreSQL, Redis, the CeleryExecutor with two
workers, two triggerers with Airflow's default settings) runs beside the Studio emulator, served over TLS in
its own process with the simulated executor (``benchmarks/tls_emulator.py``, as ``wait_bench.py`` does).
One DAG per mode maps ``StudioRunJobOperator(deferrable=True)`` over N tasks (default 500), the WebSocket
mode (``use_websocket=True``) and the polling mode (``use_websocket=False``); each phase is one DAG run:

1. ``ws`` and ``poll``: the N tasks start on the Celery workers, create their job and defer. Each job's
   duration is set when its task renders its templates so that every job ends after all N wait (the ramp
   budget plus ``--hold`` seconds after the run was triggered), the ends spread over ``--spread`` seconds.
   While all N wait, each triggerer's process tree (the triggerer, its trigger runner and its log server)
   is sampled for RSS and CPU, and its idle baseline is subtracted.
   Before each phase both triggerers are restarted, warmed up (a small run of the provider's triggers on
   each) and measured idle.
2. ``ws-kill`` and ``poll-kill``: the same, and halfway through the wait the triggerer holding the most
   triggers is killed (``kill -9`` of its process group); the other one takes the triggers over after
   Airflow's health-check threshold. The killed one is started again after the phase.

For every task: its Studio jobs (by the job name, which carries the phase and the map index), the job's
``finished_at`` (the emulator's record), the trigger's "Trigger fired event" time (its log line in the
task's trigger log), the resumed task's first log line, and the task instance's ``end_date`` (PostgreSQL):
our part is job end to trigger event; Airflow's part is trigger event to task success, itself split into
the time until the resumed task runs (scheduler, Celery) and the resumed run (DAG parse and
``execute_complete``, which reads the job once more).

    python benchmarks/e2e_wait_bench.py                  # N = 500, both modes, with the kill phases
    python benchmarks/e2e_wait_bench.py --tasks 100      # a quicker run
    python benchmarks/e2e_wait_bench.py --tasks 1000 --modes ws --no-kill
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from wait_bench import TEAM, TOKEN, TlsEmulator, make_certificates, raise_fd_limit  # noqa: E402

from tools.local_studio import interrupt_on_sigterm  # noqa: E402
from tools.production_stack import ProductionStack  # noqa: E402

MODES = {"ws": "WebSocket", "poll": "polling"}
DAG_PREFIX = "e2e_wait_"
WARMUP_DAG = DAG_PREFIX + "warmup"
WARMUP_TASKS = 8

DAG_TEMPLATE = '''
"""The end-to-end wait benchmark's DAG ({mode}): {tasks} deferrable Studio job tasks."""
from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator


def seconds_until(end_at, spread, index, count):
    """The job's duration so that it ends at end_at + spread * index / count (at least 1 s)."""
    return "%.3f" % max(1.0, float(end_at) + float(spread) * int(index) / int(count) - time.time())


with DAG(
    "{dag_id}",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks={tasks},
    user_defined_macros={{"seconds_until": seconds_until}},
) as dag:
    StudioRunJobOperator.partial(
        task_id="wait",
        query_name="e2e-{{{{ run_id }}}}-{{{{ ti.map_index }}}}.py",
        environment={{
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": (
                "{{{{ seconds_until(dag_run.conf['end_at'], dag_run.conf['spread'], ti.map_index, {tasks}) }}}}"
            ),
            "STUDIO_EMULATOR_LOG_LINES": "0",
        }},
        deferrable=True,
        use_websocket={websocket},
        poll_interval={poll_interval},
        timeout=7200,
        retries=0,
    ).expand(query=["print('e2e wait %d')" % index for index in range({tasks})])
'''


# ---- measuring the triggerers ------------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (the triggerer, its trigger runner, its log server)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_usage(pid: int) -> tuple[int, float]:
    """(RSS bytes, CPU seconds) summed over the process tree."""
    rss = 0
    cpu = 0.0
    for process in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            rss += process.memory_info().rss
            times = process.cpu_times()
            cpu += times.user + times.system + times.children_user + times.children_system
    return rss, cpu


@dataclass
class Window:
    """RSS and CPU of each triggerer over a window: RSS sampled, CPU as the delta of the window."""

    started: float
    cpu_start: dict[str, float]
    rss: dict[str, list[int]] = field(default_factory=dict)
    cpu_end: dict[str, float] = field(default_factory=dict)
    ended: float = 0.0

    @classmethod
    def open(cls, pids: dict[str, int]) -> Window:
        usage = {name: tree_usage(pid) for name, pid in pids.items()}
        return cls(time.monotonic(), {n: u[1] for n, u in usage.items()}, {n: [u[0]] for n, u in usage.items()})

    def sample(self, pids: dict[str, int]) -> None:
        for name, pid in pids.items():
            rss, cpu = tree_usage(pid)
            self.rss.setdefault(name, []).append(rss)
            self.cpu_end[name] = cpu
        self.ended = time.monotonic()

    def figures(self) -> dict[str, dict[str, float]]:
        seconds = max(1e-6, self.ended - self.started)
        return {
            name: {
                "rss_bytes": float(statistics.median(samples[len(samples) // 2 :])),  # the later half: settled
                "cpu_percent": 100.0 * (self.cpu_end.get(name, self.cpu_start[name]) - self.cpu_start[name]) / seconds,
                "seconds": seconds,
            }
            for name, samples in self.rss.items()
        }


# ---- one phase -------------------------------------------------------------------------------------------


def _utc(value: Any) -> float:
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def spread_of(values: list[float]) -> dict[str, float | None]:
    return {"p50": _pct(values, 0.5), "p99": _pct(values, 0.99), "max": max(values) if values else None}


class Bench:
    def __init__(self, args: argparse.Namespace, stack: ProductionStack, studio: TlsEmulator, ca: str) -> None:
        self.args = args
        self.stack = stack
        self.studio = studio
        self.ca = ca
        self.idle: dict[str, dict[str, float]] = {}
        #: The ramp budget of the next phase: the flag's estimate first, then what the last phase took.
        self.ramp_budget = max(90.0, args.tasks * args.ramp_per_task)

    def triggerer_pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.stack.processes.items() if name.startswith("triggerer-")}

    def held(self) -> dict[str, int]:
        """Triggers assigned to each triggerer (by name)."""
        rows = dict(self.stack.rows("select triggerer_id, count(*) from trigger group by triggerer_id"))
        return {name: int(rows.get(job_id, 0)) for name, job_id in self.stack.triggerer_ids.items()}

    def studio_get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.studio.url}{path}", params=params, headers={"Authorization": f"Bearer {TOKEN}"},
                             verify=self.ca, timeout=120)
        response.raise_for_status()
        return response.json()

    def studio_requests(self) -> int:
        counters = self.studio_get("/_emulator/counters")
        return sum(int(v["total"]) for k, v in counters["routes"].items() if "/_emulator" not in k)

    def fresh_triggerers(self, phase: str) -> None:
        """Both triggerers stopped (SIGTERM) and started again, warmed up, and their idle baseline taken:
        each phase's memory is measured on fresh processes (a Python process keeps the heap an earlier
        phase grew, which would blur the next phase's growth either way)."""
        for name in sorted(self.triggerer_pids()):
            self.stack.kill(name, signal.SIGTERM)
            self.stack.restart(name)
        self.warm_up(phase)
        self.measure_idle()

    def warm_up(self, phase: str) -> None:
        """Short runs of a small DAG until every triggerer has run triggers of this provider, so the idle
        baseline includes the provider's code (imported once per triggerer) and the figures per task
        are what each more wait adds."""
        ran: set[str] = set()
        names = {job_id: name for name, job_id in self.stack.triggerer_ids.items()}
        for attempt in range(1, 7):
            run_id = f"warm-up-{phase}-{attempt}"
            with self.stack.client() as api:
                api.post(f"/api/v2/dags/{WARMUP_DAG}/dagRuns", json={
                    "dag_run_id": run_id, "logical_date": None, "conf": {"end_at": time.time() + 15, "spread": 5},
                }).raise_for_status()
            deadline = time.monotonic() + 300
            while sum(self.states(WARMUP_DAG, run_id).get(s, 0) for s in ("success", "failed")) < WARMUP_TASKS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the warm-up run {run_id} did not finish")
                time.sleep(2)
            folder = self.stack.home / "logs" / f"dag_id={WARMUP_DAG}" / f"run_id={run_id}"
            for path in folder.rglob("*.log.trigger.*.log"):
                ran.add(names.get(int(path.name.rsplit(".trigger.", 1)[1].split(".")[0]), "?"))
            if set(self.stack.triggerer_ids) <= ran:
                break
        print(f"  warm-up: {attempt} run(s); triggerers that ran triggers: {sorted(ran)}", file=sys.stderr, flush=True)
        time.sleep(10)

    def measure_idle(self) -> None:
        """Each triggerer's RSS and CPU with no trigger at all (the baseline subtracted later)."""
        pids = self.triggerer_pids()
        window = Window.open(pids)
        end = time.monotonic() + self.args.idle_seconds
        while time.monotonic() < end:
            time.sleep(1)
            window.sample(pids)
        self.idle = window.figures()
        print("  idle: " + ", ".join(
            f"{name} {v['rss_bytes'] / 2**20:.0f} MiB, {v['cpu_percent']:.2f} % CPU" for name, v in self.idle.items()
        ), file=sys.stderr, flush=True)

    def states(self, dag_id: str, run_id: str) -> dict[str, int]:
        rows = self.stack.rows(
            "select state, count(*) from task_instance where dag_id = %s and run_id = %s group by state",
            (dag_id, run_id),
        )
        return {str(state): int(count) for state, count in rows}

    def run_phase(self, mode: str, kill: bool) -> dict[str, Any]:
        args = self.args
        n = args.tasks
        phase = f"{mode}-kill" if kill else mode
        dag_id = DAG_PREFIX + mode
        self.fresh_triggerers(phase)
        idle = dict(self.idle)
        requests_before = self.studio_requests()
        ramp_budget = self.ramp_budget
        triggered = time.time()
        end_at = triggered + ramp_budget + args.hold
        with self.stack.client() as api:
            answer = api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={
                "dag_run_id": phase, "logical_date": None, "conf": {"end_at": end_at, "spread": args.spread},
            })
            answer.raise_for_status()
        print(f"  {phase}: triggered; first job ends in {end_at - time.time():.0f} s", file=sys.stderr, flush=True)

        # Until all N are deferred and every trigger is running in a triggerer.
        deadline = time.monotonic() + ramp_budget + args.hold + 600
        while True:
            self.stack.check_alive()
            states = self.states(dag_id, phase)
            held = self.held()
            if states.get("deferred", 0) == n and sum(held.values()) == n:
                break
            if states.get("failed") or states.get("upstream_failed"):
                raise RuntimeError(f"{phase}: tasks failed before all deferred: {states}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{phase}: not all tasks deferred in time: {states}, held {held}")
            time.sleep(2)
        all_deferred = time.time()
        ramp = all_deferred - triggered
        self.ramp_budget = max(60.0, 1.3 * ramp + 30)
        print(f"  {phase}: all {n} deferred after {ramp:.0f} s; held {held}", file=sys.stderr, flush=True)

        # While all wait: settle (sockets open, first reads), then sample until just before the first end.
        time.sleep(args.settle)
        pids = self.triggerer_pids()
        window = Window.open(pids)
        window_end = end_at - 2
        kill_at = window.started + (window_end - time.time()) / 2 if kill else None
        killed: dict[str, Any] = {}
        held_in_window = self.held()
        while time.time() < window_end:
            time.sleep(2)
            if kill_at is not None and not killed and time.monotonic() >= kill_at:
                victim = max(held_in_window, key=lambda name: held_in_window[name])
                window.sample(pids)
                before = window.figures()
                self.stack.kill(victim)
                killed = {"victim": victim, "held": held_in_window[victim], "at": time.time(), "before": before}
                pids = {name: pid for name, pid in pids.items() if name != victim}
                print(f"  {phase}: killed {victim} holding {held_in_window[victim]}", file=sys.stderr, flush=True)
                continue
            window.sample(pids)
            if killed and "takeover_seconds" not in killed:
                survivor = next(name for name in pids)
                if self.held().get(survivor, 0) == n:
                    killed["takeover_seconds"] = time.time() - killed["at"]
        window_figures = killed.get("before") or window.figures()
        if time.time() > end_at:
            print(f"  {phase}: WARNING: the ramp outlasted the budget; no quiet window", file=sys.stderr)

        # Until the run ends.
        deadline = time.monotonic() + args.spread + 900
        while True:
            states = self.states(dag_id, phase)
            if sum(states.get(s, 0) for s in ("success", "failed", "upstream_failed", "skipped")) == n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{phase}: the run did not finish in time: {states}")
            time.sleep(2)
        finished = time.time()
        if killed:
            self.stack.restart(killed["victim"])
        result = self.collect(phase, dag_id, n)
        result.update({
            "phase": phase, "mode": mode, "kill": kill, "ramp_seconds": ramp, "held": held_in_window,
            "window": window_figures, "killed": {k: v for k, v in killed.items() if k != "before"},
            "phase_seconds": finished - triggered, "idle": idle,
            "studio_requests_per_task": (self.studio_requests() - requests_before) / n,
        })
        # Per deferred task, each triggerer's own baseline subtracted.
        per_task = {}
        for name, figures in window_figures.items():
            count = held_in_window.get(name, 0)
            if count:
                per_task[name] = {
                    "held": count,
                    "rss_kib": (figures["rss_bytes"] - idle[name]["rss_bytes"]) / count / 1024,
                    "cpu_percent_per_1000": (figures["cpu_percent"] - idle[name]["cpu_percent"]) / count * 1000,
                }
        result["per_task"] = per_task
        summary = result["latency"]
        print(
            f"  {phase}: {result['succeeded']}/{n} succeeded, jobs per task {result['jobs_per_task']}, "
            f"ours p50 {summary['ours']['p50']}, Airflow's p50 {summary['airflow']['p50']}, "
            f"{result['phase_seconds']:.0f} s",
            file=sys.stderr, flush=True,
        )
        return result

    def collect(self, phase: str, dag_id: str, n: int) -> dict[str, Any]:
        """Per task: jobs, job end, trigger event, resumed start, task end; the latencies."""
        rows = self.stack.rows(
            "select map_index, state, end_date from task_instance where dag_id = %s and run_id = %s",
            (dag_id, phase),
        )
        tasks = {int(index): (str(state), end) for index, state, end in rows}
        jobs = self.studio_get("/api/datachain/jobs/", team_name=TEAM, limit=10000)
        by_index: dict[int, list[dict[str, Any]]] = {}
        prefix = f"e2e-{phase}-"
        for job in jobs:
            name = str(job.get("query_name") or job.get("name") or "")
            if name.startswith(prefix):
                index = int(name[len(prefix):].split(".py", 1)[0])
                by_index.setdefault(index, []).append(job)
        ours: list[float] = []
        airflow: list[float] = []
        queued: list[float] = []
        resumed: list[float] = []
        total: list[float] = []
        missing_times = 0
        logs = self.stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={phase}" / "task_id=wait"
        for index in range(n):
            state, end = tasks.get(index, ("missing", None))
            found = by_index.get(index, [])
            if state != "success" or len(found) != 1 or not found[0].get("finished_at") or end is None:
                missing_times += state == "success"
                continue
            job_end = _utc(found[0]["finished_at"])
            fired, resume_start = event_times(logs / f"map_index={index}")
            task_end = _utc(end)
            if fired is None or resume_start is None:
                missing_times += 1
                continue
            ours.append(fired - job_end)
            airflow.append(task_end - fired)
            queued.append(resume_start - fired)
            resumed.append(task_end - resume_start)
            total.append(task_end - job_end)
        counts = [len(by_index.get(index, [])) for index in range(n)]
        return {
            "tasks": n,
            "succeeded": sum(1 for state, _ in tasks.values() if state == "success"),
            "jobs_per_task": f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else str(counts[0]),
            "jobs_total": sum(counts),
            "timed": len(total),
            "untimed_successes": missing_times,
            "latency": {
                "ours": spread_of(ours),
                "airflow": spread_of(airflow),
                "airflow_queue": spread_of(queued),
                "airflow_resumed_run": spread_of(resumed),
                "total": spread_of(total),
            },
        }


def event_times(folder: Path) -> tuple[float | None, float | None]:
    """The trigger's "Trigger fired event" time (the last one of the task's trigger logs) and the first
    line the resumed task wrote after it (in the worker's log)."""
    fired: float | None = None
    for path in sorted(folder.glob("attempt=1.log.trigger.*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"Trigger fired event"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    fired = max(fired or 0.0, _utc(json.loads(line)["timestamp"]))
    if fired is None:
        return None, None
    worker = folder / "attempt=1.log"
    if worker.exists():
        for line in worker.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError):
                stamp = _utc(json.loads(line)["timestamp"])
                if stamp > fired:
                    return fired, stamp
    return fired, None


# ---- the report --------------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _lat(row: dict[str, Any], key: str) -> str:
    part = row["latency"][key]
    return f"{_s(part['p50'])} / {_s(part['p99'])} / {_s(part['max'])}"


def markdown(results: list[dict[str, Any]], n: int) -> str:
    def label(row: dict[str, Any]) -> str:
        return MODES[row["mode"]] + (", one triggerer killed" if row["kill"] else "")

    def per_task(row: dict[str, Any], key: str, digits: int) -> str:
        parts = [f"{v[key]:.{digits}f}" for _, v in sorted(row["per_task"].items())]
        return " / ".join(parts) if parts else "-"

    lines = [
        "| | " + " | ".join(label(r) for r in results) + " |",
        "|---|" + "---|" * len(results),
        f"| tasks succeeded (of {n:,}) | " + " | ".join(str(r["succeeded"]) for r in results) + " |",
        "| Studio jobs per task | " + " | ".join(r["jobs_per_task"] for r in results) + " |",
        "| Studio requests + handshakes per task | "
        + " | ".join(f"{r['studio_requests_per_task']:.2f}" for r in results) + " |",
        "| seconds until all deferred | " + " | ".join(f"{r['ramp_seconds']:.0f}" for r in results) + " |",
        "| triggers held while all wait (triggerer-1 / -2) | "
        + " | ".join(" / ".join(str(r["held"][k]) for k in sorted(r["held"])) for r in results) + " |",
        "| RSS per deferred task, KiB (triggerer-1 / -2) | "
        + " | ".join(per_task(r, "rss_kib", 1) + (" (before the kill)" if r["kill"] else "") for r in results)
        + " |",
        "| CPU while all wait, % of a core per 1,000 tasks (triggerer-1 / -2) | "
        + " | ".join(per_task(r, "cpu_percent_per_1000", 1) + (" (before the kill)" if r["kill"] else "")
                     for r in results) + " |",
        "| job end → trigger event (ours), s p50 / p99 / max | " + " | ".join(_lat(r, "ours") for r in results) + " |",
        "| trigger event → task success (Airflow's), s | " + " | ".join(_lat(r, "airflow") for r in results) + " |",
        "| … of which event → resumed task running | " + " | ".join(_lat(r, "airflow_queue") for r in results) + " |",
        "| … of which the resumed run (parse, `execute_complete`) | "
        + " | ".join(_lat(r, "airflow_resumed_run") for r in results) + " |",
        "| job end → task success, s | " + " | ".join(_lat(r, "total") for r in results) + " |",
        "| killed triggerer held / seconds until the survivor held all | "
        + " | ".join(
            f"{r['killed']['held']} / {_s(r['killed'].get('takeover_seconds'))}" if r["killed"] else "-" for r in results
        ) + " |",
        "| phase wall time, s | " + " | ".join(f"{r['phase_seconds']:.0f}" for r in results) + " |",
    ]
    if any(r["window"] and next(iter(r["window"].values()))["seconds"] < 20 for r in results):
        lines.append("")
        lines.append("Some window while all waited was shorter than 20 s: raise --hold or --ramp-per-task.")
    idle = "; ".join(
        f"{r['phase']}: " + ", ".join(
            f"{name} {v['rss_bytes'] / 2**20:.0f} MiB and {v['cpu_percent']:.2f} %" for name, v in sorted(r["idle"].items())
        )
        for r in results
    )
    return "\n".join(lines) + (
        "\n\nBoth triggerers were restarted and warmed up before each phase; their idle baseline (RSS, % of a "
        f"core), subtracted above: {idle}."
    )


def capacity(results: list[dict[str, Any]]) -> list[str]:
    """What one triggerer holds within Airflow's default capacity (1,000) and within 1 GiB, per mode."""
    out = []
    for row in results:
        if row["kill"] or not row["per_task"]:
            continue
        idle_rss = statistics.mean(v["rss_bytes"] for v in row["idle"].values())
        idle_cpu = statistics.mean(v["cpu_percent"] for v in row["idle"].values())
        held = sum(v["held"] for v in row["per_task"].values())
        rss = sum(v["rss_kib"] * v["held"] for v in row["per_task"].values()) / held * 1024
        cpu = sum(v["cpu_percent_per_1000"] * v["held"] for v in row["per_task"].values()) / held
        at_capacity = idle_rss + 1000 * rss
        within = int((2**30 - idle_rss) // rss) if rss > 0 else None
        out.append(
            f"{MODES[row['mode']]}: {rss / 1024:.1f} KiB and {cpu:.1f} % of a core per 1,000 waits; at the default "
            f"capacity of 1,000 waits one triggerer needs about {at_capacity / 2**20:.0f} MiB "
            f"(idle {idle_rss / 2**20:.0f} MiB) and {idle_cpu + cpu:.1f} % of a core; within 1 GiB it holds about "
            + (f"{within:,} waits" if within is not None else "(no growth measured)")
            + (" (more than the default capacity: raise [triggerer] capacity to use it)" if within and within > 1000 else "")
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500, help="N deferred Studio job tasks per phase (500)")
    parser.add_argument("--modes", default="ws,poll", help="comma-separated: ws, poll (both)")
    parser.add_argument("--no-kill", action="store_true", help="leave out the phases with a triggerer killed")
    parser.add_argument("--hold", type=float, default=120.0,
                        help="seconds all N wait together after the ramp budget, before the first job ends (120)")
    parser.add_argument("--ramp-per-task", type=float, default=1.0,
                        help="seconds per task allowed for the N tasks of the first phase to start and defer "
                             "(1.0, at least 90 s); later phases allow 1.3 times what the previous one took")
    parser.add_argument("--spread", type=float, default=30.0, help="the jobs' ends spread over this many seconds (30)")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds after all deferred before the measurement window opens (10)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="the idle baseline's window (30)")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="the polling mode's interval (10)")
    parser.add_argument("--worker-concurrency", type=int, default=8, help="task slots per Celery worker (8)")
    parser.add_argument("--home", type=Path, default=ROOT / "airflow-home" / "bench-e2e",
                        help="the stack's folder (wiped at start; logs stay there after the run)")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.tasks < 1 or any(m not in MODES for m in modes) or not modes:
        raise SystemExit(f"--tasks must be >= 1 and --modes a list of {', '.join(MODES)}")
    problem = raise_fd_limit(4 * args.tasks + 1024)
    if problem:
        raise SystemExit(f"bench-e2e: {problem}")
    interrupt_on_sigterm()
    started = time.monotonic()
    dags = args.home.parent / (args.home.name + "-dags")
    dags.mkdir(parents=True, exist_ok=True)
    for mode in MODES:
        (dags / f"{DAG_PREFIX}{mode}.py").write_text(DAG_TEMPLATE.format(
            mode=mode, dag_id=DAG_PREFIX + mode, tasks=args.tasks, websocket=mode == "ws",
            poll_interval=args.poll_interval,
        ))
    (dags / f"{WARMUP_DAG}.py").write_text(DAG_TEMPLATE.format(
        mode="warm-up", dag_id=WARMUP_DAG, tasks=WARMUP_TASKS, websocket=True, poll_interval=args.poll_interval,
    ))
    print(f"end-to-end wait benchmark: N={args.tasks} per phase, modes {', '.join(modes)}"
          f"{'' if args.no_kill else ', with a triggerer killed'}", file=sys.stderr, flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="studio-e2e-bench-") as tmp:
        ca, cert, key = make_certificates(Path(tmp))
        studio = TlsEmulator(cert, key, ping_interval=30.0, server_ping_interval=20.0)
        try:
            connection = {"conn_type": "datachain_studio", "host": studio.url, "password": TOKEN,
                          "extra": {"team": TEAM, "verify": str(ca)}}
            stack = ProductionStack(
                args.home, dags=dags, studio_url=studio.url, worker_concurrency=args.worker_concurrency,
                wait_for_dags=[WARMUP_DAG, *(DAG_PREFIX + mode for mode in modes)], unpause_at_creation=True,
                settings={"AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT": json.dumps(connection),
                          "AIRFLOW__CORE__PARALLELISM": str(2 * args.worker_concurrency)},
            )
            print("  starting the production-shaped stack ...", file=sys.stderr, flush=True)
            with stack:
                print(f"  ready after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
                bench = Bench(args, stack, studio, str(ca))
                phases = [(mode, False) for mode in modes] + ([] if args.no_kill else [(m, True) for m in modes])
                for mode, kill in phases:
                    results.append(bench.run_phase(mode, kill))
        except KeyboardInterrupt:
            print("\ninterrupted; stopped.", file=sys.stderr)
            return 1
        finally:
            studio.stop()
    elapsed = time.monotonic() - started
    table = markdown(results, args.tasks)
    print(table)
    for line in capacity(results):
        print(f"- {line}")
    print(f"\nWall time: {elapsed / 60:.1f} min.")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    out = args.output_dir / "e2e_wait_bench.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "wall_seconds": elapsed}, indent=2, default=str))
    print(f"JSON: {out}")
    failed = [r["phase"] for r in results if r["succeeded"] != args.tasks or r["jobs_per_task"] != "1"]
    if failed:
        print(f"bench-e2e: phases {failed} did not end with every task succeeded and one job each", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
