"""A real, multi-process Airflow for the reliability suite: scheduler, dag-processor, triggerer(s) and
api-server as separate ``airflow`` processes in an isolated ``AIRFLOW_HOME``, on one of two backends:

- :class:`SqliteBackend` (the default): SQLite and the LocalExecutor, one triggerer;
- :class:`ProductionBackend`: PostgreSQL and the CeleryExecutor with Redis as the broker, two Celery
  workers and two triggerers, the servers of ``tools/production_stack.py`` (``make test-production``).

Every process runs in its own session (process group), so ``kill(name)`` can ``kill -9`` a component
with all its children (the triggerer's runner subprocess, the scheduler's task supervisors), the way a
crashed machine would lose them. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

T = TypeVar("T")

AIRFLOW = str(Path(sys.executable).parent / "airflow")
#: Generous: each wait ends as soon as its condition holds.
START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Backend(Protocol):
    """Where the cluster keeps its metadata and how it runs tasks."""

    name: str

    def settings(self, home: Path) -> dict[str, str]: ...

    def components(self, home: Path, api_port: int) -> list[tuple[str, list[str], dict[str, str]]]: ...

    def ready(self, cluster: AirflowCluster) -> bool: ...

    def rows(self, home: Path, query: str) -> list[tuple[Any, ...]]: ...

    def dump(self, home: Path) -> str: ...

    def close(self) -> None: ...


class SqliteBackend:
    """SQLite and the LocalExecutor, one triggerer (what the suite ran on first)."""

    name = "sqlite"

    def settings(self, home: Path) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }

    def components(self, home: Path, api_port: int) -> list[tuple[str, list[str], dict[str, str]]]:
        return [
            ("api-server", ["api-server", "--port", str(api_port), "--host", "127.0.0.1"], {}),
            ("scheduler", ["scheduler"], {}),
            ("dag-processor", ["dag-processor"], {}),
            ("triggerer-1", ["triggerer"], {}),
        ]

    def ready(self, cluster: AirflowCluster) -> bool:
        return True

    def rows(self, home: Path, query: str) -> list[tuple[Any, ...]]:
        import sqlite3

        connection = sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=30)
        try:
            return list(connection.execute(query).fetchall())
        finally:
            connection.close()

    def dump(self, home: Path) -> str:
        import sqlite3

        connection = sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=30)
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()

    def close(self) -> None:
        pass


class ProductionBackend:
    """PostgreSQL (its own ``initdb`` cluster) and Redis from ``tools/production_stack.py``, the
    CeleryExecutor with ``workers`` Celery workers and ``triggerers`` triggerers.

    :param folder: where PostgreSQL and Redis keep their files.
    :param settings: more Airflow settings for every component.
    """

    name = "production"

    def __init__(
        self,
        folder: Path,
        *,
        triggerers: int = 2,
        workers: int = 2,
        worker_concurrency: int = 4,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        from tools.production_stack import Postgres, Redis

        self.triggerers = triggerers
        self.workers = workers
        self.worker_concurrency = worker_concurrency
        self.extra = dict(settings or {})
        self.postgres = Postgres(folder / "postgres").start()
        try:
            self.redis = Redis(folder / "redis").start()
        except BaseException:
            self.postgres.stop()
            raise

    def settings(self, home: Path) -> dict[str, str]:
        from tools.production_stack import celery_settings

        return {
            **celery_settings(self.postgres, self.redis, worker_concurrency=self.worker_concurrency),
            # A worker that dies mid-task is noticed after 20 s instead of 5 minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            **self.extra,
        }

    def components(self, home: Path, api_port: int) -> list[tuple[str, list[str], dict[str, str]]]:
        from tools.production_stack import components

        return [
            (c.name, c.args, c.env)
            for c in components(
                home, api_port, triggerers=self.triggerers, workers=self.workers,
                worker_concurrency=self.worker_concurrency,
            )
        ]

    def ready(self, cluster: AirflowCluster) -> bool:
        """Every Celery worker said it is ready (Celery's own start-up line)."""
        return all(" ready." in cluster.output(name) for name in cluster.processes if name.startswith("worker-"))

    def rows(self, home: Path, query: str) -> list[tuple[Any, ...]]:
        import psycopg2

        connection = psycopg2.connect(self.postgres.dsn)
        try:
            connection.set_session(readonly=True, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute(query)
                return [tuple(row) for row in cursor.fetchall()]
        finally:
            connection.close()

    def dump(self, home: Path) -> str:
        """The whole database as SQL text (``pg_dump``)."""
        done = subprocess.run(
            [str(self.postgres.bin / "pg_dump"), "--data-only", "--inserts", self.postgres.dsn],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"pg_dump failed: {done.stderr[-2000:]}")
        return done.stdout

    def close(self) -> None:
        self.redis.stop()
        self.postgres.stop()


class AirflowCluster:
    """One Airflow installation in ``home`` and the processes started on it.

    :param home: the ``AIRFLOW_HOME`` (a fresh temporary directory).
    :param dags: the DAGs folder.
    :param connections: ``AIRFLOW_CONN_*`` values by connection id (dicts, sent as JSON).
    :param extra_env: more environment for every process.
    :param backend: the database and executor (default: SQLite and the LocalExecutor).
    """

    def __init__(
        self,
        home: Path,
        dags: Path,
        connections: Mapping[str, Mapping[str, Any]],
        extra_env: Mapping[str, str] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.home = home
        self.dags = dags
        self.backend: Backend = backend or SqliteBackend()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        #: Each component's ``airflow`` arguments and own settings, to start it again by name.
        self.commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        #: The ``job`` row id of each triggerer process, by name (as each registered).
        self.triggerer_ids: dict[str, int] = {}
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "DATACHAIN_STUDIO_", "PYTEST", "COV_"))
        }
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__FERNET_KEY": "",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": "reliability-suite-jwt-secret-0123456789abcdef",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "False",
                "PYTHONUNBUFFERED": "1",
                **self.backend.settings(home),
            }
        )
        for conn_id, value in connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(value))
        env.update(extra_env or {})
        self.env = env
        self._token: str | None = None

    # ---- processes ---------------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` command to its end; fail with its output when it fails."""
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return done

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running component (``scheduler``, ``triggerer``, ...) in its own session, with
        ``env`` added to the cluster's environment."""
        if name in self.processes and self.processes[name].poll() is None:
            raise AssertionError(f"{name} is already running")
        self.commands[name] = (list(args), dict(env or {}))
        out = (self.home / f"{name}.out").open("ab")
        process = subprocess.Popen(
            [AIRFLOW, *args],
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (``kill -9`` by default) to a component's whole process group."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        """Stop every component still running (SIGTERM, then SIGKILL), each by its process group."""
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start a stopped component again with the arguments and settings it had."""
        args, env = self.commands[name]
        known = self._triggerer_job_ids() if name.startswith("triggerer") else set()
        process = self.start(name, *args, env=env)
        if name.startswith("triggerer"):
            self.triggerer_ids[name] = self._registered_triggerer(known)
        return process

    def _triggerer_job_ids(self) -> set[int]:
        return {job_id for (job_id,) in self.rows("select id from job where job_type = 'TriggererJob'")}

    def _registered_triggerer(self, known: set[int]) -> int:
        """The id of the triggerer job that registers next (ids not in ``known``)."""
        return wait_until(
            lambda: max(self._triggerer_job_ids() - known, default=None),
            timeout=START_TIMEOUT,
            what="a triggerer to register",
        )

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata database."""
        return self.backend.rows(self.home, query)

    def output(self, name: str) -> str:
        path = self.home / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def boot(self) -> None:
        """Migrate the database and start the backend's components (api-server, scheduler,
        dag-processor, the triggerers one after another so each one's job id is known, the workers)."""
        self.cli("db", "migrate", timeout=300)
        for name, args, env in self.backend.components(self.home, self.port):
            known = self._triggerer_job_ids() if name.startswith("triggerer") else set()
            self.start(name, *args, env=env)
            if name.startswith("triggerer"):
                self.triggerer_ids[name] = self._registered_triggerer(known)
        wait_until(self._healthy, timeout=START_TIMEOUT, what="the Airflow api-server to answer")
        wait_until(lambda: self.backend.ready(self), timeout=START_TIMEOUT, what="the workers to be ready")

    def close(self) -> None:
        """Stop every component, then the backend's servers."""
        try:
            self.stop_all()
        finally:
            self.backend.close()

    def _healthy(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.output(name)[-4000:]}")
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    # ---- REST API ------------------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """A token of the simple auth manager (every user is an admin here)."""
        if self._token is None:
            response = httpx.get(f"{self.url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = START_TIMEOUT) -> None:
        def parsed() -> bool:
            try:
                self.api("GET", f"/dags/{dag_id}")
            except AssertionError:
                return False
            return True

        wait_until(parsed, timeout=timeout, what=f"DAG {dag_id} to be parsed")
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, run_id: str) -> None:
        self.api("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {item["task_id"]: item for item in data["task_instances"]}

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        return wait_until(finished, timeout=timeout, what=f"DAG run {run_id} to finish", interval=1.0)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as the UI shows it (worker and triggerer parts), as text."""
        response = httpx.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            timeout=60,
        )
        if response.status_code >= 400:
            raise AssertionError(f"log of {task_id}: {response.status_code} {response.text[:2000]}")
        content = response.json().get("content")
        if isinstance(content, list):
            return "\n".join(
                str(item.get("event", "")) if isinstance(item, dict) else str(item) for item in content
            )
        return str(content)





def db_rows(cluster: AirflowCluster, query: str) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the cluster's database (white-box evidence)."""
    return cluster.rows(query)


def db_dump(cluster: AirflowCluster) -> str:
    """The whole database as SQL text: every trigger row, XCom, rendered field, log record, ..."""
    return cluster.backend.dump(cluster.home)


def log_files(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    """The task's log files on disk (the worker's and one per triggerer that ran its trigger), by name."""
    folder = cluster.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    return {path.name: events_text(path.read_text(errors="replace")) for path in sorted(folder.glob("*.log*"))}


def events_text(content: str) -> str:
    """A structured (JSON lines) log file as its messages, one a line; other lines are kept as they are."""
    lines = []
    for line in content.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
            continue
        lines.append(str(record.get("event", "")) if isinstance(record, dict) else line)
    return "\n".join(lines)


def all_text_files(cluster: AirflowCluster) -> dict[str, str]:
    """Every log and process output under the Airflow home (task, trigger, scheduler, triggerer logs)."""
    found: dict[str, str] = {}
    for path in cluster.home.rglob("*"):
        if path.is_file() and (path.suffix in (".log", ".out", ".json") or ".log." in path.name):
            found[str(path)] = path.read_text(errors="replace")
    return found
__all__ = [
    "AirflowCluster",
    "Backend",
    "ProductionBackend",
    "SqliteBackend",
    "all_text_files",
    "db_dump",
    "db_rows",
    "free_port",
    "log_files",
    "wait_until",
]
