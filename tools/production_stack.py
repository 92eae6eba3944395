"""`make up-production`: Airflow as teams run it in production, on one machine.

PostgreSQL (a throwaway cluster made with Debian's ``initdb`` in the stack's folder and started with
``pg_ctl`` on a loopback port, never the system service), Redis (Debian's ``redis-server`` on a loopback
port) as the Celery broker, the CeleryExecutor with two Celery workers, two triggerers, the scheduler, the
dag processor and the API server, beside the local Studio emulator, with the example DAGs and the
``datachain_studio_default`` connection pointing at the emulator (as ``make up``).

Ctrl-C or SIGTERM stops everything: the Airflow components (each in its own process group, so their
children go too), Redis, the emulator and PostgreSQL. Process ids are recorded in the stack's folder, so a
stack whose runner was killed outright is cleaned up by the next start.

The pieces are reusable: :class:`Postgres` and :class:`Redis` (context managers),
:func:`celery_settings` and :func:`components` (what the reliability suite's cluster and the end-to-end
benchmark start), and :class:`ProductionStack`, which has the interface of ``tools.stack.Stack`` so the
browser check can run against it (``STUDIO_UI_STACK=production``).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.local_studio import BIN, ROOT, TEAM, TOKEN, airflow_env, emulator, free_port, interrupt_on_sigterm

USER = "admin"
PASSWORD = "admin"
AIRFLOW = str(BIN / "airflow")
DB_USER = "airflow"
DB_NAME = "airflow"
PIDS_FILE = "processes.json"


# ---- PostgreSQL -----------------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL server's ``bin`` folder (``/usr/lib/postgresql/<version>/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parent.parent.name)
    )
    if not found:
        raise RuntimeError("Debian's PostgreSQL server is not installed: `make production-packages` installs it")
    return Path(found[-1]).parent


def _as_postgres(command: Sequence[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its server programs as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class Postgres:
    """A throwaway PostgreSQL cluster in ``folder``, on a loopback port, trusting local connections.

    As root, the server runs as the ``postgres`` user, which must be able to reach ``folder``; when one of
    its parents is closed to other users (a private temporary folder), the cluster goes to a fresh folder
    under the system's temporary directory instead, named in ``folder/cluster-location``, and is removed
    at :meth:`stop`.

    :param folder: where the cluster (``data/``), its socket and its log live.
    :param port: the TCP port on 127.0.0.1; a free one by default.
    :param settings: extra server settings (``-c name=value``).
    """

    def __init__(self, folder: Path, port: int | None = None, settings: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.root = folder
        self.port = port or free_port()
        self.settings = {"max_connections": "300", "shared_buffers": "128MB", **(settings or {})}
        self.bin = postgres_bin()
        self._moved = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the ``airflow`` database."""
        return f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def dsn(self) -> str:
        """The libpq connection string (psycopg2, ``psql``, ``pg_dump``)."""
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname={DB_NAME}"

    @staticmethod
    def stop_stale(folder: Path) -> None:
        """Stop a server left running in ``folder`` by a runner that was killed outright."""
        location = folder / "cluster-location"
        roots = [folder] + ([Path(location.read_text().strip())] if location.exists() else [])
        for root in roots:
            if (root / "data" / "postmaster.pid").exists():
                subprocess.run(
                    _as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(root / "data"), "stop", "-m",
                                  "immediate", "-w"]),
                    capture_output=True,
                    check=False,
                )

    def _reachable(self) -> bool:
        if os.geteuid() != 0:
            return True
        return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(self.folder)],
                              capture_output=True, check=False).returncode == 0

    def start(self) -> Postgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._reachable():
            import tempfile

            self.root = Path(tempfile.mkdtemp(prefix="studio-postgres-"))
            self.root.chmod(0o755)
            self._moved = True
            (self.folder / "cluster-location").write_text(f"{self.root}\n")
        _give_to_postgres(self.root)
        if not (self.data / "PG_VERSION").exists():
            self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", DB_USER, "--auth=trust",
                       "-E", "UTF8", "--locale=C.UTF-8"])
        options = " ".join(
            [f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"]
            + [f"-c {name}={value}" for name, value in self.settings.items()]
        )
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                   "-w", "-t", "60", "start"])
        created = subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, DB_NAME],
            capture_output=True, text=True, check=False,
        )
        if created.returncode != 0 and "already exists" not in created.stderr:
            self.stop()
            raise RuntimeError(f"createdb failed: {created.stderr.strip()}")
        return self

    def stop(self) -> None:
        """A fast shutdown (clients disconnected), an immediate one if that does not end in 30 s."""
        if (self.data / "postmaster.pid").exists():
            pg_ctl = str(self.bin / "pg_ctl")
            done = subprocess.run(
                _as_postgres([pg_ctl, "-D", str(self.data), "stop", "-m", "fast", "-w", "-t", "30"]),
                capture_output=True, check=False,
            )
            if done.returncode != 0:
                subprocess.run(
                    _as_postgres([pg_ctl, "-D", str(self.data), "stop", "-m", "immediate", "-w"]),
                    capture_output=True, check=False,
                )
        if self._moved:
            shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, command: Sequence[str]) -> None:
        done = subprocess.run(_as_postgres(command), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                f"; see {self.log}"
            )

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- Redis ----------------------------------------------------------------------------------------------


class Redis:
    """Debian's ``redis-server`` on a loopback port, in memory only (no snapshots, no append-only file)."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.log = folder / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> Redis:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(server).exists():
            raise RuntimeError("Debian's redis-server is not installed: `make production-packages` installs it")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--logfile", str(self.log), "--daemonize", "no"],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {self.log}")
            time.sleep(0.1)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- Airflow on them --------------------------------------------------------------------------------------


def celery_settings(postgres: Postgres, redis: Redis, *, worker_concurrency: int = 8) -> dict[str, str]:
    """The Airflow settings of a CeleryExecutor on ``postgres`` with ``redis`` as the broker."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
        "AIRFLOW__CELERY__BROKER_URL": redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(worker_concurrency),
    }


@dataclass
class Component:
    """One long-running Airflow process: its name, ``airflow`` arguments and its own settings."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)


def components(
    home: Path, api_port: int, *, triggerers: int = 2, workers: int = 2, worker_concurrency: int = 8
) -> list[Component]:
    """The processes of the production-shaped stack. Every triggerer and worker serves its logs on its own
    port (on one machine they would otherwise all try Airflow's default 8793/8794)."""
    found = [
        Component("api-server", ["api-server", "--port", str(api_port), "--host", "127.0.0.1"]),
        Component("scheduler", ["scheduler"]),
        Component("dag-processor", ["dag-processor"]),
    ]
    for index in range(1, triggerers + 1):
        found.append(
            Component(f"triggerer-{index}", ["triggerer"],
                      {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})
        )
    for index in range(1, workers + 1):
        found.append(
            Component(
                f"worker-{index}",
                ["celery", "worker", "--celery-hostname", f"worker-{index}@%h", "--concurrency",
                 str(worker_concurrency), "--pid", str(home / f"worker-{index}.pid")],
                {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        )
    return found


def kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_groups(processes: Mapping[str, subprocess.Popen[Any]], grace: float = 30) -> None:
    """SIGTERM every process group, SIGKILL those still there after ``grace`` s, then once more each group
    (a member that ignored its leader's end goes too)."""
    for process in processes.values():
        kill_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(process.pid, signal.SIGKILL)
            process.wait()
    for process in processes.values():
        kill_group(process.pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def record_pids(folder: Path, processes: Mapping[str, subprocess.Popen[Any]]) -> None:
    """Remember each group leader's pid and command line, for :func:`kill_stale`."""
    (folder / PIDS_FILE).write_text(json.dumps({str(p.pid): _cmdline(p.pid) for p in processes.values()}))


def kill_stale(folder: Path) -> None:
    """Kill the process groups a killed runner left behind in ``folder`` (same pid, same command line)."""
    path = folder / PIDS_FILE
    if path.exists():
        with contextlib.suppress(ValueError):
            for pid, cmdline in json.loads(path.read_text()).items():
                if cmdline and _cmdline(int(pid)) == cmdline:
                    kill_group(int(pid), signal.SIGKILL)
        path.unlink()
    Postgres.stop_stale(folder / "postgres")


class ProductionStack:
    """The production-shaped stack in ``home`` (wiped first), the API on ``port``.

    It has the interface of ``tools.stack.Stack`` (``url``, ``studio_url``, ``token()``, ``client()``,
    ``start()``/``stop()``, a context manager) and more: ``processes`` by name, :meth:`kill` and
    :meth:`restart` of one component, and the database (``postgres``).

    :param home: the ``AIRFLOW_HOME`` and the stack's folder (PostgreSQL, Redis, logs, the emulator's data).
    :param port: the API server's port; a free one by default.
    :param dags: the DAGs folder (default: the example DAGs).
    :param studio_url: a Studio (emulator) already running; by default the stack starts its own.
    :param triggerers: how many triggerers (2).
    :param workers: how many Celery workers (2).
    :param worker_concurrency: task slots per Celery worker (8).
    :param settings: more Airflow settings (environment variables) for every component.
    :param wait_for_dags: DAG ids that must be parsed before :meth:`start` returns.
    """

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        *,
        dags: Path | None = None,
        studio_url: str | None = None,
        triggerers: int = 2,
        workers: int = 2,
        worker_concurrency: int = 8,
        settings: Mapping[str, str] | None = None,
        wait_for_dags: Sequence[str] = ("studio_etl_chain",),
        unpause_at_creation: bool = False,
    ) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dags = dags or ROOT / "dags_examples"
        self.studio_url = studio_url or ""
        self._own_emulator = studio_url is None
        self.triggerers = triggerers
        self.workers = workers
        self.worker_concurrency = worker_concurrency
        self.settings = dict(settings or {})
        self.wait_for_dags = tuple(wait_for_dags)
        self.unpause_at_creation = unpause_at_creation
        self.log = home / "scheduler.out"  # the first place to look when something fails
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._components: dict[str, Component] = {}
        #: The ``job`` row id of each triggerer, by name (each is started once the previous registered).
        self.triggerer_ids: dict[str, int] = {}
        self._exit = contextlib.ExitStack()
        self._secrets: dict[str, str] = {}

    # ---- environment ------------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Every component's environment (one set of secrets for all, as in ``tools.stack``)."""
        if not self._secrets:
            from cryptography.fernet import Fernet

            self._secrets = {
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            }
        assert self.postgres is not None and self.redis is not None, "start() first"
        env = airflow_env(
            self.home,
            self.studio_url,
            env_connection=False,  # in the database (start() stores it), as `make up` keeps it
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=str(not self.unpause_at_creation),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="5",
            PYTHONUNBUFFERED="1",
            **celery_settings(self.postgres, self.redis, worker_concurrency=self.worker_concurrency),
            **self._secrets,
        )
        env.update(self.settings)
        return env

    # ---- life cycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 300) -> ProductionStack:
        kill_stale(self.home)
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        (self.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
        try:
            self.postgres = self._exit.enter_context(Postgres(self.home / "postgres"))
            self.redis = self._exit.enter_context(Redis(self.home / "redis"))
            if self._own_emulator:
                self.studio_url = self._exit.enter_context(
                    emulator(self.home / "studio", self.home / "emulator.log")
                )
            self._exit.callback(self._stop_components)
            migrated = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=self.env(), capture_output=True, text=True, timeout=600, check=False
            )
            (self.home / "db-migrate.out").write_text(migrated.stdout + migrated.stderr)
            if migrated.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed; see {self.home / 'db-migrate.out'}")
            for component in components(
                self.home, self.port, triggerers=self.triggerers, workers=self.workers,
                worker_concurrency=self.worker_concurrency,
            ):
                self._components[component.name] = component
                known = self.triggerer_job_ids()
                self._launch(component)
                if component.name.startswith("triggerer"):
                    self.triggerer_ids[component.name] = self._registered(known, timeout)
            self.wait_ready(timeout)
            # In the database, so that Admin > Connections lists it and its form and Test button work,
            # as with `make up` (a caller's own AIRFLOW_CONN_ setting, as the benchmark's, still wins).
            from tools.stack import store_studio_connection

            with self.client() as api:
                store_studio_connection(api, self.studio_url)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, component: Component) -> subprocess.Popen[bytes]:
        with (self.home / f"{component.name}.out").open("ab") as out:
            process = subprocess.Popen(
                [AIRFLOW, *component.args],
                env={**self.env(), **component.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its children
            )
        self.processes[component.name] = process
        record_pids(self.home, self.processes)
        return process

    def rows(self, query: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query on the metadata database (psycopg2, autocommit)."""
        import psycopg2

        assert self.postgres is not None, "start() first"
        connection = psycopg2.connect(self.postgres.dsn)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(query, tuple(parameters))
                return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            connection.close()

    def triggerer_job_ids(self) -> set[int]:
        return {int(job_id) for (job_id,) in self.rows("select id from job where job_type = 'TriggererJob'")}

    def _registered(self, known: set[int], timeout: float) -> int:
        """The id of the next triggerer job to register (one not in ``known``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            new = self.triggerer_job_ids() - known
            if new:
                return max(new)
            time.sleep(0.5)
        raise TimeoutError(f"a triggerer did not register within {timeout:.0f} s; see {self.home}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (``kill -9`` by default) to one component's whole process group and reap it."""
        process = self.processes[name]
        kill_group(process.pid, sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            kill_group(process.pid, signal.SIGKILL)
            process.wait()

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start a component again (after :meth:`kill`), with its settings."""
        if self.processes[name].poll() is None:
            raise RuntimeError(f"{name} is still running")
        known = self.triggerer_job_ids()
        process = self._launch(self._components[name])
        if name.startswith("triggerer"):
            self.triggerer_ids[name] = self._registered(known, 120)
        return process

    def _stop_components(self) -> None:
        stop_groups(self.processes)
        with contextlib.suppress(OSError):
            (self.home / PIDS_FILE).unlink()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}); see {self.home / (name + '.out')}")

    def wait_ready(self, timeout: float) -> None:
        """Until the API answers, every component is up, both kinds of job are heartbeating (scheduler,
        triggerers, dag processor) and the DAGs in ``wait_for_dags`` are parsed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                with self.client() as api:
                    health = api.get("/api/v2/monitor/health").json()
                    dags = {dag["dag_id"] for dag in api.get("/api/v2/dags", params={"limit": 1000}).json()["dags"]}
                healthy = all(
                    health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler", "triggerer")
                )
                if healthy and set(self.wait_for_dags) <= dags and self.celery_workers_ready():
                    return
            time.sleep(2)
        raise TimeoutError(f"the production-shaped stack was not ready within {timeout:.0f} s; see {self.home}")

    def celery_workers_ready(self) -> bool:
        """Every Celery worker said it is ready (Celery's own start-up line)."""
        return all(
            " ready." in self.output(name) for name in self.processes if name.startswith("worker-")
        )

    def output(self, name: str) -> str:
        path = self.home / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        # A second Ctrl-C must not cut the clean-up short and leave servers running.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._exit.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- API ----------------------------------------------------------------------------------------

    def token(self) -> str:
        answer = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def client(self, timeout: float = 30) -> httpx.Client:
        """An httpx client on Airflow's REST API, logged in, with ``timeout`` seconds per request."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=timeout)

    def __enter__(self) -> ProductionStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def main() -> int:
    interrupt_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the Airflow UI/API port (default 8080)")
    parser.add_argument("--home", type=Path, default=ROOT / "airflow-home" / "up-production",
                        help="the stack's folder (wiped at start)")
    parser.add_argument("--worker-concurrency", type=int, default=8, help="task slots per Celery worker (8)")
    parser.add_argument("--exit-when-ready", action="store_true",
                        help="stop as soon as everything is up (a smoke test of the stack)")
    args = parser.parse_args()
    stack = ProductionStack(args.home, args.port, worker_concurrency=args.worker_concurrency)
    print("Starting PostgreSQL, Redis, the Studio emulator and Airflow with the CeleryExecutor "
          "(about a minute) ...", flush=True)
    started = time.monotonic()
    try:
        with stack:
            assert stack.postgres is not None and stack.redis is not None
            print(
                f"\nReady in {time.monotonic() - started:.0f} s.\n"
                f"Airflow UI:       {stack.url}   login {USER} / {PASSWORD}\n"
                f"Studio emulator:  {stack.studio_url}   team {TEAM}, token {TOKEN}\n"
                f"PostgreSQL:       {stack.postgres.dsn}\n"
                f"Redis (broker):   {stack.redis.url}\n"
                f"Processes:        {', '.join(stack.processes)}\n"
                f"Connection:       datachain_studio_default (Admin > Connections; Test is enabled)\n"
                f"Logs:             {stack.home}/*.out, {stack.home}/logs/\n\nCtrl-C stops everything.",
                flush=True,
            )
            if args.exit_when_ready:
                return 0
            while True:
                stack.check_alive()
                time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopped.", flush=True)
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"make up-production FAILED: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
