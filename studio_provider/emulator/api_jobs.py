"""Routes for jobs, job files, job logs and clusters (each checked against its spec in ``api_spec``)."""

from __future__ import annotations

import re
import shutil
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from . import api_spec as spec
from .clusters import cluster_views
from .errors import bad_request
from .jobs import job_to_dict
from .routing import add_route, base_url, emulator_of
from .schema import parse_request
from .state import UploadedFile

# Most filesystems refuse names longer than 255 bytes.
MAX_FILENAME_BYTES = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


async def list_jobs(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.LIST_JOBS)
    statuses = set(call["status"] or ())
    job_id = call["job_id"]
    limit = call["limit"] or 20
    result = []
    # Insertion order is creation order, so reversing it lists the newest first.
    for job in reversed(list(emulator_of(request).state.jobs.values())):
        if job.team != call.team or (job_id and job.id != job_id) or (statuses and job.status not in statuses):
            continue
        result.append(job_to_dict(job, bool(call["include_steps"])))
        if len(result) >= limit:
            break
    return result


async def create_job(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.CREATE_JOB)
    job = emulator_of(request).jobs.create_from_request(call.team, call.values, base_url(request))
    return job_to_dict(job)


async def job_logs(request: Request, job_id: str) -> dict[str, Any]:
    call = await parse_request(request, spec.JOB_LOGS)
    job = emulator_of(request).state.job(call.team, job_id)
    return {
        "logs": [{"id": line_id, "message": message} for line_id, message in job.logs],
        "status": job.status,
    }


async def cancel_job(request: Request, job_id: str) -> dict[str, str]:
    call = await parse_request(request, spec.CANCEL_JOB)
    emulator = emulator_of(request)
    emulator.jobs.cancel(emulator.state.job(call.team, job_id))
    return {"message": "Successfully canceled"}


def safe_filename(raw: str | None) -> str:
    """The base name of an uploaded file in a conservative alphabet (it becomes a path in a job's
    directory); 400 when nothing usable is left or it is too long for a filesystem."""
    name = _UNSAFE.sub("_", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if not name or name in (".", ".."):
        raise bad_request("the uploaded file needs a name")
    if len(name.encode()) > MAX_FILENAME_BYTES:
        raise bad_request(f"the uploaded file's name is longer than {MAX_FILENAME_BYTES} bytes")
    return name


async def upload_file(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.UPLOAD_FILE)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise bad_request("multipart field 'file' is required")
    filename = safe_filename(upload.filename)
    emulator = emulator_of(request)
    outcome = emulator.state.next_upload_outcome(call.team)
    file_id = emulator.state.next_file_id()
    if outcome.state == "error":
        return {"id": file_id, "filename": filename, "size": 0, "state": "error", "error": outcome.error}
    folder = emulator.state.data_dir / "uploads" / str(file_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    try:
        with path.open("wb") as target:
            shutil.copyfileobj(upload.file, target)
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise bad_request(f"the uploaded file could not be stored: {exc.strerror}") from None
    size = path.stat().st_size
    emulator.state.files[file_id] = UploadedFile(file_id, call.team, filename, size, path, emulator.clock.now())
    return {"id": file_id, "filename": filename, "size": size, "state": outcome.state, "error": None}


async def list_clusters(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.LIST_CLUSTERS)
    return cluster_views(emulator_of(request).jobs.running_workers(call.team))


def build_router() -> APIRouter:
    router = APIRouter()
    add_route(router, "/datachain/jobs/", list_jobs, ["GET"])
    add_route(router, "/datachain/jobs/", create_job, ["POST"])
    add_route(router, "/datachain/jobs/files", upload_file, ["POST"])
    add_route(router, "/datachain/jobs/{job_id}/logs", job_logs, ["GET"])
    add_route(router, "/datachain/jobs/{job_id}/cancel", cancel_job, ["POST"])
    add_route(router, "/datachain/clusters/", list_clusters, ["GET"])
    return router
