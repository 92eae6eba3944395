"""What waiting for Studio jobs costs: N deferred waits in one process, four designs side by side.

For each design a fresh emulator (simulated executor, over TLS with a certificate made at start) runs in its
own process, N jobs with durations spread uniformly over a window are submitted, and then N waiters run
concurrently in one asyncio event loop in a child process of this script (so each design's memory and CPU
are measured on their own):

(a) ``ws``: the provider's ``StudioJobTrigger``, built from its ``serialize()`` output as the triggerer builds
    it, following each job over the WebSocket;
(b) ``poll``: the same trigger forced to REST polling at ``--poll-interval``;
(c) ``naive``: the reference poller in ``benchmarks/naive_poller.py``: a new HTTP client (and TLS
    handshake) for every poll, at the same interval, as several comparable providers do;
(d) ``ws-stock``: design (a) with ``websockets.asyncio.client.connect`` (over asyncio's TLS) opening each
    socket instead of the provider's own socket: what the provider's socket code buys, side by side.

Per design: HTTP requests and WebSocket handshakes per wait (the emulator's counters), the detection latency
from the emulator's recorded finish time to the waiter's final event (p50, p99, max), peak RSS added per
waiting job, CPU seconds per wait and CPU % of one core while all N wait, and events wrong or missing.
Output: a markdown table on stdout, the same as JSON, and a PNG plot.

    python benchmarks/wait_bench.py                 # N = 2,000, durations 30-90 s, all designs
    python benchmarks/wait_bench.py --jobs 250 --min-duration 5 --max-duration 15 --designs ws,naive
    python benchmarks/wait_bench.py --designs ws --log-lines 3   # what streaming log lines adds
    python benchmarks/wait_bench.py --designs ws --min-duration 150 --max-duration 160   # steady state

By default the jobs print nothing, so the figures are the cost of waiting itself; ``--log-lines`` adds the
cost of following a job's output, which grows with the lines a job prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
TOKEN = "bench-wait-token-5f0c2a"
TEAM = "bench"
CONN_ID = "studio_bench"
DESIGNS = {
    "ws": "(a) StudioJobTrigger, WebSocket",
    "poll": "(b) StudioJobTrigger, polling",
    "poll-logs": "(b') StudioJobTrigger, polling + logs",
    "naive": "(c) naive poller, new client per poll",
    "ws-stock": "(d) StudioJobTrigger, WebSocket, websockets' client as is",
}
#: The designs that follow jobs over the WebSocket: (a) with the provider's socket, (d) with
#: ``websockets.asyncio.client.connect`` (and asyncio's TLS) in its place, nothing else changed.
WEBSOCKET_DESIGNS = ("ws", "ws-stock")
#: Log lines in the task log: the WebSocket brings them for free; polling reads them per job and round
#: (Studio has no endpoint for the logs of many jobs), so (b) follows the status only, as (c) does, and
#: (b') shows what the logs add.
STREAM_LOGS = {"ws": True, "ws-stock": True, "poll": False, "poll-logs": True}


@dataclass
class DesignResult:
    design: str
    jobs: int
    http_requests: int = 0
    ws_handshakes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    rss_added_bytes: int = 0
    cpu_seconds: float = 0.0
    idle_cpu_percent: float = 0.0
    idle_window_seconds: float = 0.0
    idle_window_periods: int = 0
    wrong_or_missing: int = 0
    wait_seconds: float = 0.0
    emulator_cpu_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, round(p * (len(lat) - 1)))]

        n = max(1, self.jobs)
        return {
            "design": self.design,
            "label": DESIGNS[self.design],
            "jobs": self.jobs,
            "requests_per_wait": self.http_requests / n,
            "ws_handshakes_per_wait": self.ws_handshakes / n,
            "latency_p50_ms": pct(0.50),
            "latency_p99_ms": pct(0.99),
            "latency_max_ms": lat[-1] if lat else None,
            "rss_kib_per_wait": self.rss_added_bytes / n / 1024,
            "cpu_ms_per_wait": 1000 * self.cpu_seconds / n,
            # No window (all waits began after the first job ended): nothing measured, not 0 %.
            "idle_cpu_percent": self.idle_cpu_percent if self.idle_window_seconds else None,
            "idle_window_seconds": self.idle_window_seconds,
            "idle_window_periods": self.idle_window_periods,
            "wrong_or_missing": self.wrong_or_missing,
            "wait_seconds": self.wait_seconds,
            "emulator_cpu_seconds": self.emulator_cpu_seconds,
            "notes": self.notes,
        }


# ---- process-level helpers -----------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> str | None:
    """Raise the soft open-files limit to ``needed`` if the hard limit allows; else say what to do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return None
    return (
        f"the open-files limit is {soft} (hard {hard}) but {needed} are needed for this N: "
        f"raise it (ulimit -n {needed}) or lower --jobs"
    )


def use_connection(url: str, ca: str) -> None:
    """Point the benchmark's Airflow connection (an ``AIRFLOW_CONN_`` variable) at the emulator."""
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
        {"conn_type": "datachain_studio", "host": url, "password": TOKEN, "extra": {"team": TEAM, "verify": ca}}
    )


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost: (ca.pem, server.pem, server.key)."""
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca.cert_pem.write_to_path(str(ca_path))
    server.private_key_pem.write_to_path(str(key_path))
    with cert_path.open("wb") as out:
        for blob in server.cert_chain_pems:
            out.write(blob.bytes())
    return ca_path, cert_path, key_path


class TlsEmulator:
    """The emulator in its own process (``benchmarks/tls_emulator.py``)."""

    def __init__(self, cert: Path, key: Path, ping_interval: float, server_ping_interval: float = 20.0) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "tls_emulator.py"),
                "--certfile",
                str(cert),
                "--keyfile",
                str(key),
                "--token",
                TOKEN,
                "--team",
                TEAM,
                "--ws-ping-interval",
                str(ping_interval),
                "--server-ping-interval",
                str(server_ping_interval),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("https://"):
            self.stop()
            raise RuntimeError(f"the TLS emulator did not start (it printed {line!r})")
        self.url = line
        self.api_url = f"{line}/api"

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.process.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


# ---- one design, in a child process --------------------------------------------------------------------


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _submit(
    api_url: str, ca: str, n: int, low: float, high: float, seed: int, log_lines: int = 0
) -> tuple[list[str], float]:
    """Submit ``n`` simulated jobs; return their ids and when the first of them is due to finish."""
    rng = random.Random(seed)
    durations = [rng.uniform(low, high) for _ in range(n)]
    due: list[float] = []
    sem = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=api_url + "/", headers=headers, verify=ca, timeout=60) as client:

        async def one(i: int) -> str:
            async with sem:
                env = f"STUDIO_EMULATOR_DURATION={durations[i]:.3f}\nSTUDIO_EMULATOR_LOG_LINES={log_lines}"
                body = {
                    "query": "print('bench')",
                    "query_type": "PYTHON",
                    "query_name": f"bench-{i}",
                    "environment": env,
                    "team_name": TEAM,
                }
                response = await client.post("datachain/jobs/", json=body)
                response.raise_for_status()
                due.append(time.time() + durations[i])
                return str(response.json()["id"])

        ids = list(await asyncio.gather(*(one(i) for i in range(n))))
    return ids, min(due)


async def _admin(api_url: str, ca: str, method: str, path: str) -> Any:
    base = api_url.rsplit("/api", 1)[0]
    async with httpx.AsyncClient(verify=ca, timeout=60) as client:
        response = await client.request(
            method, f"{base}/_emulator/{path}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        response.raise_for_status()
        return response.json() if response.content else None


async def _true_final(api_url: str, ca: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    sem = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=api_url + "/", headers=headers, verify=ca, timeout=60) as client:

        async def one(job_id: str) -> dict[str, Any]:
            async with sem:
                response = await client.get("datachain/jobs/", params={"job_id": job_id, "team_name": TEAM})
                response.raise_for_status()
                return dict(response.json()[0])

        jobs = await asyncio.gather(*(one(i) for i in ids))
    return {str(job["id"]): job for job in jobs}


def _count_connects(stock: bool) -> list[int]:
    """Count the follower's completed WebSocket connections (TLS and WebSocket handshakes done), and for
    design (d) open them with ``websockets``' own client.

    The emulator counts a WebSocket only when it closes, and a socket is open in the kernel before its
    handshakes end: to open the CPU window after the connection burst, this wraps the follower's opener
    (measurement only; the socket it opens is the one the follower would open).
    """
    from studio_provider.client.waiting import follower, socket

    count = [0]
    opener = socket.open_stock_socket if stock else socket.open_lean_socket

    async def counted(*args: Any, **kwargs: Any) -> Any:
        connection = await opener(*args, **kwargs)
        count[0] += 1
        return connection

    follower.open_lean_socket = counted  # type: ignore[assignment]
    return count


async def _first_contacts(api_url: str, ca: str, design: str) -> int:
    """How many job reads the emulator has answered."""
    counters = await _admin(api_url, ca, "GET", "counters")
    return sum(int(v["total"]) for k, v in counters["routes"].items() if k.startswith("GET /api/datachain/jobs"))


def _provider_waiter(
    job_id: str, use_websocket: bool, poll_interval: float, deadline: float, stream_logs: bool = True
) -> Any:
    """A ``StudioJobTrigger`` rebuilt from its ``serialize()`` output, as the triggerer rebuilds it."""
    import importlib

    from studio_provider.triggers.job import StudioJobTrigger

    original = StudioJobTrigger(
        studio_conn_id=CONN_ID,
        job_id=job_id,
        deadline=deadline,
        poll_interval=poll_interval,
        use_websocket=use_websocket,
        stream_logs=stream_logs,
    )
    classpath, kwargs = original.serialize()
    module, _, name = classpath.rpartition(".")
    # The triggerer stores the kwargs in its database: only what survives JSON comes back.
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


async def _run_waiters(
    args: argparse.Namespace, api_url: str, ca: str, ids: list[str], first_finish: float
) -> DesignResult:
    from naive_poller import naive_wait

    proc = psutil.Process()
    result = DesignResult(design=args.run_design, jobs=len(ids))
    events: dict[str, dict[str, Any]] = {}
    deadline = time.time() + args.max_duration + 600

    async def provider(job_id: str, use_websocket: bool) -> None:
        trigger = _provider_waiter(
            job_id, use_websocket, args.poll_interval, deadline, STREAM_LOGS[args.run_design]
        )
        gen = trigger.run()
        try:
            event = await gen.__anext__()
        finally:
            await gen.aclose()
        payload = dict(event.payload)
        payload["time"] = time.time()
        events[job_id] = payload

    async def naive(job_id: str) -> None:
        events[job_id] = await naive_wait(
            api_url, TOKEN, TEAM, job_id, interval=args.poll_interval, verify=ca
        )

    def waiter(job_id: str) -> Any:
        if args.run_design == "naive":
            return naive(job_id)
        return provider(job_id, use_websocket=args.run_design in WEBSOCKET_DESIGNS)

    gc.collect()
    websocket = args.run_design in WEBSOCKET_DESIGNS
    connected = _count_connects(stock=args.run_design == "ws-stock") if websocket else [0]
    rss_before = proc.memory_info().rss
    cpu_before = _cpu(proc)
    peak = rss_before
    started = time.time()
    tasks = [asyncio.create_task(waiter(job_id)) for job_id in ids]
    # Counted as they end rather than by scanning N tasks four times a second: the monitoring loop is
    # inside the measured process, so it must cost next to nothing.
    finished = [0]

    def count(_: asyncio.Task[None]) -> None:
        finished[0] += 1

    for task in tasks:
        task.add_done_callback(count)
    all_started_at: float | None = None
    idle: tuple[float, float] | None = None  # (cpu, time) when the quiet window began
    samples: list[tuple[float, float]] = []  # (time, cpu) at each turn of this loop once it began
    last_progress = last_check = 0.0
    while True:
        done = finished[0]
        now = time.time()
        peak = max(peak, proc.memory_info().rss)
        if all_started_at is None and now - started > args.settle and now - last_check >= 1:
            # The window opens once every waiter made its first contact (all sockets open, all first
            # reads answered), not during the connection burst.
            last_check = now
            if websocket:
                # Every socket is open (TLS and WebSocket handshakes done): the connection burst is over.
                ready = connected[0] >= len(ids)
            else:
                needed = 1 if args.run_design.startswith("poll") else len(ids)
                ready = await _first_contacts(api_url, ca, args.run_design) >= needed
            if ready:
                all_started_at = time.time() + 1
        if all_started_at is not None and idle is None and now >= all_started_at:
            idle = (_cpu(proc), now)
        if idle is not None and result.idle_window_seconds == 0.0:
            samples.append((now, _cpu(proc)))
            if done > 0 or now >= first_finish:
                _close_window(result, idle, samples, args.keepalive_period)
        if now - last_progress >= 1 and not args.quiet:
            print(f"\r  {args.run_design}: {done}/{len(ids)} waits done, {now - started:5.0f} s", end="",
                  file=sys.stderr, flush=True)
            last_progress = now
        if done == len(tasks):
            break
        if now - started > args.max_duration + 900:
            result.notes.append("gave up waiting: some waiters never finished")
            break
        await asyncio.sleep(0.25)
    if not args.quiet:
        print(file=sys.stderr)
    for task in tasks:
        if not task.done():
            task.cancel()
        elif task.exception() is not None:
            result.notes.append(f"waiter failed: {task.exception()!r}"[:300])
    result.wait_seconds = time.time() - started
    result.cpu_seconds = _cpu(proc) - cpu_before
    result.rss_added_bytes = peak - rss_before
    result.notes = result.notes[:5]

    counters = await _admin(api_url, ca, "GET", "counters")
    for key, value in counters["routes"].items():
        if key.startswith("WS "):
            result.ws_handshakes += int(value["total"])
        elif "/_emulator" not in key:
            result.http_requests += int(value["total"])
    truth = await _true_final(api_url, ca, ids)
    for job_id in ids:
        event = events.get(job_id)
        job = truth[job_id]
        if event is None or str(event.get("status")) != str(job["status"]):
            result.wrong_or_missing += 1
            continue
        if job.get("finished_at"):
            result.latencies_ms.append(1000 * (float(event["time"]) - _parse_time(job["finished_at"])))
    return result


def keepalive_period(args: argparse.Namespace) -> float:
    """Seconds after which the server's keep-alives repeat on every socket: the least common multiple of
    its WebSocket ping interval and its ``{"type": "ping"}`` interval (60 s for the defaults 20 and 30)."""
    a = Fraction(str(args.server_ping_interval)).limit_denominator(1000)
    b = Fraction(str(args.ws_ping_interval)).limit_denominator(1000)
    return float(Fraction(math.lcm(a.numerator, b.numerator), math.gcd(a.denominator, b.denominator)))


def _close_window(result: DesignResult, idle: tuple[float, float], samples: list[tuple[float, float]],
                  period: float) -> None:
    """CPU % over the quiet window; over whole keep-alive periods when it holds at least one.

    The server sends each socket's keep-alives at fixed intervals, and sockets opened together get them
    in bursts (all 2,000 pings within a few seconds). A window of any length may then hold one burst more
    or less than its share, which moved the figure by a fifth between runs; a whole number of periods
    holds exactly the keep-alives of the steady state, wherever it begins.
    """
    cpu0, t0 = idle
    t1, cpu1 = samples[-1]
    periods = int((t1 - t0) // period) if period > 0 else 0
    if periods >= 1:
        end = t0 + periods * period
        # The last sample at or before the end of the last whole period (samples are 0.25 s apart).
        t1, cpu1 = max((sample for sample in samples if sample[0] <= end + 1e-6), key=lambda sample: sample[0])
        result.idle_window_periods = periods
    if t1 - t0 > 1:
        result.idle_window_seconds = t1 - t0
        result.idle_cpu_percent = 100 * (cpu1 - cpu0) / (t1 - t0)


def run_design(args: argparse.Namespace) -> int:
    """Child-process entry: submit, wait with one design, print the result as JSON on stdout."""
    logging.basicConfig(filename=args.log_file, level=logging.INFO)
    api_url, ca = args.api_url, args.ca
    use_connection(args.api_url.rsplit("/api", 1)[0], ca)
    sys.path.insert(0, str(HERE))
    if args.run_design != "naive":
        import studio_provider.triggers.job  # noqa: F401  (imported before the baseline is taken)

    async def main() -> DesignResult:
        ids, first_finish = await _submit(
            api_url, ca, args.jobs, args.min_duration, args.max_duration, args.seed, args.log_lines
        )
        await _admin(api_url, ca, "POST", "observations/reset")
        return await _run_waiters(args, api_url, ca, ids, first_finish)

    result = asyncio.run(main())
    print(json.dumps(asdict(result)))
    return 0


# ---- the orchestrator ----------------------------------------------------------------------------------


def markdown_table(rows: list[dict[str, Any]]) -> str:
    def f(value: Any, digits: int = 1) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    lines = [
        "| design | requests/wait | WS handshakes/wait | latency p50 ms | p99 ms | max ms "
        "| RSS KiB/wait | CPU ms/wait | CPU % while all wait | wrong or missing |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | {f(r['requests_per_wait'], 2)} | {f(r['ws_handshakes_per_wait'], 2)} "
            f"| {f(r['latency_p50_ms'])} | {f(r['latency_p99_ms'])} | {f(r['latency_max_ms'])} "
            f"| {f(r['rss_kib_per_wait'])} | {f(r['cpu_ms_per_wait'], 2)} | {f(r['idle_cpu_percent'], 2)} "
            f"| {r['wrong_or_missing']} |"
        )
    return "\n".join(lines)


def stock_ratios(by: dict[str, dict[str, Any]]) -> str | None:
    """(a) against (d), column by column: what the provider's own socket buys over websockets' client."""
    lean, stock = by.get("ws"), by.get("ws-stock")
    if lean is None or stock is None:
        return None
    parts = []
    for key, what in (
        ("latency_p99_ms", "p99 latency"),
        ("rss_kib_per_wait", "RSS per wait"),
        ("cpu_ms_per_wait", "CPU per wait"),
        ("idle_cpu_percent", "CPU while all wait"),
    ):
        if lean.get(key) and stock.get(key):
            parts.append(f"{what} {stock[key] / lean[key]:.2f}x")
    return f"{DESIGNS['ws-stock']} / {DESIGNS['ws']}: " + ", ".join(parts)


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    by = {r["design"]: r for r in rows}
    naive = by.get("naive")
    out = []
    stock = stock_ratios(by)
    if stock:
        out.append(stock)
    if naive is None:
        return out
    for name in ("ws", "poll"):
        r = by.get(name)
        if r is None:
            continue
        parts = []
        mine = r["requests_per_wait"] + r["ws_handshakes_per_wait"]
        if mine:
            theirs = naive["requests_per_wait"] + naive["ws_handshakes_per_wait"]
            parts.append(f"{theirs / mine:.1f}x fewer requests (handshakes included)")
        if r["latency_p50_ms"] and naive["latency_p50_ms"]:
            parts.append(f"{naive['latency_p50_ms'] / r['latency_p50_ms']:.1f}x lower p50 latency")
        if r["cpu_ms_per_wait"]:
            parts.append(f"{naive['cpu_ms_per_wait'] / r['cpu_ms_per_wait']:.1f}x less CPU per wait")
        out.append(f"{DESIGNS[name]} vs {DESIGNS['naive']}: " + ", ".join(parts))
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["label"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    x = range(len(rows))
    left.bar([i - 0.2 for i in x], [r["latency_p50_ms"] or 0 for r in rows], width=0.4, label="p50")
    left.bar([i + 0.2 for i in x], [r["latency_p99_ms"] or 0 for r in rows], width=0.4, label="p99")
    left.set_yscale("log")
    left.set_ylabel("detection latency (ms, log scale)")
    left.set_xticks(list(x), labels, rotation=12, fontsize=8)
    left.legend()
    right.bar(list(x), [r["requests_per_wait"] + r["ws_handshakes_per_wait"] for r in rows])
    right.set_ylabel("requests + handshakes per job wait")
    right.set_xticks(list(x), labels, rotation=12, fontsize=8)
    n = rows[0]["jobs"] if rows else 0
    fig.suptitle(f"Waiting for {n:,} Studio jobs in one process")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_designs(args: argparse.Namespace, jobs: int, designs: list[str], tmp: Path,
                certs: tuple[Path, Path, Path]) -> list[dict[str, Any]]:
    """Each design at N = ``jobs``, one after the other, each with a fresh emulator; the summary rows."""
    ca, cert, key = certs
    rows: list[dict[str, Any]] = []
    print(
        f"wait benchmark: N={jobs} jobs of {args.min_duration:g}-{args.max_duration:g} s, "
        f"{args.log_lines} log lines per job, poll interval {args.poll_interval:g} s, designs {', '.join(designs)}",
        file=sys.stderr, flush=True,
    )
    for design in designs:
        emulator = TlsEmulator(cert, key, args.ws_ping_interval, args.server_ping_interval)
        try:
            child = subprocess.run(
                [
                    sys.executable, __file__, "--run-design", design, "--api-url", emulator.api_url,
                    "--ca", str(ca), "--jobs", str(jobs), "--min-duration", str(args.min_duration),
                    "--max-duration", str(args.max_duration), "--poll-interval", str(args.poll_interval),
                    "--seed", str(args.seed), "--log-file", str(tmp / f"{design}-{jobs}.log"),
                    "--settle", str(args.settle), "--log-lines", str(args.log_lines),
                    "--keepalive-period", str(keepalive_period(args)),
                    *(["--quiet"] if args.quiet else []),
                ],
                stdout=subprocess.PIPE, text=True, check=False,
            )
            emulator_cpu = emulator.cpu_seconds()
        finally:
            emulator.stop()
        if child.returncode != 0:
            raise SystemExit(f"wait benchmark: design {design} failed (exit {child.returncode})")
        data = json.loads(child.stdout.strip().splitlines()[-1])
        result = DesignResult(**data)
        result.emulator_cpu_seconds = emulator_cpu
        row = result.summary()
        rows.append(row)
        # One line per design as it ends: a long run that is stopped still leaves its numbers.
        p50, p99 = (row[k] or 0.0 for k in ("latency_p50_ms", "latency_p99_ms"))
        periods = f", {row['idle_window_periods']} keep-alive periods" if row["idle_window_periods"] else ""
        print(
            f"  {design}: {row['requests_per_wait']:.2f} requests/wait, p50/p99 {p50:.1f}/{p99:.1f} ms, "
            f"{row['rss_kib_per_wait']:.1f} KiB/wait, {row['cpu_ms_per_wait']:.2f} CPU ms/wait, "
            f"{row['idle_cpu_percent'] or 0.0:.2f} % CPU while waiting ({row['idle_window_seconds']:.0f} s window"
            f"{periods}), "
            f"{row['wrong_or_missing']} wrong or missing, {row['wait_seconds']:.0f} s",
            file=sys.stderr, flush=True,
        )
    return rows


def scaling_table(runs: dict[int, list[dict[str, Any]]]) -> str:
    """How the cost grows with N, as ratios against the naive poller (absolute times drift between machines)."""
    lines = [
        "| N | design | requests + handshakes/wait | p50 latency | CPU ms/wait | CPU % while waiting | RSS KiB/wait "
        "| wrong or missing |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def contacts(row: dict[str, Any]) -> float:
        # A WebSocket handshake is a request too (the issue's budget: one handshake, one final read).
        return float(row["requests_per_wait"] + row["ws_handshakes_per_wait"])

    def ratio(naive: Any, value: Any) -> str:
        if not naive or not value:
            return "-"
        return f"{naive / value:,.1f}x less"

    for n, rows in sorted(runs.items()):
        by = {r["design"]: r for r in rows}
        naive = by.get("naive")
        for r in rows:
            if r["design"] == "naive" or naive is None:
                continue
            lines.append(
                f"| {n:,} | {r['label']} | {ratio(contacts(naive), contacts(r))} "
                f"| {ratio(naive['latency_p50_ms'], r['latency_p50_ms'])} "
                f"| {ratio(naive['cpu_ms_per_wait'], r['cpu_ms_per_wait'])} "
                f"| {ratio(naive['idle_cpu_percent'], r['idle_cpu_percent'])} "
                f"| {ratio(naive['rss_kib_per_wait'], r['rss_kib_per_wait'])} | {r['wrong_or_missing']} |"
            )
        if naive is not None:
            lines.append(
                f"| {n:,} | {naive['label']} (absolute) | {naive['requests_per_wait']:.2f} "
                f"| {naive['latency_p50_ms']:,.0f} ms | {naive['cpu_ms_per_wait']:.2f} ms "
                f"| {naive['idle_cpu_percent'] or 0.0:.1f} % | {naive['rss_kib_per_wait']:.0f} | {naive['wrong_or_missing']} |"
            )
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> int:
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        raise SystemExit(f"--designs: unknown {unknown}; choose from {', '.join(DESIGNS)}")
    sizes = [int(n) for n in args.scaling.split(",")] if args.scaling else [args.jobs]
    if any(n < 1 for n in sizes):
        raise SystemExit("--scaling: every N must be >= 1, e.g. 250,500,1000,2000")
    # Each waiter holds a socket (the WebSocket, or a pooled/new HTTP connection), and so does the emulator
    # for each: raise the soft limit now, before any child process inherits it, or say what to do.
    problem = raise_fd_limit(2 * max(sizes) + 512)
    if problem:
        raise SystemExit(f"wait benchmark: {problem}")
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[int, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="studio-wait-bench-") as tmp:
        certs = make_certificates(Path(tmp))
        for n in sizes:
            runs[n] = run_designs(args, n, designs, Path(tmp), certs)
    if args.scaling:
        table = scaling_table(runs)
        print(table)
        (out_dir / "wait_scaling.json").write_text(
            json.dumps({"args": vars(args), "runs": {str(n): rows for n, rows in runs.items()}}, indent=2)
        )
        print(f"\nJSON: {out_dir / 'wait_scaling.json'}")
        return 0
    rows = runs[sizes[0]]
    print(markdown_table(rows))
    for line in ratios(rows):
        print(f"- {line}")
    (out_dir / "wait_bench.json").write_text(json.dumps({"args": vars(args), "results": rows}, indent=2))
    plot(rows, out_dir / "wait_bench.png")
    print(f"\nJSON: {out_dir / 'wait_bench.json'}  plot: {out_dir / 'wait_bench.png'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000, help="N concurrent waits (default 2000)")
    parser.add_argument("--min-duration", type=float, default=30.0, help="shortest job, seconds (30)")
    parser.add_argument("--max-duration", type=float, default=90.0, help="longest job, seconds (90)")
    parser.add_argument("--poll-interval", type=float, default=10.0, help="polling designs' interval (10)")
    parser.add_argument("--log-lines", type=int, default=0,
                        help="log lines each job prints, spread over its run (0: the cost of waiting alone); "
                             "the WebSocket trigger writes each to the task log")
    parser.add_argument("--designs", default="ws,ws-stock,poll,naive",
                        help="comma-separated: ws, ws-stock (websockets' own client), poll, poll-logs "
                             "(polling with log lines), naive")
    parser.add_argument("--ws-ping-interval", type=float, default=30.0,
                        help='seconds between the emulator\'s {"type": "ping"} messages on each socket (30)')
    parser.add_argument("--server-ping-interval", type=float, default=20.0,
                        help="seconds between the emulator's WebSocket (protocol) pings on each socket: "
                             "uvicorn's default (20)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds after the waiters start before the CPU-while-waiting window opens")
    parser.add_argument("--scaling", metavar="N,N,...",
                        help="run every design at each N (e.g. 250,500,1000,2000) and print the ratios "
                             "against the naive poller instead of one table")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output-dir", default=str(HERE / "results"), help="where JSON and PNG go")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    # Internal: one design in a child process.
    parser.add_argument("--run-design", help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--log-file", help=argparse.SUPPRESS)
    parser.add_argument("--keepalive-period", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 1 or args.min_duration <= 0 or args.max_duration < args.min_duration:
        raise SystemExit("--jobs must be >= 1 and 0 < --min-duration <= --max-duration")
    if args.log_lines < 0:
        raise SystemExit("--log-lines must be >= 0")
    if args.run_design:
        return run_design(args)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
