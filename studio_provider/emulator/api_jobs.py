"""Routes for jobs, job files, job logs and clusters."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from .clusters import cluster_views
from .errors import bad_request
from .jobs import job_to_dict
from .routing import add_route, base_url, emulator_of, flag, int_param, json_body, team_of
from .state import UploadedFile


async def list_jobs(request: Request) -> list[dict[str, Any]]:
    team = team_of(request)
    params = request.query_params
    statuses = {
        part.strip().upper()
        for value in params.getlist("status")
        for part in value.split(",")
        if part.strip()
    }
    job_id = params.get("job_id")
    limit = int_param(params.get("limit"), "limit", 20)
    include_steps = flag(params.get("include_steps"))
    result = []
    # Insertion order is creation order, so reversing it lists the newest first.
    for job in reversed(list(emulator_of(request).state.jobs.values())):
        if job.team != team or (job_id and job.id != job_id) or (statuses and job.status not in statuses):
            continue
        result.append(job_to_dict(job, include_steps))
        if len(result) >= limit:
            break
    return result


async def create_job(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    job = emulator_of(request).jobs.create_from_body(team, body, base_url(request))
    return job_to_dict(job)


async def job_logs(request: Request, job_id: str) -> dict[str, Any]:
    team = team_of(request)
    job = emulator_of(request).state.job(team, job_id)
    return {
        "logs": [{"id": line_id, "message": message} for line_id, message in job.logs],
        "status": job.status,
    }


async def cancel_job(request: Request, job_id: str) -> dict[str, str]:
    body = await json_body(request)
    team = team_of(request, body)
    emulator = emulator_of(request)
    emulator.jobs.cancel(emulator.state.job(team, job_id))
    return {"message": "Successfully canceled"}


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


async def upload_file(request: Request) -> dict[str, Any]:
    team = team_of(request)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise bad_request("multipart field 'file' is required")
    # Keep only the base name, with a conservative alphabet: it becomes a path in the job's directory.
    filename = _UNSAFE.sub("_", (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if not filename or filename in (".", ".."):
        raise bad_request("the uploaded file needs a name")
    content = await upload.read()
    emulator = emulator_of(request)
    file_id = emulator.state.next_file_id()
    folder = emulator.state.data_dir / "uploads" / str(file_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(content)
    emulator.state.files[file_id] = UploadedFile(
        file_id, team, filename, len(content), path, emulator.clock.now()
    )
    return {"id": file_id, "filename": filename, "size": len(content), "state": "uploaded", "error": None}


async def list_clusters(request: Request) -> list[dict[str, Any]]:
    team = team_of(request)
    return cluster_views(emulator_of(request).jobs.running_workers(team))


def build_router() -> APIRouter:
    router = APIRouter()
    add_route(router, "/datachain/jobs/", list_jobs, ["GET"])
    add_route(router, "/datachain/jobs/", create_job, ["POST"])
    add_route(router, "/datachain/jobs/files", upload_file, ["POST"])
    add_route(router, "/datachain/jobs/{job_id}/logs", job_logs, ["GET"])
    add_route(router, "/datachain/jobs/{job_id}/cancel", cancel_job, ["POST"])
    add_route(router, "/datachain/clusters/", list_clusters, ["GET"])
    return router
