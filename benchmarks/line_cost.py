"""What one streamed log line costs the waiting process: the follower alone, and the trigger writing it.

A diagnostic companion of ``wait_bench.py`` (same TLS emulator in its own process): one simulated job prints
``--lines`` lines over ``--duration`` seconds, followed (a) by ``follow_job`` with nothing done per line and
(b) by ``StudioJobTrigger``, which writes each line to its log (Airflow's logging). Each is run twice, with
``--lines`` and with a tenth of them, so the fixed costs (connection, handshake) cancel out:

    python benchmarks/line_cost.py --lines 10000 --duration 20 > /dev/null

The trigger's log lines go to stdout (Airflow's logging); the figures go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from wait_bench import TEAM, TOKEN, TlsEmulator, _provider_waiter, make_certificates, use_connection  # noqa: E402


async def one_run(api_url: str, ca: str, how: str, lines: int, duration: float) -> float:
    """CPU seconds this process spent following one job that prints ``lines`` lines."""
    from studio_provider.client import StudioConfig
    from studio_provider.client.pool import shared_client
    from studio_provider.client.waiting import follow_job

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=api_url + "/", headers=headers, verify=ca) as http:
        env = f"STUDIO_EMULATOR_DURATION={duration}\nSTUDIO_EMULATOR_LOG_LINES={lines}"
        body = {"query": "print()", "query_type": "PYTHON", "team_name": TEAM, "environment": env}
        response = await http.post("datachain/jobs/", json=body)
        response.raise_for_status()
        job_id = str(response.json()["id"])
    started = time.process_time()
    if how == "trigger":
        trigger = _provider_waiter(job_id, True, 10.0, time.time() + duration + 600)
        async for _ in trigger.run():
            break
    else:
        config = StudioConfig(url=api_url, token=TOKEN, team=TEAM, verify=ca)
        async with shared_client(config) as client:
            async for _ in follow_job(client, job_id):
                pass
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    if args.lines < 10 or args.duration <= 0:
        raise SystemExit("--lines must be >= 10 and --duration > 0")
    with tempfile.TemporaryDirectory(prefix="studio-line-cost-") as tmp:
        ca, cert, key = make_certificates(Path(tmp))
        emulator = TlsEmulator(cert, key, 30.0)
        try:
            use_connection(emulator.url, str(ca))
            import studio_provider.triggers.job  # noqa: F401  (imports before any measurement)

            few = args.lines // 10
            for how in ("follow", "trigger"):
                many_cpu = asyncio.run(one_run(emulator.api_url, str(ca), how, args.lines, args.duration))
                few_cpu = asyncio.run(one_run(emulator.api_url, str(ca), how, few, args.duration))
                per_line = (many_cpu - few_cpu) / (args.lines - few)
                print(f"{how:8s} {1e6 * per_line:7.1f} µs of CPU per line "
                      f"({many_cpu:.2f} s for {args.lines} lines, {few_cpu:.2f} s for {few})", file=sys.stderr)
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
