"""A pipeline's state as a task returns it (JSON-safe, server texts capped)."""

from __future__ import annotations

from typing import Any

from studio_provider.client import Pipeline
from studio_provider.client.redaction import cap


def summarize(pipeline: Pipeline, url: str) -> dict[str, Any]:
    """The task's return value: the pipeline's final state, JSON-safe."""
    return {
        "pipeline_id": pipeline.pipeline_id,
        "name": pipeline.name,
        "url": url,
        "status": pipeline.status.value,
        "is_definition": pipeline.is_definition,
        "definition_id": pipeline.raw.get("definition_id"),
        "completed": pipeline.completed,
        "total": pipeline.total,
        "error_message": None if pipeline.error_message is None else cap(pipeline.error_message),
        "job_runs": [
            {
                "name": run.name,
                "job_id": run.job_id,
                "studio_job_id": run.created_job_id,
                "status": run.status.value,
            }
            for run in pipeline.job_runs
        ],
    }


__all__ = ["summarize"]
