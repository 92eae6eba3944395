"""`make up`: Airflow and a local Studio on this machine, sized for a laptop and reachable from it only.

Starts the Studio emulator (it really runs the jobs) and Airflow's components (api-server, scheduler with
a LocalExecutor, dag-processor, triggerer, and one log server) as separate processes, each listening on
127.0.0.1 only. The `datachain_studio_default` connection to the emulator is stored in Airflow's
database, so Admin > Connections lists it, its form opens, and its Test button works. The settings are
written to an env file, so Airflow's CLI reaches the same database (`make airflow ARGS="dags list"`).

Every start is fresh: the Airflow home (`airflow-home/up`: database, task logs, the components' output)
and the emulator's state are wiped first. When any process of the stack stops unexpectedly (the emulator
included), the stack says which one, shows the end of its output and stops the rest. Ctrl-C, SIGTERM or a
closed terminal stops everything.

`make test-ui` starts the same stack (on these ports when they are free) through the Stack class in this file.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.local_studio import (
    BIN,
    CONN_ID,
    LOOPBACK,
    ROOT,
    TEAM,
    TOKEN,
    airflow_env,
    free_port,
    interrupt_on_sigterm,
    port_is_free,
    start_emulator,
    stop_all,
)

USER = "admin"
PASSWORD = "admin"
HOME = ROOT / "airflow-home" / "up"
EXAMPLES = ROOT / "dags_examples"
#: The defaults of `make up`: fixed ports, so URLs (the UI's, the emulator's links in task logs) stay the
#: same from one start to the next.
DEFAULT_PORT = 8080
DEFAULT_STUDIO_PORT = 8765
#: Task slots of the LocalExecutor (one worker process each; Airflow's default is 32). Deferred tasks wait in
#: the triggerer and take no slot.
DEFAULT_PARALLELISM = 4
EMULATOR = "emulator"
#: Airflow's components, in start order. The log server serves running and deferred tasks' log files to the
#: API server; Airflow's own (started by the scheduler and the triggerer) would listen on every interface.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "log-server")
HEALTH = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def extra_field_defaults() -> dict[str, Any]:
    """The extra fields of the ``datachain_studio`` connection form with their defaults, as the provider
    declares them (``conn-fields``): what the UI's Add form stores."""
    from studio_provider.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    return {name: field["schema"].get("default") for name, field in conn_type["conn-fields"].items()}


def store_studio_connection(api: httpx.Client, studio_url: str) -> None:
    """``datachain_studio_default`` in Airflow's database, through the REST API as the UI would store it:
    every extra field with its default (Airflow 3.3's Edit form shows only the extra fields the stored
    extra holds), and the port field set to the emulator's port (Airflow 3.3.2's Test button sends the
    stored port, ``0`` for none, and the API refuses a test whose port differs).

    :param api: a logged-in client on Airflow's REST API.
    :param studio_url: the emulator's URL.
    """
    body = {
        "connection_id": CONN_ID,
        "conn_type": "datachain_studio",
        "description": "The local Studio emulator that the stack started",
        "host": studio_url,
        "port": urllib.parse.urlsplit(studio_url).port,
        "password": TOKEN,
        "extra": json.dumps({**extra_field_defaults(), "team": TEAM}),
    }
    answer = api.post("/api/v2/connections", json=body)
    if answer.status_code != 201:
        raise StackError(f"storing the connection failed: {answer.status_code} {answer.text[:300]}")


class StackError(RuntimeError):
    """The stack could not start, or a process of it stopped; the message says which and where to look."""


class Stack:
    """The emulator and Airflow's components in ``home`` (wiped first).

    :param home: the Airflow home; the components' output goes to ``<home>/<name>.log``.
    :param port: the API server's (UI's) port; ``None`` picks a free one.
    :param studio_port: the emulator's port; ``None`` picks a free one.
    :param log_port: the log server's port; ``None`` picks a free one.
    :param dags_folder: the DAGs folder; ``None`` for the example DAGs.
    :param parallelism: the LocalExecutor's task slots.
    :param unpause_at_creation: whether new DAGs start unpaused.
    """

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        *,
        studio_port: int | None = None,
        log_port: int | None = None,
        dags_folder: Path | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
        unpause_at_creation: bool = False,
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.studio_port = studio_port or 0
        self.log_port = log_port or free_port()
        self.dags_folder = (dags_folder or EXAMPLES).resolve()
        self.parallelism = parallelism
        self.unpause_at_creation = unpause_at_creation
        self.studio_url = ""
        self.env_file = home / "airflow.env"
        self.processes: dict[str, subprocess.Popen[Any]] = {}
        self.dag_ids: list[str] = []
        self.import_errors = 0
        self._secrets: dict[str, str] = {}
        self._token = ""

    def log(self, name: str) -> Path:
        """Where the output of process ``name`` (a component, or ``emulator``) goes."""
        return self.home / f"{name}.log"

    def env(self) -> dict[str, str]:
        # One set of secrets for every component: each would otherwise generate its own, and the workers'
        # tokens would fail the API server's signature check; the Fernet key also lets the CLI (through the
        # env file) decrypt the stored connection.
        if not self._secrets:
            from cryptography.fernet import Fernet

            self._secrets = {
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # HS512 wants 64 bytes or more
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            }
        return airflow_env(self.home, self.studio_url, env_connection=False, **self.settings(), **self._secrets)

    def settings(self) -> dict[str, str]:
        """The stack's Airflow settings (the secrets aside), as environment variables."""
        return {
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(not self.unpause_at_creation),
            # Loopback only: the API server binds to it, and fetches served logs from the hostname tasks and
            # the triggerer record, which is the loopback address too (tools/ on PYTHONPATH for the callable).
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tools.local_studio.loopback_hostname",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        }

    def write_env_file(self) -> None:
        """``<home>/airflow.env``: the settings, secrets included, for a shell (``source``) and `make airflow`;
        readable by its owner only (it holds the Fernet key)."""
        env = self.env()
        names = ["AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__LOAD_EXAMPLES",
                 "DATACHAIN_STUDIO_TEAM", *self.settings(), *self._secrets]
        lines = [
            "# Airflow's CLI against the `make up` stack: `make airflow ARGS=\"dags list\"`, or in a shell:",
            f"#   source {self.env_file}",
            "#   airflow connections test datachain_studio_default",
            "# Written at every start of the stack (its secrets change then).",
            *(f"export {name}={shlex.quote(env[name])}" for name in dict.fromkeys(names)),
            f"export PATH={shlex.quote(str(BIN))}:\"$PATH\"",
        ]
        self.env_file.touch(mode=0o600)
        self.env_file.write_text("\n".join(lines) + "\n")

    def check_ports(self) -> None:
        taken = [
            f"{what} port {port} is in use (another `make up`, `make emulator` or Airflow?): stop it, or choose "
            f"another port: {flag} PORT (make up UP_ARGS=\"{flag} PORT\")"
            for what, port, flag in (
                ("the Airflow UI", self.port, "--port"),
                ("the Studio emulator", self.studio_port, "--studio-port"),
                ("the log server", self.log_port, "--log-port"),
            )
            if port and not port_is_free(port)
        ]
        if taken:
            raise StackError("; ".join(taken))

    def start(self, timeout: float = 300) -> Stack:
        if not self.dags_folder.is_dir():
            raise StackError(f"the DAGs folder {self.dags_folder} is not a directory (--dags-folder)")
        self.check_ports()
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        try:
            # A known login instead of a generated password (the simple auth manager reads this file).
            (self.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
            process, self.studio_url = start_emulator(self.home / "studio", self.log(EMULATOR), self.studio_port)
            self.processes[EMULATOR] = process
            self.studio_port = urllib.parse.urlsplit(self.studio_url).port or self.studio_port
            self.write_env_file()
            env = self.env()
            with self.log("db-migrate").open("w") as out:
                migrated = subprocess.run(
                    [str(BIN / "airflow"), "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT,
                    timeout=timeout, check=False,
                )
            if migrated.returncode != 0:
                raise StackError(f"airflow db migrate failed:\n{self.tail('db-migrate')}")
            for name in COMPONENTS:
                self.processes[name] = self.spawn(name, env)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def spawn(self, name: str, env: dict[str, str]) -> subprocess.Popen[Any]:
        if name == "log-server":
            # Airflow's log server app, bound to the loopback address (the scheduler's and the triggerer's
            # own would bind to every interface; they are skipped below).
            command = [
                str(BIN / "python"), "-m", "uvicorn", "--factory", "airflow.utils.serve_logs.log_server:get_app",
                "--host", LOOPBACK, "--port", str(self.log_port), "--no-access-log", "--log-level", "warning",
            ]
        else:
            command = [str(BIN / "airflow"), name]
            if name in ("scheduler", "triggerer"):
                command.append("--skip-serve-logs")
        with self.log(name).open("w") as out:
            return subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its children too
            )

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.log(name)
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return "\n".join(f"    {line}" for line in text) or "    (no output)"

    def stopped(self) -> str | None:
        """A message naming the first process of the stack that is no longer running, or ``None``."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                what = "The Studio emulator" if name == EMULATOR else f"Airflow's {name}"
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                return f"{what} (pid {process.pid}) {how}. The end of {self.log(name)}:\n{self.tail(name)}"
        return None

    def wait_ready(self, timeout: float) -> None:
        """Until the API answers, the connection is stored, every component reports healthy and the DAGs
        folder has been read."""
        deadline = time.monotonic() + timeout
        stored = False
        healthy_since: float | None = None
        while time.monotonic() < deadline:
            problem = self.stopped()
            if problem:
                raise StackError(problem)
            try:
                if not stored:
                    self.store_connection()
                    stored = True
                health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=10).json()
                if all(health.get(part, {}).get("status") == "healthy" for part in HEALTH):
                    healthy_since = healthy_since or time.monotonic()
                    if self.dags_read(time.monotonic() - healthy_since):
                        return
            except (httpx.HTTPError, ValueError, KeyError, AttributeError):
                pass
            time.sleep(1)
        raise StackError(f"Airflow was not ready within {timeout:.0f} s; see the logs in {self.home}")

    def dags_read(self, healthy_for: float) -> bool:
        """Whether the DAG processor has read the DAGs folder: every example DAG is listed; for another
        folder, a DAG or an import error is listed, or 30 s passed (a folder without DAGs)."""
        with self.client() as api:
            dags = api.get("/api/v2/dags", params={"limit": 1000}).json()["dags"]
            errors = api.get("/api/v2/importErrors", params={"limit": 1}).json()["total_entries"]
        self.dag_ids = sorted(dag["dag_id"] for dag in dags)
        self.import_errors = int(errors)
        if self.dags_folder == EXAMPLES.resolve():
            return {path.stem for path in EXAMPLES.glob("studio_*.py")} <= set(self.dag_ids)
        return bool(self.dag_ids or self.import_errors) or healthy_for > 30

    def store_connection(self) -> None:
        """``datachain_studio_default`` in Airflow's database (:func:`store_studio_connection`)."""
        with self.client() as api:
            store_studio_connection(api, self.studio_url)

    def token(self) -> str:
        if not self._token:
            answer = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def client(self, timeout: float = 30) -> httpx.Client:
        """An httpx client on Airflow's REST API, logged in, with ``timeout`` seconds per request."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=timeout
        )

    def stop(self) -> None:
        """Stop every process of the stack (each whole process group), the emulator last."""
        airflow = [process for name, process in self.processes.items() if name != EMULATOR]
        stop_all(airflow, 30, group=True)
        if EMULATOR in self.processes:
            stop_all([self.processes[EMULATOR]], 20, group=True)
        self.processes.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/stack.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Through make: `make up`, `make up DAGS_FOLDER=~/my-dags`, `make up UP_ARGS=\"--port 8090\"`.\n"
            f"Files: {HOME.relative_to(ROOT)}/airflow.env (the settings for Airflow's CLI), <component>.log "
            "(each process's output), logs/ (task logs)."
        ),
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="PORT",
        help=f"the port of Airflow's UI and REST API on 127.0.0.1 (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--studio-port", type=int, default=DEFAULT_STUDIO_PORT, metavar="PORT",
        help=f"the port of the Studio emulator on 127.0.0.1 (default {DEFAULT_STUDIO_PORT}); the Studio links "
        "in task logs and the connection's URL use it",
    )
    parser.add_argument(
        "--log-port", type=int, default=None, metavar="PORT",
        help="the port of the log server on 127.0.0.1, which serves running tasks' logs to the API server "
        "(default: a free one; nobody opens it by hand, and Airflow's 8793 is often taken by another Airflow)",
    )
    parser.add_argument(
        "--dags-folder", type=Path, default=None, metavar="DIR",
        help=f"the DAGs folder Airflow reads (default: the example DAGs in {EXAMPLES}); your DAGs reach the "
        f"emulator through the {CONN_ID} connection",
    )
    parser.add_argument(
        "--parallelism", type=int, default=DEFAULT_PARALLELISM, metavar="N",
        help=f"how many tasks run at once: the LocalExecutor's worker processes (default {DEFAULT_PARALLELISM}; "
        "deferred tasks wait in the triggerer and take no slot)",
    )
    return parser


def banner(stack: Stack, took: float) -> str:
    home = stack.home.relative_to(ROOT) if stack.home.is_relative_to(ROOT) else stack.home
    examples = stack.dags_folder == EXAMPLES.resolve()
    dags = ", ".join(stack.dag_ids) if stack.dag_ids else "none yet (the folder is re-read every 5 s)"
    errors = f"; {stack.import_errors} import error(s): see the UI's DAGs page" if stack.import_errors else ""
    lines = [
        f"Ready in {took:.0f} s.",
        "",
        f"Airflow UI     {stack.url}   login {USER} / {PASSWORD}",
        f"Local Studio   {stack.studio_url}   the emulator: team {TEAM}, token {TOKEN}",
        f"Connection     {CONN_ID} (stored in Airflow's database: Admin > Connections; its Test button works)",
        f"DAGs folder    {stack.dags_folder}",
        f"DAGs           {dags}{errors}",
    ]
    if examples:
        lines.append("               unpause and trigger studio_etl_chain first (the others use its datasets);")
        lines.append("               your own DAGs: make up DAGS_FOLDER=path/to/dags")
    lines += [
        f"Airflow CLI    make airflow ARGS=\"connections test {CONN_ID}\"   (or: source {home}/airflow.env)",
        f"Output         {home}/<component>.log (api-server, scheduler, dag-processor, triggerer, log-server, "
        "emulator)",
        f"Size           {stack.parallelism} task slots (LocalExecutor); everything listens on {LOOPBACK} only",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    interrupt_on_sigterm()
    stack = Stack(
        HOME, args.port, studio_port=args.studio_port, log_port=args.log_port, dags_folder=args.dags_folder,
        parallelism=args.parallelism,
    )
    began = time.monotonic()
    parent = os.getppid()
    print("Starting the Studio emulator and Airflow (about a minute) ...", flush=True)
    try:
        stack.start()
        print(banner(stack, time.monotonic() - began), flush=True)
        while True:
            time.sleep(1)
            problem = stack.stopped()
            if problem:
                print(f"\n{problem}\n\nStopping the rest of the stack (tasks cannot run without every part of "
                      "it). Start it again with `make up`.", flush=True)
                return 1
            if os.getppid() != parent:  # the terminal or `make` went away without a signal
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        print("\nStopping (about 15 s) ...", flush=True)
        return 0
    except (StackError, TimeoutError, OSError) as exc:
        print(f"make up FAILED: {exc}", flush=True)
        return 1
    finally:
        # A second Ctrl-C must not cut the stopping short and leave processes behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        print("Stopped: nothing of the stack is left running.", flush=True)

if __name__ == "__main__":
    sys.exit(main())
