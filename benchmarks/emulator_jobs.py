"""What a job costs the local Studio emulator: the simulated executor against the local one, side by side.

Run with ``make bench`` (or ``python benchmarks/emulator_jobs.py --jobs 1000 --local-jobs 20``). For each
executor it submits jobs through :class:`StudioClient` over real HTTP, waits until every one finished, and
reports submission throughput, how late the last job finished after its nominal duration, and how much the
process's memory grew per job. The ratios at the end compare the two executors measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import psutil

from studio_provider.client import JobStatus, StudioClient, StudioConfig
from studio_provider.emulator import EmulatorConfig, EmulatorServer

TOKEN = "bench-token-0123456789"
TEAM = "bench"
DURATION = 1.0


@dataclass
class Result:
    executor: str
    jobs: int
    submit_seconds: float
    complete_seconds: float
    rss_growth_bytes: int
    cpu_seconds: float

    @property
    def submit_rate(self) -> float:
        return self.jobs / self.submit_seconds

    @property
    def lateness(self) -> float:
        # Every job lasts DURATION: what the wait took beyond submission plus that is queueing overhead.
        return self.complete_seconds - self.submit_seconds - DURATION

    @property
    def cpu_ms_per_job(self) -> float:
        return 1000 * self.cpu_seconds / self.jobs

    @property
    def bytes_per_job(self) -> float:
        return self.rss_growth_bytes / self.jobs


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of this process (client and in-process emulator) and of its finished job processes."""
    t = process.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def run(executor: str, jobs: int, timeout: float) -> Result:
    process = psutil.Process(os.getpid())
    config = EmulatorConfig(tokens={TOKEN: [TEAM]}, executor=executor, data_dir=None)  # type: ignore[arg-type]
    with EmulatorServer(config) as server:
        client = StudioClient(StudioConfig.resolve(url=server.url, token=TOKEN, team=TEAM))
        if executor == "local":
            query, kind = f"import time; time.sleep({DURATION})", "PYTHON"
        else:
            query, kind = "simulated", "PYTHON"
        env = {"STUDIO_EMULATOR_DURATION": DURATION, "STUDIO_EMULATOR_LOG_LINES": 2}
        rss_before = process.memory_info().rss
        cpu_before = _cpu(process)
        started = time.perf_counter()
        ids = [client.create_job(query=query, query_type=kind, environment=env).id for _ in range(jobs)]
        submitted = time.perf_counter() - started
        deadline = time.monotonic() + timeout
        while True:
            done = client.list_jobs(status=[s.value for s in JobStatus if s.is_terminal], limit=jobs)
            if len(done) >= jobs:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{executor}: only {len(done)} of {jobs} jobs finished within {timeout}s")
            time.sleep(0.05)
        completed = time.perf_counter() - started
        rss_after = process.memory_info().rss
        cpu = _cpu(process) - cpu_before
        failed = [job.id for job in done if not job.status.is_success]
        if failed or {job.id for job in done} != set(ids):
            raise SystemExit(f"{executor}: unexpected outcome, failed={failed[:3]}")
        client.close()
    return Result(executor, jobs, submitted, completed, rss_after - rss_before, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000, help="simulated jobs")
    parser.add_argument("--local-jobs", type=int, default=20, help="jobs run as real processes")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    os.environ.setdefault("TMPDIR", tempfile.gettempdir())

    results = [run("simulated", args.jobs, args.timeout), run("local", args.local_jobs, args.timeout)]
    header = f"{'executor':<10} {'jobs':>6} {'submit/s':>9} {'all done s':>11} {'late by s':>10}"
    print(f"{header} {'CPU ms/job':>11} {'KiB/job':>8}")
    for r in results:
        print(
            f"{r.executor:<10} {r.jobs:>6} {r.submit_rate:>9.1f} {r.complete_seconds:>11.2f} "
            f"{r.lateness:>10.2f} {r.cpu_ms_per_job:>11.1f} {r.bytes_per_job / 1024:>8.1f}"
        )
    simulated, local = results
    print(f"CPU per job: local / simulated = {local.cpu_ms_per_job / simulated.cpu_ms_per_job:.1f}x")
    print(f"submission rate: simulated / local = {simulated.submit_rate / local.submit_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
