"""Older log chunks served as "blobs": plain-GET URLs that carry their own secret, like presigned URLs.

A log WebSocket of a job with ``STUDIO_EMULATOR_LOG_BLOB_LINES=K`` sends the lines that exist when it
connects as ``{"log_blobs": [url, ...]}``, K lines a blob; the official client fetches each with a plain
GET (no ``Authorization`` header), which is why the request guard exempts ``/_blobs/``.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from .errors import not_found
from .guard import BLOB_PREFIX
from .state import EmulatorState, JobRecord


def publish_blobs(state: EmulatorState, job: JobRecord, base_url: str, upto: int) -> list[str]:
    """URLs of blobs holding ``job.logs[:upto]``, ``job.options.log_blob_lines`` lines each."""
    size = job.options.log_blob_lines
    urls = []
    for start in range(0, upto, size):
        key = secrets.token_urlsafe(16)
        state.log_blobs[key] = (job.id, start, min(start + size, upto))
        urls.append(f"{base_url.rstrip('/')}{BLOB_PREFIX}{key}")
    return urls


async def get_blob(request: Request, key: str) -> Response:
    state = request.app.state.emulator.state
    assert isinstance(state, EmulatorState)
    found = state.log_blobs.get(key)
    if found is None:
        raise not_found("No such log blob")
    job_id, start, end = found
    text = "".join(message for _, message in state.jobs[job_id].logs[start:end])
    return Response(text.encode(), media_type="text/plain; charset=utf-8")


def build_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route(BLOB_PREFIX + "{key}", get_blob, methods=["GET"], include_in_schema=False)
    return router
