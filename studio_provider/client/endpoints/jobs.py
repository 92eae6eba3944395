"""Jobs: list, read, create, cancel, logs, file uploads, and the compute clusters they run on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from .. import validation as check
from ..errors import StudioError, StudioNotFoundError, StudioValidationError
from ..models import Cluster, Job, LogLine, UploadedFile
from ..request import ApiRequest, Retry, ServerRefusal, response_json
from .common import (
    DateLike,
    FileSource,
    JSONDict,
    StatusFilter,
    compact,
    decode_dict,
    job_statuses,
    query_params,
    unwrap_list,
    unwrap_object,
)


def _decode_jobs(response: httpx.Response) -> list[Job]:
    return [Job.from_dict(item) for item in unwrap_list(response_json(response), "jobs")]


def _decode_job(response: httpx.Response) -> Job:
    return Job.from_dict(unwrap_object(response_json(response), "job"))


def _log_id(value: object, position: int) -> int:
    """A log entry's id when it is a whole number (or its text), else the entry's position."""
    if isinstance(value, bool):
        return position
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return position


def _log_line(item: object, position: int) -> LogLine:
    if isinstance(item, str):
        return LogLine(id=position, message=item)
    if isinstance(item, dict):
        message = item.get("message")
        return LogLine(id=_log_id(item.get("id"), position), message="" if message is None else str(message))
    raise ValueError(f"log entry {position} is {type(item).__name__}, neither an object nor a string")


def _decode_logs(response: httpx.Response) -> list[LogLine]:
    """The spec gives no schema for REST logs: read ``{"logs": [...]}``, a bare list, entries that are
    objects (ids missing, ``null`` or text) or plain strings, and an answer without logs as none."""
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        # Plain text logs: number the lines so callers can still de-duplicate.
        return [LogLine(id=i, message=line) for i, line in enumerate(response.text.splitlines(True), 1)]
    data = response_json(response)
    items = data.get("logs", data.get("data")) if isinstance(data, dict) else data
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"expected a list of log entries, got {type(items).__name__}")
    return [_log_line(item, position) for position, item in enumerate(items, 1)]


def _decode_upload(response: httpx.Response) -> UploadedFile:
    uploaded = UploadedFile.from_dict(decode_dict(response))
    if uploaded.failed:
        said = uploaded.raw.get("error") or uploaded.raw.get("message")
        raise ServerRefusal(f"the upload is in state {uploaded.state!r}: {said or 'no reason given'}")
    return uploaded


def _cancel_already_done(error: StudioError) -> JSONDict:
    """After a repeated cancel, Studio's 400 "already finished/canceled" means the earlier attempt (whose
    answer was lost) did the work, or the job ended on its own: either way nothing is left to cancel."""
    said = (error.server_message or "").lower()
    if isinstance(error, StudioValidationError) and error.status == 400 and "already" in said:
        return {"message": error.server_message, "already_done": True}
    raise error


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
    params = query_params(
        team, status=job_statuses(status), job_id=job_id, limit=limit, include_steps=include_steps or None
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

    params = query_params(team, job_id=job_id, limit=20, include_steps=include_steps or None)
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
    body = compact(
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

    Retries are handled here, in the client, rather than by a cancel operator: only the transport knows
    that an attempt was a repeat. When the first attempt's answer is lost (a 5xx, a broken connection)
    and the repeat gets Studio's 400 "already finished" / "already canceled", the first attempt did
    the work (or the job ended meanwhile): the call then returns ``{"message": <Studio's text>,
    "already_done": True}`` instead of raising. The same 400 on a first attempt is still raised as
    :class:`~..errors.StudioValidationError`: the caller asked to cancel a job that had already ended.

    :param job_id: the job's id.
    :returns: Studio's answer, such as ``{"message": "Successfully canceled"}``.
    """
    path = f"datachain/jobs/{check.path_segment('job_id', job_id)}/cancel"
    return ApiRequest(
        "cancel_job",
        "POST",
        path,
        decode_dict,
        json={"team_name": team},
        on_repeated_error=_cancel_already_done,
    )


#: The largest REST log answer read (:func:`get_job_logs`); a larger one raises
#: :class:`~..errors.StudioResponseTooLargeError` unread. The WebSocket stream has no such limit.
MAX_LOG_BYTES = 16 * 2**20
#: The largest log blob read (:func:`get_log_blob`).
MAX_BLOB_BYTES = 8 * 2**20


def get_job_logs(team: str, *, job_id: str) -> ApiRequest[list[LogLine]]:
    """Read an active job's logs over REST (the WebSocket stream is the live alternative); at most
    :data:`MAX_LOG_BYTES`.

    :param job_id: the job's id.
    """
    path = f"datachain/jobs/{check.path_segment('job_id', job_id)}/logs"
    return ApiRequest(
        "get_job_logs", "GET", path, _decode_logs, params=query_params(team), max_bytes=MAX_LOG_BYTES
    )


def _decode_text(response: httpx.Response) -> str:
    return response.text


def get_log_blob(team: str, *, url: str) -> ApiRequest[str]:
    """Read one log blob that a job's log stream named (``{"log_blobs": [url]}``), as text; at most
    :data:`MAX_BLOB_BYTES`, redirects not followed. The caller checks that ``url`` is on Studio's own
    origin (:func:`~..waiting.blobs.blob_url`): the connection's token goes with the request.

    :param url: the blob's absolute URL.
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be an absolute http(s) URL of a log blob, got {url!r}.")
    return ApiRequest(
        "get_log_blob", "GET", url, _decode_text, headers={"Accept": "*/*"}, max_bytes=MAX_BLOB_BYTES
    )


def upload_file(team: str, *, file: FileSource, file_name: str | None = None) -> ApiRequest[UploadedFile]:
    """Upload a file for jobs; pass the returned id in ``create_job(files=[...])``.

    An answer with ``state`` ``error`` or ``failed`` raises :class:`~..errors.StudioAPIError` with Studio's
    reason; ``pending`` (still being processed) is returned as is.

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
        _decode_upload,
        params=query_params(team),
        files={"file": (name, content)},
    )


def list_clusters(team: str) -> ApiRequest[list[Cluster]]:
    """List the compute clusters the team can use."""

    def decode(response: httpx.Response) -> list[Cluster]:
        return [Cluster.from_dict(item) for item in unwrap_list(response_json(response), "clusters")]

    return ApiRequest("list_clusters", "GET", "datachain/clusters/", decode, params=query_params(team))
