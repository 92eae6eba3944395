"""Pipelines: definitions (``trigger``), runs (``run``), their status, control and settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .. import validation as check
from ..models import Pipeline
from ..request import ApiRequest, Retry, response_json
from .common import PipelineStatusFilter, compact, pipeline_statuses, query_params, unwrap_list, unwrap_object


def _decode_pipeline(response: httpx.Response) -> Pipeline:
    return Pipeline.from_dict(unwrap_object(response_json(response), "pipeline"))


def _decode_pipelines(response: httpx.Response) -> list[Pipeline]:
    return [Pipeline.from_dict(item) for item in unwrap_list(response_json(response), "pipelines")]


def _pipeline_action(
    call: str,
    action: str,
    team: str,
    pipeline_id: str | None,
    name: str | None,
    retry: Retry = Retry.IDEMPOTENT,
    **extra: Any,
) -> ApiRequest[Pipeline]:
    """A ``POST datachain/pipeline/<action>`` on one pipeline, named by id or by name."""
    check.one_of(("pipeline_id", "name"), (pipeline_id, name))
    body = compact({"team_name": team, "pipeline_id": pipeline_id, "name": name, **extra})
    return ApiRequest(call, "POST", f"datachain/pipeline/{action}", _decode_pipeline, json=body, retry=retry)


def trigger_pipeline(team: str, *, datasets: Sequence[str]) -> ApiRequest[Pipeline]:
    """Create a pipeline definition from the jobs that produced these datasets (it does not start a
    run: call ``run_pipeline``). Never retried blindly.

    :param datasets: references such as ``@namespace.project.name@v1.0.0``, ``name`` or ``name@v1.0.0``.
    """
    body = {"datasets": check.dataset_refs(datasets), "team_name": team}
    return ApiRequest(
        "trigger_pipeline",
        "POST",
        "datachain/pipeline/trigger",
        _decode_pipeline,
        json=body,
        retry=Retry.UNSAFE,
    )


def run_pipeline(team: str, *, definition_id: str) -> ApiRequest[Pipeline]:
    """Start a run of a pipeline definition. Never retried blindly.

    :param definition_id: the definition's ``pipeline_id``.
    """
    body = {"team_name": team, "definition_id": check.required_text("definition_id", definition_id)}
    return ApiRequest(
        "run_pipeline", "POST", "datachain/pipeline/run", _decode_pipeline, json=body, retry=Retry.UNSAFE
    )


def get_pipeline(
    team: str, *, pipeline_id: str | None = None, name: str | None = None
) -> ApiRequest[Pipeline]:
    """Read a pipeline's status, by id or by name.

    :param pipeline_id: the pipeline's id.
    :param name: the pipeline's name.
    """
    check.one_of(("pipeline_id", "name"), (pipeline_id, name))
    params = query_params(team, pipeline_id=pipeline_id, name=name)
    return ApiRequest("get_pipeline", "GET", "datachain/pipeline/status", _decode_pipeline, params=params)


def list_pipelines(
    team: str, *, status: PipelineStatusFilter = None, limit: int | None = None, search: str | None = None
) -> ApiRequest[list[Pipeline]]:
    """List pipelines.

    :param status: only pipelines in this status, or in any of these statuses.
    :param limit: at most this many.
    :param search: only pipelines whose name contains this.
    """
    if limit is not None:
        check.int_in_range("limit", limit, 1)
    params = query_params(team, status=pipeline_statuses(status), limit=limit, search=search)
    return ApiRequest("list_pipelines", "GET", "datachain/pipeline/list", _decode_pipelines, params=params)


def pause_pipeline(
    team: str, *, pipeline_id: str | None = None, name: str | None = None
) -> ApiRequest[Pipeline]:
    """Pause a running pipeline: no new jobs start until it is resumed.

    :param pipeline_id: the pipeline's id.
    :param name: the pipeline's name.
    """
    return _pipeline_action("pause_pipeline", "pause", team, pipeline_id, name)


def resume_pipeline(
    team: str, *, pipeline_id: str | None = None, name: str | None = None
) -> ApiRequest[Pipeline]:
    """Resume a paused pipeline.

    :param pipeline_id: the pipeline's id.
    :param name: the pipeline's name.
    """
    return _pipeline_action("resume_pipeline", "resume", team, pipeline_id, name)


def duplicate_pipeline(
    team: str, *, pipeline_id: str | None = None, name: str | None = None
) -> ApiRequest[Pipeline]:
    """Snapshot a run (or copy a definition) into a new definition. Never retried blindly.

    :param pipeline_id: the pipeline's id.
    :param name: the pipeline's name.
    """
    return _pipeline_action("duplicate_pipeline", "duplicate", team, pipeline_id, name, Retry.UNSAFE)


def remove_job_from_pipeline(
    team: str, *, job_id: str, pipeline_id: str | None = None, name: str | None = None
) -> ApiRequest[Pipeline]:
    """Remove a job from a pipeline.

    :param job_id: the job to remove.
    :param pipeline_id: the pipeline's id.
    :param name: the pipeline's name.
    """
    job = check.required_text("job_id", job_id)
    return _pipeline_action("remove_job_from_pipeline", "remove-job", team, pipeline_id, name, job_id=job)


def update_pipeline_settings(
    team: str,
    *,
    pipeline_name: str,
    python_version: str | None = None,
    requirements: str | Sequence[str] | None = None,
    repository: str | None = None,
    workers: int | None = None,
    priority: int | None = None,
    environment: str | Mapping[str, object] | None = None,
    files: Sequence[str | int] | None = None,
    credentials_names: Sequence[str] | None = None,
) -> ApiRequest[Pipeline]:
    """Change the settings a pipeline's jobs run with.

    :param pipeline_name: the pipeline's name.
    :param python_version: Python version for its jobs.
    :param requirements: pip requirements (a string or a list of lines).
    :param repository: Git repository URL.
    :param workers: workers per job.
    :param priority: 0 (first) to 5.
    :param environment: ``KEY=VALUE`` lines, or a mapping.
    :param files: uploaded file ids.
    :param credentials_names: Studio credentials to use.
    """
    body = compact(
        {
            "team_name": team,
            "pipeline_name": check.required_text("pipeline_name", pipeline_name),
            "python_version": python_version,
            "requirements": None if requirements is None else check.lines("requirements", requirements),
            "repository": repository,
            "workers": None if workers is None else check.int_in_range("workers", workers, 1),
            "priority": None if priority is None else check.int_in_range("priority", priority, 0, 5),
            "environment": None if environment is None else check.environment(environment),
            "files": None if files is None else check.id_list("files", files),
            "credentials_names": None if credentials_names is None else list(credentials_names),
        }
    )
    return ApiRequest(
        "update_pipeline_settings", "POST", "datachain/pipeline/settings", _decode_pipeline, json=body
    )
