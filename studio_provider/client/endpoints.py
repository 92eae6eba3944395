"""Every Studio API call, defined once.

Each function takes the team first and the call's arguments as keywords (named as in the API
reference), checks them, and returns an :class:`~.request.ApiRequest`: method, path with the API's
exact slashes, where ``team_name`` goes, the body, and how the response is decoded. The sync and the
async clients run these same definitions (see :mod:`.api`).

``team_name`` placement (as the official client does it): GET in the query string; POST with a JSON
body in the body; the multipart upload in the query string. The RBAC routes' bodies have no
``team_name`` field, so there it always travels in the query string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from . import validation as check
from .errors import StudioNotFoundError
from .models import (
    Cluster,
    DatasetVersionRef,
    Job,
    JobStatus,
    LogLine,
    Pipeline,
    PipelineStatus,
    Schedule,
    UploadedFile,
)
from .request import ApiRequest, QueryParams, Retry, response_json, response_msgpack

JSONDict = dict[str, Any]
DateLike = str | datetime
StatusFilter = str | JobStatus | Sequence[str | JobStatus] | None
PipelineStatusFilter = str | PipelineStatus | Sequence[str | PipelineStatus] | None
FileSource = str | Path | bytes | IO[bytes]


# ---------------------------------------------------------------------------------------------
# request helpers
# ---------------------------------------------------------------------------------------------


def _compact(fields: Mapping[str, Any]) -> JSONDict:
    """Drop unset (``None``) fields so the server applies its own defaults."""
    return {key: value for key, value in fields.items() if value is not None}


def _query(team: str, **params: Any) -> list[tuple[str, str]]:
    """Query parameters with ``team_name``; lists become repeated keys, booleans ``true``/``false``."""
    result: list[tuple[str, str]] = [("team_name", team)]
    for key, value in params.items():
        if value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, bool):
                result.append((key, "true" if item else "false"))
            elif isinstance(item, (JobStatus, PipelineStatus)):
                result.append((key, item.value))
            else:
                result.append((key, str(item)))
    return result


def _status_names(value: StatusFilter | PipelineStatusFilter) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, (str, JobStatus, PipelineStatus)) else list(value)
    return [
        item.value if isinstance(item, (JobStatus, PipelineStatus)) else str(item).upper() for item in items
    ]


# ---------------------------------------------------------------------------------------------
# decoders
# ---------------------------------------------------------------------------------------------


def _unwrap_list(data: Any, *keys: str) -> list[Any]:
    """A list response; older Studio versions wrap it (``{"jobs": [...]}``)."""
    if isinstance(data, dict):
        for key in (*keys, "data"):
            if isinstance(data.get(key), list):
                return list(data[key])
    if isinstance(data, list):
        return data
    raise ValueError(f"expected a list, got {type(data).__name__}")


def _unwrap_object(data: Any, key: str) -> JSONDict:
    """An object response, with or without its envelope (``{"ok": true, "pipeline": {...}}``)."""
    if isinstance(data, dict) and isinstance(data.get(key), dict):
        return dict(data[key])
    if isinstance(data, dict):
        return data
    raise ValueError(f"expected an object, got {type(data).__name__}")


def _decode_jobs(response: httpx.Response) -> list[Job]:
    return [Job.from_dict(item) for item in _unwrap_list(response_json(response), "jobs")]


def _decode_job(response: httpx.Response) -> Job:
    return Job.from_dict(_unwrap_object(response_json(response), "job"))


def _decode_logs(response: httpx.Response) -> list[LogLine]:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        # Plain text logs: number the lines so callers can still de-duplicate.
        return [LogLine(id=i, message=line) for i, line in enumerate(response.text.splitlines(True), 1)]
    data = response_json(response)
    items = _unwrap_list(data, "logs") if data is not None else []
    return [
        LogLine(id=int(item.get("id", i)), message=str(item.get("message", "")))
        for i, item in enumerate(items, 1)
    ]


def _decode_dict(response: httpx.Response) -> JSONDict:
    data = response_json(response)
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    return data


def _decode_dicts(response: httpx.Response) -> list[JSONDict]:
    return [dict(item) for item in _unwrap_list(response_json(response))]


def _decode_nothing(response: httpx.Response) -> None:
    return None


def _decode_pipeline(response: httpx.Response) -> Pipeline:
    return Pipeline.from_dict(_unwrap_object(response_json(response), "pipeline"))


def _decode_pipelines(response: httpx.Response) -> list[Pipeline]:
    return [Pipeline.from_dict(item) for item in _unwrap_list(response_json(response), "pipelines")]


def _decode_schedule(response: httpx.Response) -> Schedule:
    return Schedule.from_dict(_unwrap_object(response_json(response), "schedule"))


def _decode_schedules(response: httpx.Response) -> list[Schedule]:
    return [Schedule.from_dict(item) for item in _unwrap_list(response_json(response), "schedules")]


def _decode_ok(response: httpx.Response) -> bool:
    data = response_json(response)
    return bool(data.get("ok", True)) if isinstance(data, dict) else True


# ---------------------------------------------------------------------------------------------
# jobs
# ---------------------------------------------------------------------------------------------


def list_jobs(
    team: str,
    *,
    status: StatusFilter = None,
    job_id: str | None = None,
    limit: int = 20,
    include_steps: bool = False,
) -> ApiRequest[list[Job]]:
    """List the team's jobs, newest first.

    :param status: only jobs in this status, or in any of these statuses.
    :param job_id: only the job with this id.
    :param limit: at most this many jobs (Studio's default is 20).
    :param include_steps: include each job's ``steps``.
    """
    check.int_in_range("limit", limit, 1)
    params = _query(
        team, status=_status_names(status), job_id=job_id, limit=limit, include_steps=include_steps or None
    )
    return ApiRequest("list_jobs", "GET", "datachain/jobs/", _decode_jobs, params=params)


def get_job(team: str, *, job_id: str, include_steps: bool = False) -> ApiRequest[Job]:
    """Read one job. Studio has no ``GET /jobs/{id}``: this filters the list by ``job_id``.

    :param job_id: the job's id.
    :param include_steps: include the job's ``steps``.
    :raises StudioNotFoundError: when the team has no such job.
    """
    check.required_text("job_id", job_id)

    def decode(response: httpx.Response) -> Job:
        # Match the id ourselves: a server that ignored the filter must not hand back another job.
        jobs = [job for job in _decode_jobs(response) if job.id == str(job_id)]
        if not jobs:
            raise StudioNotFoundError(
                f"Studio job {job_id} was not found in team {team!r}.",
                status=404,
                method="GET",
                path="datachain/jobs/",
            )
        return jobs[0]

    params = _query(team, job_id=job_id, limit=20, include_steps=include_steps or None)
    return ApiRequest("get_job", "GET", "datachain/jobs/", decode, params=params)


def create_job(
    team: str,
    *,
    query: str,
    query_type: str = "PYTHON",
    query_name: str | None = None,
    environment: str | Mapping[str, object] | None = None,
    workers: int | None = None,
    files: Sequence[str | int] | None = None,
    python_version: str | None = None,
    requirements: str | Sequence[str] | None = None,
    repository: str | None = None,
    priority: int | None = None,
    compute_cluster_name: str | None = None,
    compute_cluster_id: int | None = None,
    start_after: DateLike | None = None,
    cron_expression: str | None = None,
    credentials_name: str | None = None,
    reset: bool | None = None,
    rerun_from_job_id: str | None = None,
) -> ApiRequest[Job]:
    """Submit a job. Never retried after it may have reached Studio: a lost response raises
    :class:`~.errors.StudioOutcomeUnknownError`.

    :param query: the script (Python source, or shell commands for ``SHELL``).
    :param query_type: ``"PYTHON"`` or ``"SHELL"``.
    :param query_name: the job's name (usually the script's file name).
    :param environment: ``KEY=VALUE`` lines, or a mapping.
    :param workers: number of workers.
    :param files: ids of files uploaded with ``upload_file``.
    :param python_version: Python version, such as ``"3.12"``.
    :param requirements: pip requirements, one per line (a string or a list).
    :param repository: a Git repository URL to check out.
    :param priority: 0 (runs first) to 5.
    :param compute_cluster_name: cluster by name (exclusive with ``compute_cluster_id``).
    :param compute_cluster_id: cluster by id (exclusive with ``compute_cluster_name``).
    :param start_after: do not start before this time.
    :param cron_expression: run on this cron schedule (Studio creates a ``TASK`` record).
    :param credentials_name: the Studio credentials to use.
    :param reset: ignore checkpoints of earlier runs.
    :param rerun_from_job_id: continue from this earlier job.
    """
    check.required_text("query", query)
    check.not_both(("compute_cluster_name", "compute_cluster_id"), (compute_cluster_name, compute_cluster_id))
    body = _compact(
        {
            "query": query,
            "query_type": check.query_type(query_type),
            "team_name": team,
            "query_name": query_name,
            "environment": None if environment is None else check.environment(environment),
            "workers": None if workers is None else check.int_in_range("workers", workers, 1),
            "files": None if files is None else check.id_list("files", files),
            "python_version": python_version,
            "requirements": None if requirements is None else check.lines("requirements", requirements),
            "repository": repository,
            "priority": None if priority is None else check.int_in_range("priority", priority, 0, 5),
            "compute_cluster_name": compute_cluster_name,
            "compute_cluster_id": (
                None
                if compute_cluster_id is None
                else check.int_in_range("compute_cluster_id", compute_cluster_id, 0)
            ),
            "start_after": None if start_after is None else check.iso_datetime("start_after", start_after),
            "cron_expression": (
                None if cron_expression is None else check.cron_expression("cron_expression", cron_expression)
            ),
            "credentials_name": credentials_name,
            "reset": reset,
            "rerun_from_job_id": rerun_from_job_id,
        }
    )
    return ApiRequest("create_job", "POST", "datachain/jobs/", _decode_job, json=body, retry=Retry.UNSAFE)


def cancel_job(team: str, *, job_id: str) -> ApiRequest[JSONDict]:
    """Ask Studio to cancel a queued or running job (safe to repeat).

    :param job_id: the job's id.
    """
    path = f"datachain/jobs/{check.path_segment('job_id', job_id)}/cancel"
    return ApiRequest("cancel_job", "POST", path, _decode_dict, json={"team_name": team})


def get_job_logs(team: str, *, job_id: str) -> ApiRequest[list[LogLine]]:
    """Read an active job's logs over REST (the WebSocket stream is the live alternative).

    :param job_id: the job's id.
    """
    path = f"datachain/jobs/{check.path_segment('job_id', job_id)}/logs"
    return ApiRequest("get_job_logs", "GET", path, _decode_logs, params=_query(team))


def upload_file(team: str, *, file: FileSource, file_name: str | None = None) -> ApiRequest[UploadedFile]:
    """Upload a file for jobs; pass the returned id in ``create_job(files=[...])``.

    :param file: a path, the content as bytes, or a binary file object.
    :param file_name: the name Studio stores (default: the path's name; required for bytes).
    """
    if isinstance(file, (str, Path)):
        path = Path(file)
        if not path.is_file():
            raise ValueError(f"file {str(path)!r} does not exist or is not a regular file.")
        content, default_name = path.read_bytes(), path.name
    elif isinstance(file, (bytes, bytearray)):
        content, default_name = bytes(file), None
    elif hasattr(file, "read"):
        content = file.read()
        default_name = Path(str(getattr(file, "name", ""))).name or None
    else:
        raise ValueError(f"file must be a path, bytes or a binary file object, got {type(file).__name__}.")
    name = file_name or default_name
    if not name:
        raise ValueError("file_name is required when file is given as bytes.")
    # Read into memory first so a retry can send the same body again. A repeated upload only leaves
    # an unused blob behind (jobs name files by id), so uploads are retried like reads.
    return ApiRequest(
        "upload_file",
        "POST",
        "datachain/jobs/files",
        lambda r: UploadedFile.from_dict(_decode_dict(r)),
        params=_query(team),
        files={"file": (name, content)},
    )


def list_clusters(team: str) -> ApiRequest[list[Cluster]]:
    """List the compute clusters the team can use."""

    def decode(response: httpx.Response) -> list[Cluster]:
        return [Cluster.from_dict(item) for item in _unwrap_list(response_json(response), "clusters")]

    return ApiRequest("list_clusters", "GET", "datachain/clusters/", decode, params=_query(team))


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------


def list_datasets(team: str, *, prefix: str | None = None) -> ApiRequest[list[JSONDict]]:
    """List the team's datasets, each with its ``versions``.

    :param prefix: only datasets whose name starts with this.
    """
    return ApiRequest(
        "list_datasets", "GET", "datachain/datasets", _decode_dicts, params=_query(team, prefix=prefix)
    )


def get_dataset_info(team: str, *, namespace: str, project: str, name: str) -> ApiRequest[JSONDict]:
    """Read one dataset with its versions.

    :param namespace: the dataset's namespace.
    :param project: the dataset's project.
    :param name: the dataset's name.
    """
    for key, value in (("namespace", namespace), ("project", project), ("name", name)):
        check.required_text(key, value)
    params = _query(team, namespace=namespace, project=project, name=name)
    return ApiRequest("get_dataset_info", "GET", "datachain/datasets/info", _decode_dict, params=params)


def get_dataset_job_versions(team: str, *, job_id: str) -> ApiRequest[list[DatasetVersionRef]]:
    """The dataset versions a job produced.

    :param job_id: the job's id.
    """
    check.required_text("job_id", job_id)

    def decode(response: httpx.Response) -> list[DatasetVersionRef]:
        items = _unwrap_list(response_json(response), "dataset_versions")
        return [DatasetVersionRef(str(i["dataset_name"]), str(i["version"])) for i in items]

    params = _query(team, job_id=job_id)
    return ApiRequest(
        "get_dataset_job_versions", "GET", "datachain/datasets/dataset_job_versions", decode, params=params
    )


def ls(team: str, *, source: str) -> ApiRequest[list[JSONDict] | None]:
    """List a storage path through Studio. The answer is msgpack; ``None`` means Studio is still
    indexing the source (ask again later).

    :param source: the path to list, such as ``s3://bucket/prefix``.
    """
    check.required_text("source", source)

    def decode(response: httpx.Response) -> list[JSONDict] | None:
        data = response_msgpack(response)
        items = data.get("data") if isinstance(data, dict) else data
        return None if items is None else [dict(item) for item in items]

    return ApiRequest(
        "ls",
        "POST",
        "datachain/ls",
        decode,
        json={"source": source, "team_name": team},
        headers={"Accept": "application/msgpack"},
    )


# ---------------------------------------------------------------------------------------------
# pipelines
# ---------------------------------------------------------------------------------------------


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
    body = _compact({"team_name": team, "pipeline_id": pipeline_id, "name": name, **extra})
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
    params = _query(team, pipeline_id=pipeline_id, name=name)
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
    params = _query(team, status=_status_names(status), limit=limit, search=search)
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
    body = _compact(
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


# ---------------------------------------------------------------------------------------------
# schedules
# ---------------------------------------------------------------------------------------------


def create_schedule(
    team: str,
    *,
    schedule_name: str,
    cron_expression: str,
    pipeline_id: str | None = None,
    pipeline_name: str | None = None,
    start_after: DateLike | None = None,
) -> ApiRequest[Schedule]:
    """Schedule a pipeline to run on a cron expression. Never retried blindly.

    :param schedule_name: the schedule's name.
    :param cron_expression: when to run, such as ``"0 3 * * *"``.
    :param pipeline_id: the pipeline definition's id (or give ``pipeline_name``).
    :param pipeline_name: the pipeline's name (or give ``pipeline_id``).
    :param start_after: the first run is not before this time.
    """
    check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
    body = _compact(
        {
            "schedule_name": check.required_text("schedule_name", schedule_name),
            "team_name": team,
            "pipeline_id": pipeline_id,
            "pipeline_name": pipeline_name,
            "start_after": None if start_after is None else check.iso_datetime("start_after", start_after),
            "cron_expression": check.cron_expression("cron_expression", cron_expression),
        }
    )
    return ApiRequest(
        "create_schedule",
        "POST",
        "datachain/pipeline/create-schedule",
        _decode_schedule,
        json=body,
        retry=Retry.UNSAFE,
    )


def update_schedule(
    team: str,
    *,
    schedule_id: int,
    schedule_name: str | None = None,
    cron_expression: str | None = None,
    start_after: DateLike | None = None,
    pause_pipeline: bool | None = None,
) -> ApiRequest[Schedule]:
    """Change a schedule.

    :param schedule_id: the schedule's id.
    :param schedule_name: a new name.
    :param cron_expression: a new cron expression.
    :param start_after: a new earliest start.
    :param pause_pipeline: pause (``True``) or unpause (``False``) the scheduled pipeline.
    """
    body = _compact(
        {
            "schedule_name": schedule_name,
            "team_name": team,
            "schedule_id": check.int_in_range("schedule_id", schedule_id, 0),
            "start_after": None if start_after is None else check.iso_datetime("start_after", start_after),
            "cron_expression": (
                None if cron_expression is None else check.cron_expression("cron_expression", cron_expression)
            ),
            "pause_pipeline": pause_pipeline,
        }
    )
    return ApiRequest(
        "update_schedule", "POST", "datachain/pipeline/update-schedule", _decode_schedule, json=body
    )


def delete_schedule(team: str, *, schedule_id: int) -> ApiRequest[bool]:
    """Delete a schedule.

    :param schedule_id: the schedule's id.
    """
    body = {"team_name": team, "schedule_id": check.int_in_range("schedule_id", schedule_id, 0)}
    return ApiRequest("delete_schedule", "POST", "datachain/pipeline/delete-schedule", _decode_ok, json=body)


def get_schedule(team: str, *, schedule_id: int) -> ApiRequest[Schedule]:
    """Read a schedule, with its pipeline and latest run.

    :param schedule_id: the schedule's id.
    """
    params = _query(team, schedule_id=check.int_in_range("schedule_id", schedule_id, 0))
    return ApiRequest("get_schedule", "GET", "datachain/pipeline/schedule", _decode_schedule, params=params)


def list_schedules(team: str) -> ApiRequest[list[Schedule]]:
    """List the team's schedules."""
    return ApiRequest(
        "list_schedules", "GET", "datachain/pipeline/schedules", _decode_schedules, params=_query(team)
    )


# ---------------------------------------------------------------------------------------------
# RBAC: access groups, their members, and access rules
# ---------------------------------------------------------------------------------------------

_GROUPS = "datachain/rbac/access-groups/"
_RULES = "datachain/rbac/access-rules/"


def _rbac(
    name: str,
    method: str,
    path: str,
    team: str,
    decode: Any = _decode_dict,
    body: JSONDict | None = None,
    retry: Retry = Retry.IDEMPOTENT,
) -> ApiRequest[Any]:
    params: QueryParams = _query(team)
    return ApiRequest(name, method, path, decode, params=params, json=body, retry=retry)


def _member_path(group_id: str, user_id: int) -> str:
    group, user = check.path_segment("group_id", group_id), check.path_segment("user_id", user_id)
    return f"{_GROUPS}{group}/members/{user}/"


def list_access_groups(team: str) -> ApiRequest[list[JSONDict]]:
    """List access groups."""
    return _rbac("list_access_groups", "GET", _GROUPS, team, _decode_dicts)


def create_access_group(team: str, *, name: str, description: str = "") -> ApiRequest[JSONDict]:
    """Create an access group. Never retried blindly.

    :param name: the group's name.
    :param description: what the group is for.
    """
    body = {"name": check.required_text("name", name), "description": description}
    return _rbac("create_access_group", "POST", _GROUPS, team, body=body, retry=Retry.UNSAFE)


def update_access_group(
    team: str, *, group_id: str, name: str | None = None, description: str | None = None
) -> ApiRequest[JSONDict]:
    """Rename an access group or change its description.

    :param group_id: the group's id.
    :param name: a new name.
    :param description: a new description.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/"
    body = _compact({"name": name, "description": description})
    return _rbac("update_access_group", "PATCH", path, team, body=body)


def delete_access_group(team: str, *, group_id: str) -> ApiRequest[None]:
    """Delete an access group.

    :param group_id: the group's id.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/"
    return _rbac("delete_access_group", "DELETE", path, team, _decode_nothing)


def list_access_group_members(team: str, *, group_id: str) -> ApiRequest[list[JSONDict]]:
    """List an access group's members.

    :param group_id: the group's id.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/members/"
    return _rbac("list_access_group_members", "GET", path, team, _decode_dicts)


def add_access_group_member(team: str, *, group_id: str, user_id: int, role: str) -> ApiRequest[JSONDict]:
    """Add a user to an access group. Never retried blindly.

    :param group_id: the group's id.
    :param user_id: the user's id.
    :param role: the member's role, such as ``"write"``.
    """
    path = f"{_GROUPS}{check.path_segment('group_id', group_id)}/members/"
    body = {"user_id": check.int_in_range("user_id", user_id, 0), "role": check.required_text("role", role)}
    return _rbac("add_access_group_member", "POST", path, team, body=body, retry=Retry.UNSAFE)


def update_access_group_member(team: str, *, group_id: str, user_id: int, role: str) -> ApiRequest[JSONDict]:
    """Change a member's role.

    :param group_id: the group's id.
    :param user_id: the user's id.
    :param role: the new role.
    """
    path = _member_path(group_id, user_id)
    body = {"role": check.required_text("role", role)}
    return _rbac("update_access_group_member", "PATCH", path, team, body=body)


def remove_access_group_member(team: str, *, group_id: str, user_id: int) -> ApiRequest[None]:
    """Remove a user from an access group.

    :param group_id: the group's id.
    :param user_id: the user's id.
    """
    path = _member_path(group_id, user_id)
    return _rbac("remove_access_group_member", "DELETE", path, team, _decode_nothing)


def list_access_rules(team: str) -> ApiRequest[list[JSONDict]]:
    """List access rules."""
    return _rbac("list_access_rules", "GET", _RULES, team, _decode_dicts)


def create_access_rule(
    team: str,
    *,
    resource_type: str,
    resource_id: str,
    permission: str,
    user_id: int | None = None,
    group_id: str | None = None,
) -> ApiRequest[JSONDict]:
    """Grant a user or a group a permission on a resource. Never retried blindly.

    :param resource_type: the kind of resource, such as ``"namespace"``.
    :param resource_id: the resource's id.
    :param permission: such as ``"read"`` or ``"write"``.
    :param user_id: the user to grant it to (or give ``group_id``).
    :param group_id: the group to grant it to (or give ``user_id``).
    """
    check.one_of(("user_id", "group_id"), (user_id, group_id))
    body = _compact(
        {
            "resource_type": check.required_text("resource_type", resource_type),
            "resource_id": check.required_text("resource_id", resource_id),
            "permission": check.required_text("permission", permission),
            "user_id": user_id,
            "group_id": group_id,
        }
    )
    return _rbac("create_access_rule", "POST", _RULES, team, body=body, retry=Retry.UNSAFE)


def update_access_rule(team: str, *, rule_id: str, permission: str) -> ApiRequest[JSONDict]:
    """Change an access rule's permission.

    :param rule_id: the rule's id.
    :param permission: the new permission.
    """
    path = f"{_RULES}{check.path_segment('rule_id', rule_id)}/"
    body = {"permission": check.required_text("permission", permission)}
    return _rbac("update_access_rule", "PATCH", path, team, body=body)


def delete_access_rule(team: str, *, rule_id: str) -> ApiRequest[None]:
    """Delete an access rule.

    :param rule_id: the rule's id.
    """
    path = f"{_RULES}{check.path_segment('rule_id', rule_id)}/"
    return _rbac("delete_access_rule", "DELETE", path, team, _decode_nothing)
