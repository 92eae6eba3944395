"""Where a waiting job's memory goes: N long jobs, N waiting triggers, tracemalloc's biggest items.

A diagnostic companion of ``wait_bench.py`` (same TLS emulator in its own process, same triggers built from
``serialize()``): it starts ``--jobs`` waits on jobs that outlast the probe, lets them settle, and prints
the RSS added per wait and the allocation sites that hold the most memory per wait (Python objects only:
OpenSSL's and the kernel's memory shows in RSS, not here).

    python benchmarks/wait_memory.py --jobs 300 --design ws --top 25
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from wait_bench import TlsEmulator, _admin, _provider_waiter, _submit, make_certificates, use_connection  # noqa: E402


async def probe(args: argparse.Namespace, api_url: str, ca: str) -> None:
    ids, _ = await _submit(api_url, ca, args.jobs, args.hold, args.hold, seed=1)
    await _admin(api_url, ca, "POST", "observations/reset")
    proc = psutil.Process()
    use_websocket = args.design == "ws"

    async def wait(job_id: str) -> None:
        trigger = _provider_waiter(job_id, use_websocket, args.poll_interval, time.time() + 3600)
        async for _ in trigger.run():
            return

    # Warm up shared machinery (the pooled client, the TLS context, imports) with one wait first.
    warm = asyncio.create_task(wait(ids[0]))
    await asyncio.sleep(2)
    gc.collect()
    if args.tracemalloc:
        tracemalloc.start(args.frames)
    before = tracemalloc.take_snapshot() if args.tracemalloc else None
    rss_before = proc.memory_info().rss
    tasks = [asyncio.create_task(wait(job_id)) for job_id in ids[1:]]
    peak = rss_before
    for _ in range(int(args.settle / 0.1)):
        await asyncio.sleep(0.1)
        peak = max(peak, proc.memory_info().rss)
    gc.collect()
    rss_after = proc.memory_info().rss
    n = len(tasks)
    if args.trim:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed = proc.memory_info().rss
        print(f"after malloc_trim: {(trimmed - rss_before) / n / 1024:.1f} KiB per wait")
    print(
        f"{args.design}: {n} waits, RSS added {(rss_after - rss_before) / n / 1024:.1f} KiB per wait "
        f"(peak {(peak - rss_before) / n / 1024:.1f})"
    )
    counters = await _admin(api_url, ca, "GET", "counters")
    print("emulator routes:", {k: v["total"] for k, v in counters["routes"].items() if "_emulator" not in k})
    if before is not None:
        after = tracemalloc.take_snapshot()
        stats = after.compare_to(before, "traceback" if args.frames > 1 else "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"tracemalloc: {total / n / 1024:.1f} KiB per wait in Python objects")
        for stat in stats[: args.top]:
            print(f"{stat.size_diff / n:8.0f} B/wait {stat.count_diff / n:6.1f} blocks/wait")
            for line in stat.traceback.format()[-2 * args.frames :]:
                print("      " + line)
    for task in [warm, *tasks]:
        task.cancel()
    await asyncio.gather(warm, *tasks, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--design", choices=("ws", "poll"), default="ws")
    parser.add_argument("--hold", type=float, default=120.0, help="job duration; must outlast the probe")
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=1, help="traceback depth per allocation site")
    parser.add_argument("--trim", action="store_true", help="also show RSS after glibc's malloc_trim")
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-wait-mem-") as tmp:
        ca, cert, key = make_certificates(Path(tmp))
        emulator = TlsEmulator(cert, key, 30.0)
        try:
            use_connection(emulator.url, str(ca))
            import studio_provider.triggers.job  # noqa: F401

            asyncio.run(probe(args, emulator.api_url, str(ca)))
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
