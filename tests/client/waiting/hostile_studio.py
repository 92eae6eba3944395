"""A hostile (or broken) Studio for the waiting tests: a real uvicorn server whose REST answers, log
stream frames, WebSocket refusals and log blobs are whatever a test sets, with every request recorded."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from studio_provider.client import StudioConfig
from tests.emulator._asgi_server import serve

TOKEN = "h0stile-T0KEN-never-shown"
TEAM = "hostile-team"
JOB_ID = "job-7"


@dataclass
class HostileStudio:
    """What each route answers. ``frames`` are sent on each log socket, then the socket closes, or stays
    open without a byte (``hold=True``) until the client leaves."""

    job: dict[str, Any] = field(default_factory=lambda: {"id": JOB_ID, "status": "RUNNING"})
    rest_logs: Any = field(default_factory=list)
    frames: list[Any] = field(default_factory=list)
    hold: bool = False
    refuse: Response | None = None
    blobs: dict[str, Callable[[HostileStudio], Response]] = field(default_factory=dict)
    closing: threading.Event = field(default_factory=threading.Event)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, method: str, path: str, headers: Any) -> None:
        with self._lock:
            self.seen.append((method, path, dict(headers)))

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [path for seen_method, path, _ in self.seen if method in (None, seen_method)]

    def config(self, **extras: Any) -> StudioConfig:
        return StudioConfig.resolve(
            url=self.url,
            token=TOKEN,
            team=TEAM,
            environ={},
            extras={"timeout": 5, "max_retries": 1, **extras},
        )

    def app(self) -> Starlette:
        async def jobs(request: Request) -> Response:
            self.note(request.method, request.url.path, request.headers)
            return JSONResponse([self.job])

        async def logs(request: Request) -> Response:
            self.note(request.method, request.url.path, request.headers)
            if isinstance(self.rest_logs, Response):
                return self.rest_logs
            return JSONResponse({"logs": self.rest_logs})

        async def cancel(request: Request) -> Response:
            self.note(request.method, request.url.path, request.headers)
            return JSONResponse({"message": "cancelled"})

        async def blob(request: Request) -> Response:
            self.note(request.method, request.url.path, request.headers)
            make = self.blobs.get(request.path_params["name"])
            return make(self) if make is not None else JSONResponse({"message": "no such blob"}, status_code=404)

        async def follow(websocket: WebSocket) -> None:
            self.note("WS", websocket.url.path, websocket.headers)
            if self.refuse is not None:
                await websocket.send_denial_response(self.refuse)
                return
            await websocket.accept()
            for frame in self.frames:
                await websocket.send_text(frame if isinstance(frame, str) else json.dumps(frame))
            if self.hold:
                try:
                    await asyncio.wait_for(websocket.receive_text(), 120)
                except (WebSocketDisconnect, asyncio.TimeoutError):
                    return
            else:
                await websocket.close(code=1000)

        return Starlette(
            routes=[
                Route("/api/datachain/jobs/", jobs, methods=["GET"]),
                Route("/api/datachain/jobs/{job_id}/logs", logs, methods=["GET"]),
                Route("/api/datachain/jobs/{job_id}/cancel", cancel, methods=["POST"]),
                Route("/blobs/{name}", blob, methods=["GET"]),
                WebSocketRoute("/api/logs/follow/", follow),
            ]
        )


@contextmanager
def hostile_studio() -> Iterator[HostileStudio]:
    studio = HostileStudio()
    with serve(studio.app()) as server:
        studio.url = server.url
        try:
            yield studio
        finally:
            studio.closing.set()  # streaming answers end, so the server can stop


def trickle(every: float, total: int = 60) -> Callable[[HostileStudio], Response]:
    """A blob that sends one byte every ``every`` seconds (``total`` bytes, far longer than any test's
    deadline): each read is quick, the whole outlasts the wait. It stops when the test's server closes."""

    def respond(studio: HostileStudio) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(total):
                if studio.closing.is_set():
                    return
                yield b"x"
                await asyncio.sleep(every)

        return StreamingResponse(body(), media_type="text/plain")

    return respond


def sized(size: int) -> Callable[[HostileStudio], Response]:
    """A blob of ``size`` bytes of short lines."""
    return lambda _studio: Response(b"line\n" * (size // 5), media_type="text/plain")
