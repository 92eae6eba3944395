"""A scripted, misbehaving Studio for scenario 7: each route answers what the test sets, and every request
(with whether it carried an ``Authorization`` header) is counted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tests.emulator._asgi_server import serve

JOB = {"id": "job-1", "status": "RUNNING", "query_name": "x [airflow:0]", "url": None}


class Script:
    """What each route answers; ``seen`` lists ``(method, path, had_authorization)``."""

    def __init__(self) -> None:
        self.create: Response | None = None
        self.jobs: Response | None = None
        self.frames: list[str] = []
        self.seen: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()

    def note(self, method: str, path: str, headers: Any) -> None:
        with self._lock:
            self.seen.append((method, path, "authorization" in headers))

    def count(self, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for seen in self.seen if method is None or seen[0] == method)


def app_for(script: Script) -> Starlette:
    async def jobs(request: Request) -> Response:
        script.note(request.method, request.url.path, request.headers)
        if request.method == "POST":
            return script.create or JSONResponse({**JOB, "status": "CREATED"})
        if script.jobs is not None:
            return script.jobs
        return JSONResponse([JOB])

    async def anything(request: Request) -> Response:
        script.note(request.method, request.url.path, request.headers)
        if request.url.path.endswith("/logs"):
            return JSONResponse({"logs": [], "status": "COMPLETE"})
        return JSONResponse({"message": "ok"})

    async def follow(websocket: WebSocket) -> None:
        script.note("WS", websocket.url.path, websocket.headers)
        await websocket.accept()
        for frame in script.frames:
            await websocket.send_text(frame)
        await websocket.close(code=1000)

    return Starlette(
        routes=[
            Route("/api/datachain/jobs/", jobs, methods=["GET", "POST"]),
            Route("/api/datachain/{rest:path}", anything, methods=["GET", "POST"]),
            WebSocketRoute("/api/logs/follow/", follow),
        ]
    )


@contextmanager
def scripted_studio() -> Iterator[tuple[Script, str]]:
    script = Script()
    with serve(app_for(script)) as server:
        yield script, server.url


def html(status: int) -> Response:
    return Response(
        "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
        status_code=status,
        media_type="text/html",
    )


def raw_json(text: str, status: int = 200) -> Response:
    return Response(text, status_code=status, media_type="application/json")


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=302)


def job_frame(status: str) -> str:
    return json.dumps({"job": {"id": "job-1", "status": status}})
