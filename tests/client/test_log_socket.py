"""The lean log socket (:mod:`studio_provider.client.log_socket`) against a real ``websockets`` server.

Each test runs a small server on a loopback port and drives the socket over it: message order and
fragments, keep-alives dropped but counted, WebSocket pings answered, normal and abnormal closes, a
refused upgrade, a server that never answers, flow control, TCP keep-alive, and the follower's cap on
handshakes in flight. Most run twice, over ``ws://`` and over ``wss://`` (a ``trustme`` certificate),
where the socket reads through :class:`~studio_provider.client.tls_transport.TLSSocketTransport`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.http11 import Request, Response

from studio_provider.client import AsyncStudioClient, StatusEvent, StudioConfig, follow_job, tls_transport
from studio_provider.client import follow as follow_module
from studio_provider.client.log_socket import QUEUE_HIGH, LogSocket, open_log_socket
from studio_provider.client.tls_transport import TLSSocketTransport

PING = json.dumps({"type": "ping"})
BOUND = 20.0


def is_ping(message: str | bytes) -> bool:
    return message == PING


CA = trustme.CA()
SERVER_TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
CA.issue_cert("127.0.0.1").configure_cert(SERVER_TLS)
CLIENT_TLS = ssl.create_default_context()
CA.configure_trust(CLIENT_TLS)


@pytest.fixture(params=["ws", "wss"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def server(
    handler: Callable[[ServerConnection], Awaitable[None]], scheme: str = "ws", **options: Any
) -> AsyncIterator[str]:
    tls = SERVER_TLS if scheme == "wss" else None
    async with serve(handler, "127.0.0.1", 0, ssl=tls, **options) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"{scheme}://127.0.0.1:{port}/logs/follow/?job_id=1&team_name=t"


async def open_socket(url: str, **options: Any) -> LogSocket:
    options.setdefault("ssl", CLIENT_TLS if url.startswith("wss:") else None)
    log_socket = await open_log_socket(
        url, headers={"Authorization": "Bearer x"}, open_timeout=5, skip=is_ping, **options
    )
    # wss:// must really take the direct TLS transport (the loop here is a selector loop).
    assert isinstance(log_socket.transport, TLSSocketTransport) == url.startswith("wss:")
    return log_socket


async def test_messages_arrive_in_order_keepalives_are_dropped_but_counted(scheme: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(PING)
        await ws.send('{"logs": [{"id": 1, "message": "one"}]}')
        await ws.send(["frag", "mented"])  # one message in three frames
        await ws.send(b"\x00\x01")
        await ws.send(PING)
        await ws.close(1000)

    async with server(handler, scheme) as url:
        log_socket = await open_socket(url)
        messages = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert messages == ['{"logs": [{"id": 1, "message": "one"}]}', "fragmented", b"\x00\x01"]
    assert log_socket.received == 5


async def test_the_authorization_header_is_sent(scheme: str) -> None:
    seen: list[str | None] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request.headers.get("Authorization"))
        await ws.close(1000)

    async with server(handler, scheme) as url:
        log_socket = await open_socket(url)
        await asyncio.wait_for(_collect(log_socket), BOUND)
    assert seen == ["Bearer x"]


async def test_an_abnormal_close_raises_connection_closed_error(scheme: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("last words")
        await ws.close(1011, "server error")

    async with server(handler, scheme) as url:
        log_socket = await open_socket(url)
        assert await asyncio.wait_for(log_socket.recv(), BOUND) == "last words"
        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(log_socket.recv(), BOUND)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1011


async def test_a_refused_upgrade_raises_invalid_status_with_the_body(scheme: str) -> None:
    async def refuse(connection: ServerConnection, request: Request) -> Response:
        body = b'{"message": "no such job"}'
        headers = Headers({"Content-Type": "application/json", "Content-Length": str(len(body))})
        return Response(404, "Not Found", headers, body)

    async def handler(ws: ServerConnection) -> None:  # never reached
        await ws.close()

    async with server(handler, scheme, process_request=refuse) as url:
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


async def test_websocket_pings_are_answered_so_the_server_keeps_the_socket(scheme: str) -> None:
    # The server pings every 0.1 s and drops the connection without a pong within 0.5 s.
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await asyncio.wait_for(release.wait(), BOUND)
        await ws.send("still here")
        await ws.close(1000)

    async with server(handler, scheme, ping_interval=0.1, ping_timeout=0.5) as url:
        log_socket = await open_socket(url)
        await asyncio.sleep(1.5)
        release.set()
        messages = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert messages == ["still here"]


async def test_close_runs_the_closing_handshake(scheme: str) -> None:
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        codes.append(ws.close_code)

    async with server(handler, scheme) as url:
        log_socket = await open_socket(url)
        await asyncio.wait_for(log_socket.close(), BOUND)
        for _ in range(200):  # bounded: the handler records the code once the server side closed
            if codes:
                break
            await asyncio.sleep(0.01)
    assert codes == [1000]
    assert log_socket.transport.is_closing()


async def test_a_slow_consumer_pauses_reading_and_loses_nothing(scheme: str) -> None:
    count = QUEUE_HIGH * 4

    async def handler(ws: ServerConnection) -> None:
        await asyncio.sleep(0.2)  # the test wraps pause_reading first
        for index in range(count):
            await ws.send(str(index))
        await ws.close(1000)

    async with server(handler, scheme) as url:
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


async def test_tcp_keepalive_is_on(scheme: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with server(handler, scheme) as url:
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


@pytest.mark.parametrize("read_size", [tls_transport.READ_SIZE, 1000])
async def test_messages_larger_than_a_tls_record_arrive_whole(
    read_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 16 KiB is the most one TLS record carries: these span several records and several reads. With
    # reads smaller than a record, the rest of each record waits decrypted inside OpenSSL, where the
    # selector cannot see it: the transport must read on while SSLSocket.pending() says so.
    monkeypatch.setattr(tls_transport, "READ_SIZE", read_size)
    big = ["x" * 100_000, "y" * 16_385, "z" * 3]
    last = "w" * 15_000  # one record, and then nothing more arrives on the socket until the client closes

    async def handler(ws: ServerConnection) -> None:
        for message in big:
            await ws.send(message)
        await ws.send(last)
        await ws.wait_closed()

    async with server(handler, "wss") as url:
        log_socket = await open_socket(url)
        received = [await asyncio.wait_for(log_socket.recv(), 5) for _ in range(len(big) + 1)]
        await asyncio.wait_for(log_socket.close(), BOUND)
    assert received == [*big, last]


async def test_a_certificate_the_context_does_not_trust_is_refused() -> None:
    async def handler(ws: ServerConnection) -> None:  # never reached
        await ws.close()

    async with server(handler, "wss") as url:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(open_socket(url, ssl=ssl.create_default_context()), BOUND)


async def test_a_closed_port_raises_os_error_over_tls() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(OSError):
        await asyncio.wait_for(
            open_log_socket(f"wss://127.0.0.1:{port}/x", headers={}, ssl=CLIENT_TLS, open_timeout=5), BOUND
        )


async def test_loops_without_reader_callbacks_fall_back_to_asyncio_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tls_transport, "supported", lambda loop: False)

    async def handler(ws: ServerConnection) -> None:
        await ws.send("over asyncio's TLS")
        await ws.close(1000)

    async with server(handler, "wss") as url:
        log_socket = await open_log_socket(url, headers={}, ssl=CLIENT_TLS, open_timeout=5)
        assert not isinstance(log_socket.transport, TLSSocketTransport)
        assert await asyncio.wait_for(_collect(log_socket), BOUND) == ["over asyncio's TLS"]


def test_a_configured_proxy_hands_the_socket_to_websockets(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "wss://studio.example.com/api/logs/follow/?job_id=1&team_name=t"
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "ws_proxy",
        "wss_proxy",
        "socks_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert not follow_module._proxied(url)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert follow_module._proxied(url)
    monkeypatch.setenv("NO_PROXY", "studio.example.com")
    assert not follow_module._proxied(url)


async def _collect(log_socket: LogSocket) -> list[str | bytes]:
    return [message async for message in log_socket]
