"""The lean log socket (:mod:`studio_provider.client.waiting.socket`) against a real ``websockets`` server.

Each test runs a small server on a loopback port and drives the socket over it: message order and
fragments, keep-alives dropped but counted, WebSocket pings answered, normal and abnormal closes, a
refused upgrade, a server that never answers, flow control, TCP keep-alive, and the follower's cap on
handshakes in flight. Most run twice, over ``ws://`` and over ``wss://`` (a ``trustme`` certificate),
where the socket reads through :class:`~studio_provider.client.waiting.tls_transport.TLSSocketTransport`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
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

from studio_provider.client import AsyncStudioClient, StudioConfig
from studio_provider.client.waiting import StatusEvent, follow_job, tls_transport
from studio_provider.client.waiting import follower as follow_module
from studio_provider.client.waiting.socket import QUEUE_HIGH, LeanSocket, open_lean_socket, proxied
from studio_provider.client.waiting.tls_transport import TLSSocketTransport

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


async def open_socket(url: str, **options: Any) -> LeanSocket:
    options.setdefault("ssl", CLIENT_TLS if url.startswith("wss:") else None)
    log_socket = await open_lean_socket(
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
                open_lean_socket(f"ws://127.0.0.1:{port}/x", headers={}, ssl=None, open_timeout=0.5), BOUND
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
            open_lean_socket(f"wss://127.0.0.1:{port}/x", headers={}, ssl=CLIENT_TLS, open_timeout=5), BOUND
        )


async def test_loops_without_reader_callbacks_fall_back_to_asyncio_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tls_transport, "supported", lambda loop: False)

    async def handler(ws: ServerConnection) -> None:
        await ws.send("over asyncio's TLS")
        await ws.close(1000)

    async with server(handler, "wss") as url:
        log_socket = await open_lean_socket(url, headers={}, ssl=CLIENT_TLS, open_timeout=5)
        assert not isinstance(log_socket.transport, TLSSocketTransport)
        assert await asyncio.wait_for(_collect(log_socket), BOUND) == ["over asyncio's TLS"]


# ---- frames written byte by byte: the fast path and what it hands to websockets ----------------------------


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One server frame as raw bytes (unmasked unless ``mask``), any length encoding."""
    size = len(payload)
    if size < 126:
        head = bytes((size,))
    elif size < 2**16:
        head = bytes((126,)) + size.to_bytes(2, "big")
    else:
        head = bytes((127,)) + size.to_bytes(8, "big")
    first = (0x80 if fin else 0) | rsv | opcode
    if mask is not None:
        head = bytes((head[0] | 0x80,)) + head[1:] + mask
        payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return bytes((first,)) + head + payload


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame from the client (masked, as RFC 6455 requires): its opcode and unmasked payload."""
    first, second = await reader.readexactly(2)
    assert second & 0x80, "a client frame must be masked"
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4)
    data = await reader.readexactly(size)
    return first & 0x0F, bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))


@asynccontextmanager
async def raw_server(
    script: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], first: bytes = b""
) -> AsyncIterator[str]:
    """A hand-written WebSocket server: it answers the upgrade with ``first`` in the same write (so in one
    segment, as real servers often send the first frames), then ``script`` writes raw frames."""
    done: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + first
        )
        try:
            await script(reader, writer)
        finally:
            writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done.append(asyncio.ensure_future(handle(reader, writer)))

    tcp = await asyncio.start_server(track, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{tcp.sockets[0].getsockname()[1]}/logs/follow/?job_id=1&team_name=t"
        for task in done:
            await asyncio.wait_for(task, BOUND)  # the script's own assertions
    finally:
        tcp.close()
        await tcp.wait_closed()


async def test_frames_in_the_handshakes_segment_split_anywhere_and_every_length_encoding() -> None:
    # The second message's payload is made of what look like whole frames: a reader that lost its place
    # in the stream (after the bytes that came with the 101 response) would deliver "fake!" messages.
    lookalike = frame(0x1, b"fake!") * 60
    messages: list[str | bytes] = ["first, in the 101's segment", lookalike, "y" * 70_000, "ünïcödé"]
    stream = b"".join(frame(0x1, m.encode()) if isinstance(m, str) else frame(0x2, m) for m in messages)
    cut = len(frame(0x1, b"first, in the 101's segment")) + 4 + 7  # a lookalike frame starts here

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)  # the client reads the 101 and the first bytes alone
        for index in range(cut, 500):  # byte by byte, through length fields and payloads
            writer.write(stream[index : index + 1])
            await writer.drain()
        writer.write(stream[500:] + frame(0x8, (1000).to_bytes(2, "big")))
        await writer.drain()
        assert await read_client_frame(reader) == (0x8, (1000).to_bytes(2, "big"))  # the close is echoed

    async with raw_server(script, first=stream[:cut]) as url:
        log_socket = await open_socket(url)
        received = await asyncio.wait_for(_collect(log_socket), BOUND)
    assert received == messages


async def test_a_ping_is_answered_with_its_own_payload_masked() -> None:
    payloads = [b"", b"abc", b"\x00\x01\x02\x03\x04", bytes(range(125))]

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for payload in payloads:
            writer.write(frame(0x9, payload))
            await writer.drain()
            assert await asyncio.wait_for(read_client_frame(reader), BOUND) == (0xA, payload)
        writer.write(frame(0xA, b"unasked") + frame(0x1, b"after the pings"))  # an unsolicited pong: ignored
        writer.write(frame(0x8, (1000).to_bytes(2, "big")))
        await writer.drain()
        await read_client_frame(reader)

    async with raw_server(script) as url:
        log_socket = await open_socket(url)
        assert await asyncio.wait_for(_collect(log_socket), BOUND) == ["after the pings"]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (frame(0x1, b"\xff\xfe not UTF-8"), 1007),
        (frame(0x1, b"\xff\xfe", fin=False) + frame(0x0, b" not UTF-8"), 1007),  # assembled by websockets
        (frame(0x1, b"masked", mask=b"\x01\x02\x03\x04"), 1002),
        (frame(0x1, b"reserved bit", rsv=0x40), 1002),
        (frame(0x3, b"reserved opcode"), 1002),
        (frame(0x9, b"p" * 126), 1002),  # a control frame longer than 125 bytes
        (frame(0x9, b"fragmented ping", fin=False), 1002),
        (frame(0x0, b"a continuation of nothing"), 1002),
    ],
    ids=[
        "bad-utf8",
        "bad-utf8-fragmented",
        "masked",
        "rsv",
        "opcode",
        "long-ping",
        "fragmented-ping",
        "stray-continuation",
    ],
)
async def test_a_broken_frame_fails_the_connection_with_the_rfc_code(bad: bytes, code: int) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(0x1, b"good") + bad + frame(0x1, b"never delivered"))
        await writer.drain()
        opcode, payload = await asyncio.wait_for(read_client_frame(reader), BOUND)
        assert (opcode, payload[:2]) == (0x8, code.to_bytes(2, "big"))  # then websockets' reason

    async with raw_server(script) as url:
        log_socket = await open_socket(url)
        assert await asyncio.wait_for(log_socket.recv(), BOUND) == "good"
        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(log_socket.recv(), BOUND)
    assert caught.value.sent is not None and caught.value.sent.code == code


async def test_fragments_after_fast_frames_are_assembled_by_websockets() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            frame(0x1, b"one")
            + frame(0x9, b"pp")
            + frame(0x1, b"frag", fin=False)
            + frame(0x0, b"men", fin=False)
            + frame(0x9, b"qq")  # a ping between fragments, answered by websockets now
            + frame(0x0, b"ted")
            + frame(0x1, b"two")
            + frame(0x8, (1000).to_bytes(2, "big"))
        )
        await writer.drain()
        assert await read_client_frame(reader) == (0xA, b"pp")
        assert await read_client_frame(reader) == (0xA, b"qq")
        assert await read_client_frame(reader) == (0x8, (1000).to_bytes(2, "big"))

    async with raw_server(script) as url:
        log_socket = await open_socket(url)
        assert await asyncio.wait_for(_collect(log_socket), BOUND) == ["one", "fragmented", "two"]


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
    assert not proxied(url)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxied(url)
    monkeypatch.setenv("NO_PROXY", "studio.example.com")
    assert not proxied(url)


async def _collect(log_socket: LeanSocket) -> list[str | bytes]:
    return [message async for message in log_socket]
