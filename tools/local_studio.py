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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOKEN = "demo-token-0123456789"
TEAM = "demo-team"
CONN_ID = "datachain_studio_default"
LOOPBACK = "127.0.0.1"


def start_emulator(data_dir: Path, log: Path, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Start the Studio emulator (local executor) on ``port`` of the loopback address (0: a free one);
    returns the process and its URL once it listens. Its own session: a Ctrl-C reaches the tool that
    started it, which stops it in order."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("w") as errors:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "studio_provider.emulator", "--host", LOOPBACK, "--port", str(port),
                "--token", TOKEN, "--team", TEAM, "--executor", "local", "--log-level", "warning",
                "--data-dir", str(data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    assert process.stdout is not None
    url = process.stdout.readline().strip()  # printed once it listens
    if not url.startswith("http"):
        stop(process)
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise RuntimeError(f"the Studio emulator did not start; {log} ends with:\n{tail}")
    return process, url


@contextmanager
def emulator(data_dir: Path, log: Path, port: int = 0) -> Iterator[str]:
    """The Studio emulator (see :func:`start_emulator`); yields its URL, stops it on exit."""
    process, url = start_emulator(data_dir, log, port)
    try:
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any], grace: float = 20, *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; with ``group``, to the process's whole process group
    (a process started with ``start_new_session=True``, whose children would otherwise outlive it)."""
    stop_all([process], grace, group=group)


def stop_all(processes: Iterable[subprocess.Popen[Any]], grace: float = 20, *, group: bool = False) -> None:
    """:func:`stop` for several processes at once: one SIGTERM each, one shared ``grace`` period, then
    SIGKILL for whatever is left (with ``group``, for each whole process group)."""
    processes = list(processes)

    def send(process: subprocess.Popen[Any], sig: int) -> None:
        try:
            if group:
                os.killpg(process.pid, sig)
            elif process.poll() is None:
                process.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    for process in processes:
        send(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            send(process, signal.SIGKILL)
            process.wait()
    if group:
        time.sleep(1)  # let each group's other members go too; then make sure
        for process in processes:
            send(process, signal.SIGKILL)


def interrupt_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP (a closed terminal) into ``KeyboardInterrupt``, so a stopped tool cleans up
    as on Ctrl-C; SIGINT too when it started ignored (Python leaves it so, e.g. under ``make up &``)."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on the loopback address (nothing listens there)."""
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def loopback_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for the `make up` stack: the API server fetches a running
    task's log from ``http://<hostname>:<log port>``, and the stack's log server listens on the loopback
    address only."""
    return LOOPBACK


def connection_json(studio_url: str) -> str:
    """The ``datachain_studio`` connection to the emulator, as ``AIRFLOW_CONN_...`` JSON."""
    return json.dumps({"conn_type": "datachain_studio", "host": studio_url, "password": TOKEN, "extra": {"team": TEAM}})


def airflow_env(
    home: Path,
    studio_url: str,
    *,
    dags_folder: Path | None = None,
    env_connection: bool = True,
    **settings: str,
) -> dict[str, str]:
    """The environment of an Airflow that reads ``dags_folder`` (default: the example DAGs) and reaches the
    emulator as ``datachain_studio_default``: an ``AIRFLOW_CONN_`` variable, as a deployment would set it,
    unless ``env_connection`` is false (`make up` stores it in Airflow's database instead)."""
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "DATACHAIN_STUDIO_TEAM": TEAM,  # the team in studio_on_new_dataset's asset name
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # Airflow's components run `airflow`
        }
    )
    if env_connection:
        env["AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT"] = connection_json(studio_url)
    else:
        env.pop("AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT", None)  # it would hide the stored one
    env.update(settings)
    return env
