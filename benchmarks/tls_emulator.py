"""The local Studio emulator served over TLS in its own process, for the wait benchmark.

Real Studio is HTTPS: a benchmark of waiting must pay for TLS handshakes as a real deployment does.
This starts the emulator's ASGI app under uvicorn with a certificate and prints its base URL
(``https://127.0.0.1:PORT``) on stdout once it listens, like ``python -m studio_provider.emulator``.

    python benchmarks/tls_emulator.py --certfile server.pem --keyfile server.key --token T --team TEAM
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import uvicorn

from studio_provider.emulator import EmulatorConfig
from studio_provider.emulator.app import create_app
from studio_provider.emulator.clock import Clock
from studio_provider.emulator.runtime import Emulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--certfile", required=True, help="PEM server certificate (chain)")
    parser.add_argument("--keyfile", required=True, help="PEM private key")
    parser.add_argument("--token", required=True)
    parser.add_argument("--team", required=True)
    parser.add_argument("--executor", default="simulated", choices=("simulated", "local"))
    parser.add_argument("--ws-ping-interval", type=float, default=30.0, help='seconds between {"type": "ping"} messages')
    parser.add_argument("--server-ping-interval", type=float, default=20.0,
                        help="seconds between WebSocket protocol pings (uvicorn's; 20 is its default)")
    return parser


async def serve(args: argparse.Namespace) -> None:
    config = EmulatorConfig(
        host=args.host,
        port=args.port,
        tokens={args.token: [args.team]},
        executor=args.executor,
        ws_ping_interval=args.ws_ping_interval,
    )
    config.validate()
    app = create_app(config, emulator=Emulator(config, Clock()))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            ssl_certfile=args.certfile,
            ssl_keyfile=args.keyfile,
            lifespan="on",
            ws="websockets-sansio",
            ws_ping_interval=args.server_ping_interval,
            log_level="warning",
            access_log=False,
            # Thousands of idle log sockets are the point of the benchmark: keep them open.
            timeout_keep_alive=300,
            backlog=4096,
        )
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("the emulator stopped before it listened")
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"https://{args.host}:{port}", flush=True)
    await task


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(build_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
