"""What `make demo`, `make up` and `make test-ui` share: the Studio emulator as a background process and
the Airflow environment that points the ``datachain_studio_default`` connection at it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "demo-token-0123456789"
TEAM = "demo-team"


@contextmanager
def emulator(data_dir: Path, log: Path) -> Iterator[str]:
    """The Studio emulator (local executor) on a free loopback port; yields its URL, stops it on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("w") as errors:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "studio_provider.emulator", "--port", "0", "--token", TOKEN,
                "--team", TEAM, "--executor", "local", "--log-level", "warning", "--data-dir", str(data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()  # printed once it listens
            if not url.startswith("http"):
                raise RuntimeError(f"the Studio emulator did not start; see {log}")
            yield url
        finally:
            stop(process)


def stop(process: subprocess.Popen[Any], grace: float = 20, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; with ``group``, to the process's whole process group
    (a process started with ``start_new_session=True``, whose children would otherwise outlive it)."""

    def send(sig: int) -> None:
        try:
            if group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            pass

    if process.poll() is None or group:
        send(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
        if group:
            time.sleep(1)  # let the group's other members go too; then make sure
            send(signal.SIGKILL)


def interrupt_on_sigterm() -> None:
    """Turn SIGTERM into ``KeyboardInterrupt``, so a stopped tool cleans up as on Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, studio_url: str, **settings: str) -> dict[str, str]:
    """The environment of an Airflow that reads the example DAGs and reaches the emulator as
    ``datachain_studio_default`` (an ``AIRFLOW_CONN_`` variable, as a deployment would set it)."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT": json.dumps(
                {"conn_type": "datachain_studio", "host": studio_url, "password": TOKEN, "extra": {"team": TEAM}}
            ),
            "DATACHAIN_STUDIO_TEAM": TEAM,  # the team in studio_on_new_dataset's asset name
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `airflow standalone` runs `airflow`
        }
    )
    env.update(settings)
    return env
