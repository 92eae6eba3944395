"""Test your DAGs against a local Studio: pytest fixtures and what a DAG did in Studio, read back.

The plugin is inactive unless a project asks for it (see :mod:`studio_provider.emulator.pytest_plugin`).
Then:

- ``datachain_studio``: a fresh emulator for the test, on a free loopback port, with the
  ``datachain_studio_default`` Airflow connection pointing at it (an ``AIRFLOW_CONN_*`` environment
  variable, set for the test only). It is a :class:`StudioEmulator`: ``jobs()``, ``logs()``,
  ``datasets()``, ``pipelines()`` show what the DAG did in Studio.
- ``datachain_studio_factory``: ``datachain_studio_factory(conn_id=..., team=..., executor=...)`` starts
  more of them (another connection id, another team, the simulated executor).

Every snapshot is taken on the emulator's own event loop, so it is consistent even while jobs run.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .config import EmulatorConfig, ExecutorName
from .requirements import missing_distributions, missing_message
from .vocabulary import FINISHED_JOB_STATUSES, DatasetVersionStatus

if TYPE_CHECKING:
    from .server import EmulatorServer
    from .state import EmulatorState, JobRecord, PipelineRecord

__all__ = [
    "DEFAULT_CONN_ID",
    "DatasetVersionView",
    "JobRunView",
    "JobView",
    "PipelineView",
    "StudioEmulator",
    "datachain_studio",
    "datachain_studio_factory",
]

#: The provider's default connection id and connection type (strings: the emulator imports nothing of the
#: provider).
DEFAULT_CONN_ID = "datachain_studio_default"
CONN_TYPE = "datachain_studio"
DEFAULT_TEAM = "dag-tests"
# The provider falls back on these when a connection lacks a value: a test must never reach a real Studio.
_REAL_STUDIO_VARIABLES = ("DATACHAIN_STUDIO_TOKEN", "DATACHAIN_STUDIO_TEAM", "DATACHAIN_STUDIO_URL")


@dataclass(frozen=True)
class JobView:
    """A job as the emulator holds it, at the moment it was read.

    :param logs: its log lines, in order, each without its line break.
    :param datasets_written: ``@namespace.project.name@vX.Y.Z`` of each dataset version it wrote.
    :param datasets_read: ``@namespace.project.name`` (with ``@vX.Y.Z`` when known) of each it read.
    """

    id: str
    name: str
    status: str
    query: str
    query_type: str
    environment: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error_message: str
    url: str
    pipeline_id: str | None
    parent_job_id: str | None
    logs: tuple[str, ...]
    datasets_written: tuple[str, ...]
    datasets_read: tuple[str, ...]

    @property
    def finished(self) -> bool:
        """The job will not change any more (``COMPLETE``, ``FAILED``, ``CANCELED`` or a cron ``TASK``)."""
        return self.status in FINISHED_JOB_STATUSES

    @property
    def log_text(self) -> str:
        """The log lines joined with line breaks."""
        return "\n".join(self.logs)


@dataclass(frozen=True)
class DatasetVersionView:
    """One version of a dataset. ``status`` is the name (``COMPLETE``), ``status_code`` Studio's integer."""

    namespace: str
    project: str
    name: str
    version: str
    status: str
    status_code: int
    num_objects: int | None
    size: int | None
    job_id: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def ref(self) -> str:
        """``@namespace.project.name@vX.Y.Z`` (the namespace keeps its ``@``)."""
        return f"{self.namespace}.{self.project}.{self.name}@v{self.version}"


@dataclass(frozen=True)
class JobRunView:
    """A job of a pipeline: ``job_id`` is the original job, ``created_job_id`` the job this run started."""

    name: str
    status: str
    job_id: str
    created_job_id: str | None
    parent_job_ids: tuple[str, ...]


@dataclass(frozen=True)
class PipelineView:
    """A pipeline definition or run (``COMPLETED`` where a job says ``COMPLETE``)."""

    id: str
    name: str
    status: str
    is_definition: bool
    definition_id: str | None
    created_via: str
    schedule_name: str | None
    error_message: str
    job_runs: tuple[JobRunView, ...]


def _version_status(code: int) -> str:
    try:
        return DatasetVersionStatus(code).name
    except ValueError:
        return "UNKNOWN"


def _job_view(state: EmulatorState, job: JobRecord) -> JobView:
    written = []
    for (namespace, project, name), version in dict.fromkeys(job.writes):
        written.append(f"{namespace}.{project}.{name}@v{version}")
    read = [f"@{str(item['dataset']).lstrip('@')}" + (f"@v{item['version']}" if item.get("version") else "") for item in job.reads]
    return JobView(
        id=job.id,
        name=job.name,
        status=job.status,
        query=job.query,
        query_type=job.query_type,
        environment=dict(job.environment),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        exit_code=job.exit_code,
        error_message=job.error_message,
        url=job.url,
        pipeline_id=job.pipeline_id,
        parent_job_id=job.parent_job_id,
        logs=tuple(message.rstrip("\r\n") for _, message in job.logs),
        datasets_written=tuple(written),
        datasets_read=tuple(read),
    )


def _pipeline_view(pipeline: PipelineRecord) -> PipelineView:
    runs = tuple(
        JobRunView(run.name, run.status, run.job_id, run.created_job_id, tuple(run.parent_job_ids))
        for run in pipeline.job_runs
    )
    return PipelineView(
        id=pipeline.id,
        name=pipeline.name,
        status=pipeline.status,
        is_definition=pipeline.is_definition,
        definition_id=pipeline.definition_id,
        created_via=pipeline.created_via,
        schedule_name=pipeline.schedule_name,
        error_message=pipeline.error_message,
        job_runs=runs,
    )


class StudioEmulator:
    """A running emulator and the Airflow connection that points at it, with what a DAG did there.

    :param server: the running emulator.
    :param conn_id: the Airflow connection id pointing at it.
    """

    def __init__(self, server: EmulatorServer, conn_id: str) -> None:
        self.server = server
        self.conn_id = conn_id

    # ---- where it is ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the connection's host, and the root of the emulator's pages."""
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def team(self) -> str:
        return self.server.team

    def connection_uri(self) -> str:
        """The connection as the JSON of an ``AIRFLOW_CONN_*`` environment variable."""
        value = {"conn_type": CONN_TYPE, "host": self.url, "password": self.token, "extra": {"team": self.team}}
        return json.dumps(value)

    # ---- what happened ----------------------------------------------------------------------------------

    def _read(self, read: Callable[[EmulatorState], Any]) -> Any:
        """``read(state)``, run on the emulator's event loop (where the state changes)."""
        return self.server.call(read, self.server.state)

    def jobs(self, name: str | None = None, status: str | None = None) -> list[JobView]:
        """The team's jobs, oldest first; only those whose name starts with ``name`` / with ``status``."""

        def read(state: EmulatorState) -> list[JobView]:
            return [
                _job_view(state, job)
                for job in state.jobs.values()
                if job.team == self.team
                and (name is None or job.name.startswith(name))
                and (status is None or job.status == status)
            ]

        found: list[JobView] = self._read(read)
        return found

    def job(self, job_id: str) -> JobView:
        """One job of the team; ``KeyError`` naming the known ids when there is none."""
        for job in self.jobs():
            if job.id == job_id:
                return job
        raise KeyError(f"no job {job_id!r} in team {self.team!r} (jobs: {[job.id for job in self.jobs()]})")

    def logs(self, job_id: str) -> list[str]:
        """A job's log lines, in order, each without its line break."""
        return list(self.job(job_id).logs)

    def datasets(self, name: str | None = None) -> list[DatasetVersionView]:
        """Every dataset version the team has (written by a job or seeded), by dataset then version; only
        those of datasets called ``name`` when given."""

        def read(state: EmulatorState) -> list[DatasetVersionView]:
            views = []
            for dataset in state.datasets.for_team(self.team):
                if name is not None and dataset.name != name:
                    continue
                for version in sorted(dataset.versions, key=lambda item: tuple(int(p) for p in item.version.split("."))):
                    views.append(
                        DatasetVersionView(
                            namespace=dataset.namespace,
                            project=dataset.project,
                            name=dataset.name,
                            version=version.version,
                            status=_version_status(version.status),
                            status_code=version.status,
                            num_objects=version.num_objects,
                            size=version.size,
                            job_id=version.job_id,
                            created_at=version.created_at,
                            finished_at=version.finished_at,
                        )
                    )
            return views

        found: list[DatasetVersionView] = self._read(read)
        return found

    def pipelines(self) -> list[PipelineView]:
        """The team's pipeline definitions and runs, oldest first."""

        def read(state: EmulatorState) -> list[PipelineView]:
            return [_pipeline_view(item) for item in state.pipelines.values() if item.team == self.team]

        found: list[PipelineView] = self._read(read)
        return found

    def requests(self, path: str | None = None, method: str | None = None) -> list[dict[str, Any]]:
        """The API requests the emulator received, oldest first (``path`` exact or a glob): to check, for
        example, that a retried task did not create a second job."""
        return self.server.injector.requests(path=path, method=method)

    def wait_until_idle(self, timeout: float = 60.0) -> list[JobView]:
        """Wait (at most ``timeout`` seconds) until none of the team's jobs is still running, queued or
        being cancelled; answer the jobs. Jobs waiting for a time (``SCHEDULED``) do not count."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs()
            busy = [job for job in jobs if not job.finished and job.status != "SCHEDULED"]
            if not busy:
                return jobs
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still active after {timeout} s: {[(job.name, job.status) for job in busy]}")
            time.sleep(0.05)

    # ---- setting the scene ------------------------------------------------------------------------------

    def seed_dataset(
        self, ref: str, *, num_objects: int | None = None, size: int | None = None
    ) -> DatasetVersionView:
        """Create a ``COMPLETE`` dataset version no job wrote (``name``, ``name@vX.Y.Z`` or
        ``@namespace.project.name[@vX.Y.Z]``; without a version, the next one), for DAGs that wait for or
        read a dataset. ``ValueError`` for a malformed reference."""
        from .datasets import VERSION_COMPLETE, parse_ref

        parsed = parse_ref(ref)

        def write(state: EmulatorState) -> str:
            return state.datasets.write(
                self.team, parsed, state.clock.now(), None, num_objects, size, status=VERSION_COMPLETE
            ).version

        version: str = self._read(write)
        return next(
            item
            for item in self.datasets(parsed.name)
            if (item.namespace, item.project, item.version) == (parsed.namespace, parsed.project, version)
        )

    def advance_clock(self, seconds: float) -> datetime:
        """Move the emulator's clock forward and run what became due (``start_after`` jobs, cron tasks,
        schedules); ``ValueError`` for a value the clock refuses."""
        moved: datetime = self.server.advance_clock(seconds)
        return moved

    def add_fault(self, kind: str, **fields: Any) -> int:
        """Add a fault rule (``error``, ``latency``, ``drop``, ``outage``, ``ws_disconnect``,
        ``lose_response``; fields as in the emulator's fault documentation); answer its id."""
        return self.server.injector.add_rule(kind, **fields).id

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.server.injector.clear()


def _start(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    team: str,
    token: str | None,
    executor: ExecutorName,
    **config: Any,
) -> StudioEmulator:
    missing = missing_distributions()
    if missing:
        pytest.fail(missing_message(missing), pytrace=False)
    from .server import EmulatorServer

    data_dir = Path(tmp_path_factory.mktemp("studio-emulator"))
    settings = EmulatorConfig(
        tokens={token or secrets.token_urlsafe(16): [team]}, executor=executor, data_dir=data_dir, **config
    )
    server = EmulatorServer(settings).start()
    studio = StudioEmulator(server, conn_id)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", studio.connection_uri())
    for name in _REAL_STUDIO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return studio


@pytest.fixture
def datachain_studio_factory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., StudioEmulator]]:
    """Start emulators for this test: ``datachain_studio_factory(conn_id="datachain_studio_default",
    team="dag-tests", token=None, executor="local", **config)``.

    Each runs on a free loopback port with its own data directory; ``AIRFLOW_CONN_<CONN_ID>`` points at
    it for the test (``DATACHAIN_STUDIO_*`` variables are removed meanwhile, so nothing reaches a real
    Studio). ``executor="simulated"`` runs no code (jobs follow their ``STUDIO_EMULATOR_*`` environment
    keys); ``config`` goes to ``EmulatorConfig``. All are stopped, and their job processes killed, after
    the test.
    """
    started: list[StudioEmulator] = []

    def start(
        conn_id: str = DEFAULT_CONN_ID,
        team: str = DEFAULT_TEAM,
        token: str | None = None,
        executor: ExecutorName = "local",
        **config: Any,
    ) -> StudioEmulator:
        studio = _start(tmp_path_factory, monkeypatch, conn_id, team, token, executor, **config)
        started.append(studio)
        return studio

    try:
        yield start
    finally:
        for studio in started:
            studio.server.stop()


@pytest.fixture
def datachain_studio(datachain_studio_factory: Callable[..., StudioEmulator]) -> StudioEmulator:
    """A fresh local Studio for this test, the ``datachain_studio_default`` connection pointing at it."""
    return datachain_studio_factory()

