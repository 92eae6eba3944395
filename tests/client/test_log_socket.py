"""The lean log socket (:mod:`studio_provider.client.log_socket`) against a real ``websockets`` server.

Each test runs a small server on a loopback port and drives the socket over it: message order and
fragments, keep-alives dropped but counted, WebSocket pings answered, normal and abnormal closes, a
refused upgrade, a server that never answers, flow control, TCP keep-alive, and the follower's cap on
handshakes in flight.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Request, Response

from studio_provider.client import AsyncStudioClient, StatusEvent, StudioConfig, follow_job
from studio_provider.client import follow as follow_module
from studio_provider.client.log_socket import QUEUE_HIGH, LogSocket, open_log_socket

PING = json.dumps({"type": "ping"})
BOUND = 20.0


def is_ping(message: str | bytes) -> bool:
    return message == PING


@asynccontextmanager
async def server(
    handler: Callable[[ServerConnection], Awaitable[None]], **options: Any
) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **options) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/logs/follow/?job_id=1&team_name=t"


async def open_socket(url: str, **options: Any) -> LogSocket:
    return await open_log_socket(
        url, headers={"Authorization": "Bearer x"}, ssl=None, open_timeout=5, skip=is_ping, **options
    )


async def test_messages_arrive_in_order_keepalives_are_dropped_but_counted() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(PING)
        await ws.send('{"logs": [{"id": 1, "message": "one"}]}')
        await ws.send(["frag", "mented"])  # one message in three frames
        await ws.send(b"\x00\x01")
        await ws.send(PING)
        await ws.close(1000)

    async with server(handler) as url:
        log_socket = await open_socket(url)
        messages = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert messages == ['{"logs": [{"id": 1, "message": "one"}]}', "fragmented", b"\x00\x01"]
    assert log_socket.received == 5


async def test_the_authorization_header_is_sent() -> None:
    seen: list[str | None] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request.headers.get("Authorization"))
        await ws.close(1000)

    async with server(handler) as url:
        log_socket = await open_socket(url)
        await asyncio.wait_for(_collect(log_socket), BOUND)
    assert seen == ["Bearer x"]


async def test_an_abnormal_close_raises_connection_closed_error() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(1011, "server error")

    async with server(handler) as url:
        log_socket = await open_socket(url)
        assert await asyncio.wait_for(log_socket.recv(), BOUND) == "last words"
        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(log_socket.recv(), BOUND)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1011


async def test_a_refused_upgrade_raises_invalid_status_with_the_body() -> None:
    async def refuse(connection: ServerConnection, request: Request) -> Response:
        body = b'{"message": "no such job"}'
        headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
        return Response(404, "Not Found", headers, body)

    async def handler(ws: ServerConnection) -> None:  # never reached
        await ws.close()

    async with server(handler, process_request=refuse) as url:
        with pytest.raises(InvalidStatus) as caught:
            await asyncio.wait_for(open_socket(url), BOUND)
    assert caught.value.response.status_code == 404
    assert b"no such job" in caught.value.response.body


async def test_a_server_that_never_answers_times_out() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept the TCP connection and say nothing

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                open_log_socket(f"ws://127.0.0.1:{port}/x", headers={}, ssl=None, open_timeout=0.5), BOUND
            )
    finally:
        for writer in held:
            writer.close()
        tcp.close()
        await tcp.wait_closed()


async def test_websocket_pings_are_answered_so_the_server_keeps_the_socket() -> None:
    # The server pings every 0.1 s and drops the connection without a pong within 0.5 s.
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await asyncio.wait_for(release.wait(), BOUND)
        await ws.send("still here")
        await ws.close(1000)

    async with server(handler, ping_interval=0.1, ping_timeout=0.5) as url:
        log_socket = await open_socket(url)
        await asyncio.sleep(1.5)
        release.set()
        messages = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert messages == ["still here"]


async def test_close_runs_the_closing_handshake() -> None:
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async with server(handler) as url:
        log_socket = await open_socket(url)
        await asyncio.wait_for(log_socket.close(), BOUND)
        for _ in range(200):  # bounded: the handler records the code once the server side closed
            if codes:
                break
            await asyncio.sleep(0.01)
    assert codes == [1000]
    assert log_socket.transport.is_closing()


async def test_a_slow_consumer_pauses_reading_and_loses_nothing() -> None:
    count = QUEUE_HIGH * 4

    async def handler(ws: ServerConnection) -> None:
        await asyncio.sleep(0.2)  # the test wraps pause_reading first
        for index in range(count):
            await ws.send(str(index))
        await ws.close(1000)

    async with server(handler) as url:
        log_socket = await open_socket(url)
        pauses: list[int] = []
        pause = log_socket.transport.pause_reading

        def counted_pause() -> None:
            pauses.append(1)
            pause()

        log_socket.transport.pause_reading = counted_pause  # type: ignore[method-assign]
        await asyncio.sleep(0.7)  # let the server's burst fill the queue before reading
        messages = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert messages == [str(index) for index in range(count)]
    assert pauses, "reading never paused although the queue passed its high mark"


async def test_tcp_keepalive_is_on() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with server(handler) as url:
        log_socket = await open_socket(url)
        sock = log_socket.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
        await asyncio.wait_for(log_socket.close(), BOUND)


async def test_the_follower_caps_handshakes_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow_module, "MAX_HANDSHAKES", 3)
    in_flight = [0]
    most = [0]

    async def slow_accept(connection: ServerConnection, request: Request) -> None:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.1)
        in_flight[0] -= 1

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"job": {"status": "COMPLETE", "exit_code": 0}}))
        await ws.close(1000)

    async with server(handler, process_request=slow_accept) as url:
        base = url.split("/logs/", 1)[0].replace("ws://", "http://")
        config = StudioConfig(url=f"{base}/api", token="tok-en", team="t")
        async with AsyncStudioClient(config) as client:

            async def one(job_id: str) -> StatusEvent:
                events = [event async for event in follow_job(client, job_id)]
                assert isinstance(events[-1], StatusEvent)
                return events[-1]

            finals = await asyncio.wait_for(asyncio.gather(*(one(str(i)) for i in range(12))), BOUND)
    assert [event.job.status.value for event in finals] == ["COMPLETE"] * 12
    assert most[0] == 3


def test_a_configured_proxy_hands_the_socket_to_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "wss://studio.example.com/api/logs/follow/?job_id=1&team_name=t"
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy", "socks_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert not follow_module._proxied(url)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert follow_module._proxied(url)
    monkeypatch.setenv("NO_PROXY", "studio.example.com")
    assert not follow_module._proxied(url)


async def _collect(log_socket: LogSocket) -> list[str | bytes]:
    return [message async for message in log_socket]
