"""What a task created or paused in Studio, written in Studio itself so that any later try finds it, on
every Airflow version (Airflow 3.3's task state store helps, but a crash between a create and the store
write, and Airflow 3.1/3.2, have nothing else).

A pipeline definition's environment variables (``pipeline/settings``) carry two notes, and every run made
from it inherits them:

- :data:`OWNER_VAR`: the task's secret marker (``studio_provider.operators.submission.task_marker``): the
  definition, or the run started from it, belongs to this task instance.
- :data:`PAUSED_VAR`: the run this task paused (at its deadline, or when it was killed): a retry that
  finds that run PAUSED resumes it; a run paused by someone else in Studio fails the retry at once.

The pipeline's other environment variables are kept: a note is merged in, never replacing them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..api import AsyncStudioApi
from ..models import Pipeline

#: The environment variable naming the task (its marker) that made a definition or started a run.
OWNER_VAR = "AIRFLOW_STUDIO_TASK"
#: The environment variable naming the run the task paused.
PAUSED_VAR = "AIRFLOW_STUDIO_PAUSED_RUN"


def environment_of(pipeline: Pipeline) -> dict[str, str]:
    """The pipeline's environment variables as Studio reports them (``environment_variables``)."""
    values = pipeline.raw.get("environment_variables")
    if not isinstance(values, Mapping):
        return {}
    return {str(key): str(value) for key, value in values.items()}


def owned_by(pipeline: Pipeline, marker: str) -> bool:
    """Whether the pipeline (a definition, or a run inheriting its settings) carries ``marker``."""
    return environment_of(pipeline).get(OWNER_VAR) == marker


def newest_owned(pipelines: Iterable[Pipeline], marker: str) -> Pipeline | None:
    """The first (newest) pipeline carrying ``marker``."""
    return next((item for item in pipelines if owned_by(item, marker)), None)


def environment_text(values: Mapping[str, str]) -> str:
    """``KEY=VALUE`` lines, as ``pipeline/settings`` takes them."""
    return "\n".join(f"{key}={value}" for key, value in values.items())


def merged_environment(
    pipeline: Pipeline, given: Mapping[str, str] | None = None, notes: Mapping[str, str | None] | None = None
) -> str:
    """The pipeline's environment with ``given`` and the notes merged in (a ``None`` note is removed)."""
    values = {**environment_of(pipeline), **(given or {})}
    for key, value in (notes or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return environment_text(values)


async def note_pause(api: AsyncStudioApi, definition_name: str, run_id: str) -> None:
    """Write on the definition that this task paused ``run_id`` (before pausing it)."""
    definitions = [item for item in await api.list_pipelines(search=definition_name, limit=100) if item.is_definition and item.name == definition_name]
    if not definitions:
        return
    definition = definitions[0]
    await api.update_pipeline_settings(
        pipeline_name=definition_name, environment=merged_environment(definition, notes={PAUSED_VAR: run_id})
    )


def paused_by_task(definition: Pipeline, run_id: str) -> bool:
    """Whether the definition's note says this task paused ``run_id``."""
    return environment_of(definition).get(PAUSED_VAR) == run_id


__all__ = [
    "OWNER_VAR",
    "PAUSED_VAR",
    "environment_of",
    "environment_text",
    "merged_environment",
    "newest_owned",
    "note_pause",
    "owned_by",
    "paused_by_task",
]

