"""The follower's reading of every frame shape, against a scripted Studio on real sockets.

The emulator sends one shape of each frame; these tests play the others the protocol note lists
(``log_blobs``, ``{"type": "log"}``/``{"type": "status"}``, the ``{"message"}`` error frame, an early
clean close) from a small ``websockets`` server that also answers the REST reads and serves the blobs.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from studio_provider.client import AsyncStudioClient, Job, JobStatus, LogLine, StudioConfig, StudioTLSError
from studio_provider.client.waiting import LogEvent, StatusEvent, follow_job
from studio_provider.client.waiting.frames import is_keepalive

TOKEN = "fr4mes-s3cr3t-T0KEN"
TEAM = "frames-team"
JOB_ID = "job-7"
BOUND = 30.0


def json_response(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload).encode()
    headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
    return Response(status, "OK" if status < 400 else "Error", headers, body)


@dataclass
class ScriptedStudio:
    """Each WebSocket connection plays the next session's frames, then closes (or stays open)."""

    sessions: list[list[Any]] = field(default_factory=list)
    rest_jobs: list[dict[str, Any]] = field(default_factory=list)
    rest_logs: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)
    hold_open: bool = False
    http: list[tuple[str, Headers]] = field(default_factory=list)
    handshakes: list[tuple[str, Headers]] = field(default_factory=list)
    server: Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(next(iter(self.server.sockets)).getsockname()[1])

    def paths(self, prefix: str) -> list[str]:
        return [path for path, _ in self.http if path.startswith(prefix)]

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self.handshakes.append((request.path, request.headers))
            return None
        self.http.append((request.path, request.headers))
        path = request.path.split("?", 1)[0]
        if path.rstrip("/") == "/api/datachain/jobs":
            job = self.rest_jobs.pop(0) if len(self.rest_jobs) > 1 else self.rest_jobs[0]
            return json_response([job])
        if path == f"/api/datachain/jobs/{JOB_ID}/logs":
            return json_response({"logs": self.rest_logs})
        if path in self.blobs:
            return connection.respond(200, self.blobs[path])
        return json_response({"message": "not here"}, 404)

    async def handler(self, websocket: ServerConnection) -> None:
        frames = self.sessions.pop(0) if self.sessions else []
        for frame in frames:
            await websocket.send(frame if isinstance(frame, str) else json.dumps(frame))
        if self.hold_open:  # until the client leaves
            await asyncio.wait_for(websocket.wait_closed(), BOUND)


@pytest.fixture
async def studio() -> AsyncIterator[ScriptedStudio]:
    scripted = ScriptedStudio()
    async with serve(scripted.handler, "127.0.0.1", 0, process_request=scripted.process_request) as server:
        scripted.server = server
        yield scripted


@pytest.fixture
async def elsewhere() -> AsyncIterator[ScriptedStudio]:
    """Another origin (a signed object-store URL, say): it must never see the token."""
    scripted = ScriptedStudio()
    async with serve(scripted.handler, "127.0.0.1", 0, process_request=scripted.process_request) as server:
        scripted.server = server
        yield scripted


def config_for(studio: ScriptedStudio, scheme: str = "http", verify: Any = True) -> StudioConfig:
    config = StudioConfig.resolve(
        url=f"{scheme}://127.0.0.1:{studio.port}", token=TOKEN, team=TEAM, environ={}, extras={"timeout": 5}
    )
    if verify is not True:
        # StudioConfig.resolve reads booleans; the follower also honours what httpx accepts.
        config = StudioConfig(**{**config.__dict__, "verify": verify})
    return config


async def run(client: AsyncStudioClient, **kwargs: Any) -> tuple[list[LogLine], list[Job]]:
    lines: list[LogLine] = []
    statuses: list[Job] = []

    async def consume() -> None:
        async for event in follow_job(client, JOB_ID, **kwargs):
            if isinstance(event, LogEvent):
                lines.append(event.line)
            else:
                assert isinstance(event, StatusEvent)
                statuses.append(event.job)

    await asyncio.wait_for(consume(), BOUND)
    return lines, statuses


FINAL_JOB = {"id": JOB_ID, "status": "COMPLETE", "exit_code": 0, "url": "https://studio.test/jobs/job-7"}


async def test_every_frame_shape(studio: ScriptedStudio, elsewhere: ScriptedStudio) -> None:
    elsewhere.blobs["/signed/chunk-2"] = json.dumps([{"id": 1, "message": "x\n"}, {"id": 2, "message": "y\n"}])
    studio.blobs["/blobs/chunk-1.txt"] = "a\nb\n"
    signed = f"http://127.0.0.1:{elsewhere.port}/signed/chunk-2"
    studio.sessions = [
        [
            {"type": "ping"},
            {"log_blobs": ["/blobs/chunk-1.txt", signed]},
            {"logs": [{"id": 3, "message": "c\n"}]},
            {"type": "log", "timestamp": "2024-01-15T10:30:00Z", "level": "INFO", "message": "no id\n"},
            "not json",
            ["a", "list"],
            {"type": "status", "status": "running", "progress": 25, "message": "Processing batch 1 of 4"},
            {"logs": [{"id": 3, "message": "c\n"}, {"id": 4, "message": "d\n"}]},
            {"log_blobs": ["/blobs/chunk-1.txt"]},  # the same blob again: fetched once
            {"type": "ping"},
            {"job": {"id": JOB_ID, "status": "COMPLETE"}},  # no outcome: one REST read completes it
        ]
    ]
    studio.rest_jobs = [FINAL_JOB]

    async with AsyncStudioClient(config_for(studio)) as client:
        lines, statuses = await run(client)

    # The blob on another origin is skipped: a blob URL is the server's word, and only Studio's own
    # origin is read (with the connection's token).
    assert [line.message for line in lines] == ["a\n", "b\n", "c\n", "no id\n", "d\n"]
    # Lines without an id carry the last id before them: always a safe resume point.
    assert [line.id for line in lines] == [0, 0, 3, 3, 4]
    assert [job.status for job in statuses] == [JobStatus.RUNNING, JobStatus.COMPLETE]
    assert (statuses[-1].url, statuses[-1].exit_code) == (FINAL_JOB["url"], 0)  # the one final REST read
    assert studio.paths("/api/datachain/jobs") == [f"/api/datachain/jobs/?team_name={TEAM}&job_id={JOB_ID}&limit=20"]
    # The socket and the same-origin blob carry the token; the other origin is never contacted.
    (ws_path, ws_headers), = studio.handshakes
    assert ws_path == f"/api/logs/follow/?job_id={JOB_ID}&team_name={TEAM}"
    assert ws_headers["Authorization"] == f"Bearer {TOKEN}"
    assert [headers.get("Authorization") for path, headers in studio.http if path.startswith("/blobs/")] == [
        f"Bearer {TOKEN}"
    ]
    assert elsewhere.http == []


async def test_an_error_frame_ends_the_socket_and_rest_decides(studio: ScriptedStudio) -> None:
    studio.hold_open = True  # only the client's reaction to the error frame can end this session
    studio.sessions = [[{"job": {"id": JOB_ID, "status": "RUNNING"}}, {"message": "Internal error"}]]
    studio.rest_jobs = [FINAL_JOB]
    studio.rest_logs = [{"id": 1, "message": "one\n"}, {"id": 2, "message": "two\n"}]

    async with AsyncStudioClient(config_for(studio)) as client:
        lines, statuses = await run(client, poll_interval=0.1)

    assert [line.message for line in lines] == ["one\n", "two\n"]
    assert [job.status for job in statuses] == [JobStatus.RUNNING, JobStatus.COMPLETE]
    assert len(studio.handshakes) == 1


async def test_an_early_clean_close_reconnects_and_drops_replayed_lines(studio: ScriptedStudio) -> None:
    studio.sessions = [
        [{"job": {"id": JOB_ID, "status": "RUNNING"}}, {"logs": [{"id": 1, "message": "one\n"}]}],
        [
            {"job": {"id": JOB_ID, "status": "RUNNING"}},
            {"logs": [{"id": 1, "message": "one\n"}, {"id": 2, "message": "two\n"}]},
            {"job": {"id": JOB_ID, "status": "FAILED", "exit_code": 2, "error_message": "boom"}},
        ],
    ]
    studio.rest_jobs = [
        {"id": JOB_ID, "status": "RUNNING"},
        {"id": JOB_ID, "status": "FAILED", "exit_code": 2, "error_message": "boom"},
    ]

    async with AsyncStudioClient(config_for(studio)) as client:
        lines, statuses = await run(client, poll_interval=30)

    assert [line.message for line in lines] == ["one\n", "two\n"]
    assert [job.status for job in statuses] == [JobStatus.RUNNING, JobStatus.FAILED]
    assert (statuses[-1].exit_code, statuses[-1].error_message) == (2, "boom")
    assert len(studio.handshakes) == 2
    # One status read when the socket closed early; no polling while the socket worked, and no final
    # read: the last frame had the outcome.
    assert len(studio.paths("/api/datachain/jobs")) == 1


async def test_a_resumed_follow_skips_old_lines_and_unnumbered_blobs(studio: ScriptedStudio) -> None:
    studio.blobs["/blobs/old.txt"] = "old 1\nold 2\n"
    studio.sessions = [
        [
            {"log_blobs": ["/blobs/old.txt"]},
            {"logs": [{"id": 5, "message": "five\n"}, {"id": 6, "message": "six\n"}]},
            {"job": {"id": JOB_ID, "status": "COMPLETE", "exit_code": 0}},
        ]
    ]
    studio.rest_jobs = [FINAL_JOB]

    async with AsyncStudioClient(config_for(studio)) as client:
        lines, _ = await run(client, after_log_id=5)

    assert [(line.id, line.message) for line in lines] == [(6, "six\n")]


async def test_the_stream_status_stands_when_the_final_read_is_skipped(studio: ScriptedStudio) -> None:
    studio.sessions = [[{"job": {"id": JOB_ID, "status": "CANCELED", "exit_code": None}}]]
    studio.rest_jobs = [FINAL_JOB]

    async with AsyncStudioClient(config_for(studio)) as client:
        lines, statuses = await run(client, final_status_read=False)

    assert lines == []
    assert [job.status for job in statuses] == [JobStatus.CANCELED]
    assert studio.http == []  # a single request per wait: the handshake


@pytest.fixture
def tls(tmp_path: Any) -> tuple[ssl.SSLContext, ssl.SSLContext, str]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return server_context, client_context, str(bundle)


@pytest.mark.parametrize("trust", ["context", "bundle", "no-verify"])
async def test_wss_honours_the_tls_setting(tls: tuple[ssl.SSLContext, ssl.SSLContext, str], trust: str) -> None:
    server_context, client_context, bundle = tls
    studio = ScriptedStudio(
        sessions=[[{"logs": [{"id": 1, "message": "secure\n"}]}, {"job": {"id": JOB_ID, "status": "COMPLETE"}}]],
        rest_jobs=[FINAL_JOB],
    )
    async with serve(
        studio.handler, "127.0.0.1", 0, process_request=studio.process_request, ssl=server_context
    ) as server:
        studio.server = server
        verify = {"context": client_context, "bundle": bundle, "no-verify": False}[trust]
        async with AsyncStudioClient(config_for(studio, scheme="https", verify=verify)) as client:
            lines, statuses = await run(client, final_status_read=False)

    assert [line.message for line in lines] == ["secure\n"]
    assert statuses[-1].status is JobStatus.COMPLETE


async def test_an_untrusted_certificate_is_not_retried_forever(tls: tuple[ssl.SSLContext, ssl.SSLContext, str]) -> None:
    server_context, _, _ = tls
    studio = ScriptedStudio(rest_jobs=[FINAL_JOB])
    async with serve(
        studio.handler, "127.0.0.1", 0, process_request=studio.process_request, ssl=server_context
    ) as server:
        studio.server = server
        async with AsyncStudioClient(config_for(studio, scheme="https")) as client:
            with pytest.raises(StudioTLSError) as caught:
                await run(client)
    assert TOKEN not in str(caught.value)
    assert len(studio.http) == 0  # the REST read failed at the handshake too: nothing was served


@pytest.mark.parametrize(
    ("message", "keepalive"),
    [
        ('{"type":"ping"}', True),  # Starlette's compact JSON
        ('{"type": "ping"}', True),  # json.dumps
        (b'{"type":"ping"}', True),
        ('{ "type" : "ping" }', True),  # another spelling: decoded
        ('{"type":"ping","logs":[{"id":1,"message":"ping"}]}', False),
        ('{"type":"pong"}', False),
        ('"ping"', False),
        ('{"logs":[{"id":1,"message":"ping"}]}', False),
        ("not json ping", False),
    ],
)
def test_keepalives_are_recognised_in_any_spelling_and_nothing_else(
    message: str | bytes, keepalive: bool
) -> None:
    assert is_keepalive(message) is keepalive
