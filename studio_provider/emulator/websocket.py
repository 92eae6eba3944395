"""``/api/logs/follow/``: a job's log lines and status changes over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from .auth import authorize_team, teams_for_token, token_from_header
from .clock import iso
from .errors import ApiError, bad_request
from .log_blobs import publish_blobs
from .routing import flag, slash_variants
from .runtime import Emulator
from .state import JobRecord

#: The most lines, and about the most bytes, one ``logs`` frame carries.
FRAME_LINES = 1000
FRAME_BYTES = 256 * 1024


def _job_frame(job: JobRecord, status: str | None = None) -> dict[str, Any]:
    """The job as a status frame; for a status it passed through earlier (``status``), without the
    outcome fields, which belong to its current status."""
    current = status is None or status == job.status
    return {
        "job": {
            "id": job.id,
            "status": job.status if status is None else status,
            "exit_code": job.exit_code if current else None,
            "error_message": job.error_message if current else "",
            "finished_at": iso(job.finished_at) if current else None,
        }
    }


async def follow_logs(websocket: WebSocket) -> None:
    """Send logs as they arrive, every status change and pings; close after the terminal status."""
    emulator = websocket.app.state.emulator
    assert isinstance(emulator, Emulator)
    params = websocket.query_params
    try:
        teams = teams_for_token(emulator.config.tokens, token_from_header(websocket.headers.get("authorization")))
        unknown = sorted(set(params) - {"job_id", "team_name", "no_follow"})
        if unknown:
            raise bad_request(f"unknown query parameter {unknown[0]!r}")
        if not params.get("team_name"):
            raise bad_request("team_name is required in the query string")
        team = authorize_team(teams, params["team_name"])
        job_id = params.get("job_id")
        if not job_id:
            raise bad_request("job_id is required")
        job = emulator.state.job(team, job_id)
    except ApiError as exc:
        # Refuse the handshake with a real HTTP status, so clients see 401/403/404 rather than a close.
        await websocket.send_denial_response(JSONResponse({"message": exc.message}, status_code=exc.status))
        return
    await websocket.accept()
    no_follow = flag(params.get("no_follow"))
    interval = emulator.config.ws_ping_interval
    loop = asyncio.get_running_loop()
    last_ping = loop.time()
    sent_lines = 0
    # The current status goes out on connect; after that, every status the job passes through.
    sent_statuses = max(len(job.history) - 1, 0)
    try:
        if job.options.log_blob_lines and job.logs:
            sent_lines = len(job.logs)
            base = str(websocket.base_url).replace("ws", "http", 1)
            await websocket.send_json({"log_blobs": publish_blobs(emulator.state, job, base, sent_lines)})
        while True:
            # Statuses first: once terminal every log line is already in, so they all go out before it.
            statuses, finished = list(job.history) or [job.status], job.finished
            while len(job.logs) > sent_lines:
                # A backlog goes out in frames of a bounded size, as a client expects of a server.
                batch: list[tuple[int, str]] = []
                size = 0
                for line_id, text in job.logs[sent_lines : sent_lines + FRAME_LINES]:
                    if batch and size + len(text) > FRAME_BYTES:
                        break
                    batch.append((line_id, text))
                    size += len(text)
                sent_lines += len(batch)
                await websocket.send_json(
                    {"logs": [{"id": line_id, "message": text} for line_id, text in batch]}
                )
            for status in statuses[sent_statuses:]:
                await websocket.send_json(_job_frame(job, status))
            sent_statuses = len(statuses)
            if finished or no_follow:
                await websocket.close(code=1000)
                return
            remaining = interval - (loop.time() - last_ping)
            if remaining <= 0:
                await websocket.send_json({"type": "ping"})
                last_ping = loop.time()
                continue
            await job.wait_change(remaining)
    except Exception:  # the client went away (disconnect, reset): nothing left to do
        with contextlib.suppress(Exception):
            await websocket.close(code=1011)


def build_router() -> APIRouter:
    router = APIRouter()
    for path in slash_variants("/logs/follow/"):
        router.add_api_websocket_route(path, follow_logs)
    return router
