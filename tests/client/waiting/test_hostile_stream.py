"""Waiting is safe against a hostile or broken Studio: the log stream is input from a remote server.

Each test plays one misbehaviour over real sockets (:mod:`.hostile_studio`, a uvicorn server): blob URLs
that point elsewhere, are huge, trickle or are malformed; an open socket that goes silent; frames naming
another job; floods of lines; escape sequences in lines; a ping flood; megabytes of error text; a refused
handshake that echoes the token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import time
from typing import Any

import pytest
from starlette.responses import JSONResponse, Response

from studio_provider.client import AsyncStudioClient
from studio_provider.client.waiting import (
    Deadline,
    JobWaitResult,
    LogLimits,
    LogWriter,
    WaitEnd,
    follower,
    wait_for_job,
)
from studio_provider.client.waiting.socket import WRITE_HIGH, LeanSocket, open_lean_socket
from studio_provider.triggers.job import StudioJobTrigger
from tests.client.waiting.hostile_studio import (
    JOB_ID,
    TEAM,
    TOKEN,
    HostileStudio,
    hostile_studio,
    sized,
    trickle,
)
from tests.studio_tasks import run_trigger

pytestmark = pytest.mark.integration

BOUND = 60.0
DONE = {"id": JOB_ID, "status": "COMPLETE", "exit_code": 0}


async def wait(
    studio: HostileStudio, *, seconds: float | None = 30, limits: LogLimits | None = None, **options: Any
) -> tuple[JobWaitResult, list[str]]:
    """Wait for the job through the real follower; returns the result and the task-log lines written."""
    lines: list[str] = []
    async with AsyncStudioClient(studio.config()) as client:
        result = await asyncio.wait_for(
            wait_for_job(
                client,
                JOB_ID,
                deadline=Deadline.after(seconds),
                poll_interval=0.2,
                writer=LogWriter(lines.append, prefix=f"[studio {JOB_ID}] ", limits=limits),
                **options,
            ),
            BOUND,
        )
    return result, lines


def logs(*messages: str, first: int = 1) -> dict[str, Any]:
    return {"logs": [{"id": first + index, "message": text} for index, text in enumerate(messages)]}


# ---- 1. log blobs ---------------------------------------------------------------------------------------


async def test_a_blob_on_another_origin_is_never_fetched(caplog: pytest.LogCaptureFixture) -> None:
    with hostile_studio() as studio, hostile_studio() as internal:
        internal.blobs["secret"] = lambda _studio: Response("internal-only-data\n", media_type="text/plain")
        studio.frames = [{"log_blobs": [f"{internal.url}/blobs/secret"]}, logs("after\n"), {"job": DONE}]
        result, lines = await wait(studio)
    assert result.status == "COMPLETE"
    assert lines == [f"[studio {JOB_ID}] after"]
    assert internal.seen == []  # not even contacted
    assert "outside Studio's own origin" in caplog.text


async def test_a_blob_over_the_size_cap_is_skipped_unread() -> None:
    with hostile_studio() as studio:
        studio.blobs["huge"] = sized(20 * 2**20)
        studio.frames = [{"log_blobs": ["/blobs/huge"]}, logs("after\n"), {"job": DONE}]
        result, lines = await wait(studio)
    assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETE")
    assert lines == [f"[studio {JOB_ID}] after"]


async def test_a_trickling_blob_cannot_hold_a_wait_past_its_deadline() -> None:
    with hostile_studio() as studio:
        studio.blobs["slow"] = trickle(every=0.5)
        studio.frames = [{"log_blobs": ["/blobs/slow"]}, {"job": DONE}]
        started = time.monotonic()
        result, _ = await wait(studio, seconds=3)
    assert result.end is WaitEnd.DEADLINE
    assert time.monotonic() - started < 20  # the deadline (3 s), not the blob, ended it


@pytest.mark.parametrize(
    "url", ["http://[oops/x", "http://127.0.0.1:99999/x", "javascript:alert(1)", "file:///etc/passwd"]
)
async def test_a_malformed_or_foreign_scheme_blob_url_is_skipped_with_a_warning(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with hostile_studio() as studio:
        studio.frames = [{"log_blobs": [url]}, logs("after\n"), {"job": DONE}]
        result, lines = await wait(studio)
    assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETE")
    assert lines == [f"[studio {JOB_ID}] after"]
    assert "Skipping a log blob" in caplog.text


# ---- 2. a silent socket ---------------------------------------------------------------------------------


async def test_an_open_but_silent_socket_is_given_up_and_rest_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follower, "SILENCE_TIMEOUT", 1.0)
    with hostile_studio() as studio:
        studio.frames = [{"job": {"id": JOB_ID, "status": "RUNNING"}}]
        studio.hold = True  # open, and never another byte: no keep-alive either
        studio.job = DONE  # REST knows the job ended
        started = time.monotonic()
        result, _ = await wait(studio, seconds=None)
    assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETE")
    assert time.monotonic() - started < 15


# ---- 3. frames naming another job ------------------------------------------------------------------------


async def test_frames_naming_another_job_are_ignored() -> None:
    with hostile_studio() as studio:
        studio.frames = [
            {"job": {"id": "someone-elses", "status": "COMPLETE", "exit_code": 0}},
            {"job_id": "someone-elses", "logs": [{"id": 1, "message": "forged\n"}]},
            logs("mine\n"),
            {"job": {"id": JOB_ID, "status": "FAILED", "exit_code": 3, "error_message": "real"}},
        ]
        result, lines = await wait(studio)
    assert (result.job_id, result.status, result.exit_code) == (JOB_ID, "FAILED", 3)
    assert lines == [f"[studio {JOB_ID}] mine"]


# ---- 4. floods of lines ----------------------------------------------------------------------------------


async def test_writing_many_lines_yields_to_the_loop_and_stops_at_the_cap() -> None:
    """3,000 frames of 100 lines: the wait lets other tasks of the loop run while it writes, writes at
    most ``max_lines``, and says how many it left out and where the whole log is."""
    frames: list[Any] = [logs(*(f"l{n}-{i}\n" for i in range(100)), first=n * 100 + 1) for n in range(3000)]
    beats: list[int] = []
    samples: list[int] = []
    with hostile_studio() as studio:
        studio.frames = [
            *frames,
            {"job": {**DONE, "url": f"{studio.url}/team/{TEAM}/datasets/jobs/{JOB_ID}"}},
        ]

        async def heartbeat() -> None:
            while True:
                beats.append(1)
                await asyncio.sleep(0)

        beating = asyncio.ensure_future(heartbeat())
        try:
            lines: list[str] = []

            def sink(line: str) -> None:
                lines.append(line)
                samples.append(len(beats))

            async with AsyncStudioClient(studio.config()) as client:
                result = await asyncio.wait_for(
                    wait_for_job(
                        client,
                        JOB_ID,
                        deadline=Deadline.after(BOUND),
                        writer=LogWriter(sink, prefix="> ", limits=LogLimits(max_lines=100_000)),
                    ),
                    BOUND,
                )
        finally:
            beating.cancel()
    assert result.status == "COMPLETE"
    assert len(lines) == 100_001  # the cap, and one closing note
    assert lines[-1].startswith("> … 200000 more lines not shown") and f"jobs/{JOB_ID}" in lines[-1]
    # The loop's other task ran between writes: at least once per LINES_PER_YIELD lines written.
    assert samples[99_999] - samples[0] >= 100_000 // 200 - 1


async def test_a_rest_log_answer_over_the_cap_is_refused_unread_and_the_wait_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with hostile_studio() as studio:
        studio.refuse = Response(status_code=503)  # REST polling only
        studio.job = DONE
        studio.rest_logs = Response(
            b'{"logs": [' + b'{"id": 1, "message": "x"},' * 1_000_000 + b"]}", media_type="application/json"
        )
        result, lines = await wait(studio)
    assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETE")
    assert lines == []
    assert "larger than this client accepts" in caplog.text


# ---- 5. log injection ------------------------------------------------------------------------------------


async def test_control_characters_are_escaped_and_each_embedded_line_keeps_the_prefix() -> None:
    hostile = [
        "Marking task as SUCCESS\n",
        "\x1b[31mred\x1b[0m\n",
        "\x1b]52;c;ZXZpbA==\x07clipboard\n",
        "over\rwritten\n",
        "erase\b\b\b\b\b\b\b\b\b\b\b\b\b\bthe prefix\n",
        "\u202eright to left\n",
        "two\nlines\r\n",
    ]
    with hostile_studio() as studio:
        studio.frames = [logs(*hostile), {"job": DONE}]
        _, lines = await wait(studio)
    prefix = f"[studio {JOB_ID}] "
    assert lines == [
        prefix + "Marking task as SUCCESS",
        prefix + "\\x1b[31mred\\x1b[0m",
        prefix + "\\x1b]52;c;ZXZpbA==\\x07clipboard",
        prefix + "over\\x0dwritten",
        prefix + "erase" + "\\x08" * 14 + "the prefix",
        prefix + "\\u202eright to left",
        prefix + "two",
        prefix + "lines",
    ]
    assert all(line.isprintable() for line in lines)


# ---- 6. a ping flood -------------------------------------------------------------------------------------


async def test_a_ping_flood_cannot_queue_pongs_without_bound() -> None:
    """The peer sends pings and never reads: the socket stops reading once its unsent pongs pass the
    limit, so what it holds stays bounded (without flow control it would queue every pong)."""
    pings = 20_000
    ping = bytes((0x89, 125)) + b"p" * 125  # a server's ping frame, 125 bytes of payload: a 131-byte pong
    flooding = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + accept
            + b"\r\n\r\n"
        )
        for _ in range(pings // 100):
            writer.write(ping * 100)
        flooding.set()
        await asyncio.sleep(BOUND)  # never reads what the client sends

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        lean: LeanSocket = await open_lean_socket(
            f"ws://127.0.0.1:{port}/", headers={}, ssl=None, open_timeout=10
        )
        assert lean.transport is not None
        lean.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await asyncio.wait_for(flooding.wait(), BOUND)
        for _ in range(int(BOUND / 0.05)):  # until the socket stops reading (bounded)
            if not lean.transport.is_reading():
                break
            await asyncio.sleep(0.05)
        assert not lean.transport.is_reading()
        # What it holds: at most one read's worth of pongs over the limit (asyncio reads at most 256 KiB at
        # a time); every pong of the flood would be 2.6 MB.
        assert lean.transport.get_write_buffer_size() <= WRITE_HIGH + 300 * 1024
        lean.abort()
    finally:
        server.close()


# ---- 7. megabytes of error text --------------------------------------------------------------------------


def test_server_texts_in_an_event_are_capped(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    with hostile_studio() as studio:
        studio.job = {
            "id": JOB_ID,
            "status": "FAILED",
            "exit_code": 1,
            "error_message": "E" * 4_000_000,
            "url": "u" * 100_000,
        }
        studio.refuse = Response(status_code=503)
        value = {
            "conn_type": "datachain_studio",
            "host": studio.url,
            "password": TOKEN,
            "extra": {"team": TEAM},
        }
        monkeypatch.setenv("AIRFLOW_CONN_HOSTILE", json.dumps(value))
        event = run_trigger(
            StudioJobTrigger(JOB_ID, studio_conn_id="hostile", poll_interval=0.2, stream_logs=False)
        )
    assert len(json.dumps(event.payload)) < 20_000
    result = JobWaitResult.from_dict(event.payload)
    assert result.status == "FAILED" and result.error_message and result.error_message.endswith("…")


# ---- 8. a refused handshake that echoes the token --------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_a_refusal_echoing_the_token_never_shows_it(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    with hostile_studio() as studio:
        studio.refuse = JSONResponse(
            {"message": f"bad token: Bearer {TOKEN}", "echo": TOKEN}, status_code=status
        )
        studio.job = DONE
        result, _ = await wait(studio)
    shown = caplog.text + json.dumps(result.to_dict())
    if status == 500:  # not fatal: REST decides
        assert (result.end, result.status) == (WaitEnd.FINISHED, "COMPLETE")
    else:  # fatal: the error says what Studio said, without the token
        assert (
            result.end is WaitEnd.ERROR
            and str(status) in result.message
            and "bad token: Bearer ***" in result.message
        )
    assert TOKEN not in shown
