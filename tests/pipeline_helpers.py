"""Helpers for the pipeline and schedule tests: a dataset lineage produced on the emulator, over real HTTP.

``build_lineage`` runs four simulated jobs, one after the other, each writing a dataset (and reading its
parent), so ``pipeline/trigger`` turns them into a definition::

    raw ─► clean ─► features        (a chain: the "middle" job is clean)
     └───► stats                    (an independent branch)

Each job prints distinct words (``<name>-line-1`` ...), so a job run's log lines can be found in the task log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from studio_provider.client import Pipeline
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from tests.emulator.helpers import client_for, create_job, wait_job
from tests.studio_tasks import AirflowFailException, task_context

#: Every job of the lineage, with what it reads.
LINEAGE = (("raw", ""), ("clean", "raw"), ("features", "clean"), ("stats", "raw"))


def job_env(name: str, *, duration: float, reads: str = "", **extra: Any) -> str:
    lines = {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": duration,
        "STUDIO_EMULATOR_WRITES": name,
        "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(f"{name}-line-{i}" for i in (1, 2)),
        **({"STUDIO_EMULATOR_READS": reads} if reads else {}),
        **extra,
    }
    return "\n".join(f"{key}={value}" for key, value in lines.items())


def produce(
    client: httpx.Client, team: str, name: str, *, reads: str = "", duration: float = 0.05
) -> dict[str, Any]:
    """Run one job that writes dataset ``name`` and wait for it to complete."""
    job = create_job(
        client,
        team,
        f"print('{name}')",
        query_name=name,
        environment=job_env(name, duration=duration, reads=reads),
    )
    assert wait_job(client, team, job["id"])["status"] == "COMPLETE"
    return job


def build_lineage(server: EmulatorServer, prefix: str = "") -> dict[str, dict[str, Any]]:
    """The four jobs of :data:`LINEAGE` (dataset names get ``prefix``), keyed by their short name."""
    with client_for(server) as client:
        return {
            name: produce(client, server.team, prefix + name, reads=prefix + reads if reads else "")
            for name, reads in LINEAGE
        }


def set_job_env(server: EmulatorServer, job_id: str, **values: Any) -> None:
    """Change what a job's re-runs do (its stored environment), as if its script had changed since."""

    def change() -> None:
        server.state.jobs[job_id].environment.update({key: str(value) for key, value in values.items()})

    server.call(change)


def pipelines(server: EmulatorServer, *, definition: bool) -> list[Any]:
    """The emulator's pipeline records of one kind (white-box: counts what really exists)."""
    return [item for item in server.state.pipelines.values() if item.is_definition is definition]


def start_run(datasets: list[str]) -> Pipeline:
    """Create a definition for ``datasets`` and run it, through the default connection."""
    hook = StudioHook()
    return hook.run_pipeline(definition_id=hook.trigger_pipeline(datasets=datasets).pipeline_id)


def assert_refused_before_any_request(
    server: EmulatorServer, make: Callable[[], Any], words: tuple[str, ...]
) -> None:
    """Executing the task ``make()`` builds raises a ``ValueError`` naming each of ``words`` that fails the
    task without retries (``StudioInputError``), and no request reaches the emulator."""
    server.injector.reset_observations()
    with pytest.raises(ValueError) as info:
        make().execute(task_context())
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, AirflowFailException), type(info.value)
    assert server.injector.counters()["total"] == 0


def pipeline_reading(status: str, runs: list[dict[str, Any]], completed: int = 0, **extra: Any) -> Pipeline:
    """A pipeline as ``get_pipeline`` returns it, for tests that need no server."""
    return Pipeline.from_dict(
        {
            "pipeline_id": "p-1",
            "name": "brave-otter",
            "status": status,
            "job_runs": runs,
            "completed": completed,
            "total": len(runs),
            **extra,
        }
    )
