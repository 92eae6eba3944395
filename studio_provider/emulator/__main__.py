"""Command line: ``python -m studio_provider.emulator`` (also the ``studio-emulator`` script).

Tokens: ``--token TOKEN`` binds TOKEN to every ``--team``; ``--token TOKEN=team1,team2`` binds TOKEN to
exactly those teams. Both may be repeated and mixed. ``--token-file PATH`` reads the same specs, one a line
(blank lines and ``#`` comments skipped), so that tokens need not appear in ``ps`` output.

Without the ``emulator`` extra it exits with one line saying how to install it (FastAPI and uvicorn are
imported only once that check passed).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .config import DEFAULT_MAX_BODY_BYTES, ConfigError, EmulatorConfig
from .fault_cli import add_fault_arguments
from .requirements import missing_distributions, missing_message

TOKEN_ENV = "STUDIO_EMULATOR_TOKEN"


def parse_tokens(tokens: list[str], teams: list[str]) -> dict[str, list[str]]:
    """Bind tokens to teams per the syntax above; ValueError when a token ends up with no team."""
    bound: dict[str, list[str]] = {}
    for item in tokens:
        token, sep, team_list = item.partition("=")
        token = token.strip()
        if not token:
            raise ValueError("empty token")
        own = [team.strip() for team in team_list.split(",") if team.strip()] if sep else list(teams)
        if not own:
            raise ValueError("a token needs at least one team: use --team TEAM or --token TOKEN=TEAM")
        merged = bound.setdefault(token, [])
        merged.extend(team for team in own if team not in merged)
    return bound


def read_token_file(path: Path) -> list[str]:
    """The token specs in ``path``, one a line; ValueError naming the flag when there are none."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--token-file {path}: {exc.strerror}") from None
    specs = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not specs:
        raise ValueError(f"--token-file {path}: no token in the file")
    return specs


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-emulator",
        description="A local DataChain Studio emulator that really runs jobs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to bind; 0 picks a free one (default 8765)"
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[=TEAM,...]",
        help=f"accepted token (repeatable); TOKEN=team1,team2 binds it to those teams (or set ${TOKEN_ENV})",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="read token specs (TOKEN[=TEAM,...]) from PATH, one a line, instead of the command line",
    )
    parser.add_argument(
        "--team", action="append", default=[], help="team of the plain --token values (repeatable)"
    )
    parser.add_argument("--executor", choices=("local", "simulated"), default="local", help="how jobs run")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback bind with the local executor"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="where uploads and job directories go")
    parser.add_argument("--ws-ping-interval", type=float, default=5.0, help="seconds between WebSocket pings")
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest request body (JSON or upload) accepted; larger ones get 413 (default {DEFAULT_MAX_BODY_BYTES})",
    )
    add_fault_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = missing_distributions()
    if missing:
        print(f"studio-emulator: {missing_message(missing)}", file=sys.stderr, flush=True)
        return 1
    from .faults import FaultInjector
    from .server import EmulatorServer

    tokens = list(args.token)
    if args.token_file is not None:
        try:
            tokens += read_token_file(args.token_file)
        except ValueError as exc:
            parser.error(str(exc))
    if not tokens and os.environ.get(TOKEN_ENV):
        tokens = [os.environ[TOKEN_ENV]]
    if not tokens:
        parser.error(f"a token is required: --token TOKEN --team TEAM, --token-file PATH (or ${TOKEN_ENV})")
    try:
        config = EmulatorConfig(
            host=args.host,
            port=args.port,
            tokens=parse_tokens(tokens, args.team),
            executor=args.executor,
            allow_remote=args.allow_remote,
            data_dir=args.data_dir,
            ws_ping_interval=args.ws_ping_interval,
            max_body_bytes=args.max_body_bytes,
        )
        config.validate()
    except (ValueError, ConfigError) as exc:
        parser.error(str(exc))
    injector = FaultInjector()
    injector.configure_from_args(args)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = EmulatorServer(config, injector, log_level=args.log_level, access_log=True)
    try:
        server.start()
    except (RuntimeError, OSError) as exc:
        print(f"studio-emulator: {exc}", file=sys.stderr, flush=True)
        return 1
    print(server.url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
