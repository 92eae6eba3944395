"""The direct TLS transport (:mod:`studio_provider.client.tls_transport`) against a real asyncio TLS server.

The log socket tests cover what a WebSocket needs (frames, pings, closes, flow control over ``wss://``);
these cover the transport's own duties: writes larger than the socket takes at once queue and go out
whole and in order, ``close`` sends them before closing, ``abort`` does not wait, and the peer's close
reaches the protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trustme

from studio_provider.client.waiting.tls_transport import TLSSocketTransport, open_tls_connection

CA = trustme.CA()
SERVER_TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
CA.issue_cert("localhost").configure_cert(SERVER_TLS)
CLIENT_TLS = ssl.create_default_context()
CA.configure_trust(CLIENT_TLS)
BOUND = 20.0


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


@asynccontextmanager
async def tls_server(
    handler: object,
) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=SERVER_TLS)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_large_writes_queue_and_arrive_whole_before_close() -> None:
    # 8 MiB is far more than the socket buffers hold while the server sleeps: OpenSSL refuses writes,
    # they queue, and close() must still send every byte (then the server sees EOF).
    chunks = [bytes([index]) * (512 * 1024) for index in range(16)]
    digest: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        data = await reader.read()  # until EOF
        digest.set_result((len(data), hashlib.sha256(data).hexdigest()))
        writer.close()

    async with tls_server(handler) as port:
        transport, protocol = await open_tls_connection(Recorder, "localhost", port, context=CLIENT_TLS)
        assert isinstance(transport, TLSSocketTransport)
        for chunk in chunks:
            transport.write(chunk)
        assert transport.get_write_buffer_size() > 0, "the socket took 8 MiB at once: nothing was queued"
        transport.close()
        assert transport.is_closing()
        size, sha = await asyncio.wait_for(digest, BOUND)
        await asyncio.wait_for(protocol.lost, BOUND)
    expected = b"".join(chunks)
    assert (size, sha) == (len(expected), hashlib.sha256(expected).hexdigest())


async def test_data_both_ways_and_the_peers_close_reaches_the_protocol() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"echo " + line)
        await writer.drain()
        writer.close()

    async with tls_server(handler) as port:
        transport, protocol = await open_tls_connection(Recorder, "localhost", port, context=CLIENT_TLS)
        assert transport.get_extra_info("peername")[1] == port
        transport.write(b"hello\n")
        assert await asyncio.wait_for(protocol.lost, BOUND) is None
    assert bytes(protocol.received) == b"echo hello\n"
    assert transport.is_closing()


async def test_abort_closes_at_once_and_drops_what_is_queued() -> None:
    hold = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    async with tls_server(handler) as port:
        transport, protocol = await open_tls_connection(Recorder, "localhost", port, context=CLIENT_TLS)
        for _ in range(16):
            transport.write(b"x" * (512 * 1024))
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        assert await asyncio.wait_for(protocol.lost, BOUND) is None
        transport.write(b"after the end")  # ignored, like asyncio's transports
        hold.set()
