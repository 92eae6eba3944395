"""Log stream sockets: one open WebSocket to Studio's ``logs/follow/``, read message by message.

Frames are always parsed by the ``websockets`` library. Two ways to open one, with the same
keep-alive behaviour (no client pings; the server's pings are answered; TCP keep-alive finds a dead
peer; the follower's silence watchdog reads :attr:`LogStream.last_activity`):

- :func:`open_lean_socket`: ``websockets``' Sans-I/O ``ClientProtocol`` on an asyncio protocol of ours.
  On a selector event loop a ``wss://`` URL reads through :mod:`.tls_transport`, a small TLS transport
  on public ``ssl`` and ``loop.add_reader`` APIs: asyncio's own TLS layer allocates and zero-fills a
  256 KiB read buffer per connection, four times the memory budget of a waiting job in a triggerer
  (``docs/performance.md`` measures both). On other loops (Windows' proactor, uvloop) the same protocol
  runs on ``loop.create_connection``.
- :func:`open_stock_socket`: ``websockets.asyncio.client.connect`` as it is; used when a proxy is
  configured (``websockets`` speaks HTTP CONNECT and SOCKS) and by the benchmark's stock design.

Both raise ``websockets``' own ``InvalidStatus`` for a refused handshake and ``ConnectionClosed*`` at the
end, so the follower handles them alike.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from . import tls_transport

#: Queued messages at which reading pauses (the consumer is behind), and below which it resumes.
QUEUE_HIGH = 64
QUEUE_LOW = 16
#: The largest message accepted. A log frame carries a few KiB of lines (a backlog perhaps some hundred
#: KiB); a larger one is refused with close code 1009, and the follower reads the job over REST instead.
MAX_MESSAGE = 4 * 2**20
#: Bytes waiting to be sent (pongs, mostly) at which reading pauses: a peer that floods pings and reads
#: nothing cannot make this process queue pongs without bound.
WRITE_HIGH = 64 * 1024
WRITE_LOW = 16 * 1024
#: TCP keep-alive: probe after this many idle seconds, then every ``KEEPALIVE_INTERVAL`` s, and give up
#: after ``KEEPALIVE_PROBES`` unanswered probes (about 2.5 min to notice a dead peer).
KEEPALIVE_IDLE = 60
KEEPALIVE_INTERVAL = 15
KEEPALIVE_PROBES = 6

Skip = Callable[[str | bytes], bool]


class LogStream(Protocol):
    """What the follower needs of an open log socket."""

    #: The loop time when anything last arrived (a message, a keep-alive, a ping).
    last_activity: float
    #: Messages received, keep-alives included.
    received: int

    async def recv(self) -> str | bytes:
        """The next message the consumer wants; raises ``ConnectionClosed`` at the end."""

    async def close(self) -> None:
        """Close the WebSocket (a close frame, then a short wait for the server)."""

    def abort(self) -> None:
        """Drop the connection at once (the deadline passed, or the peer went silent)."""


class LeanSocket(asyncio.Protocol):
    """One WebSocket: ``websockets``' Sans-I/O protocol driven from ``data_received``. Build it with
    :func:`open_lean_socket`.

    Pings are answered and keep-alive messages (the ``skip`` predicate) dropped as they arrive, so the
    consumer's task wakes only for a message it wants.

    :param protocol: the ``ClientProtocol`` that parses and writes frames.
    :param skip: messages for which this returns ``True`` are dropped when they arrive.
    :param close_timeout: seconds to wait for the server's part of the closing handshake.
    """

    def __init__(self, protocol: ClientProtocol, skip: Skip | None, close_timeout: float) -> None:
        self._ws = protocol
        self._skip = skip
        self._close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._messages: deque[str | bytes] = deque()
        self._parts: list[bytes] | None = None  # fragments of a message being assembled
        self._text = False
        self._waiter: asyncio.Future[None] | None = None
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        self._queue_full = False
        self._send_full = False
        self._failed = False  # a text message was not UTF-8: nothing after it is delivered
        self.last_activity = self._loop.time()
        self.received = 0

    # ---- asyncio callbacks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH, low=WRITE_LOW)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self._loop.time()
        self._ws.receive_data(data)
        self._flush()  # pongs and the closing handshake are answered at once
        for event in self._ws.events_received():
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Response) and not self._handshake.done():
                self._handshake.set_result(None)
        self._after_receive()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush()
        self._after_receive()
        return None  # close the transport: the closing handshake never writes after EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self._ws.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        if not self._handshake.done():
            self._handshake.set_exception(exc or ConnectionResetError("the connection closed during the handshake"))
            self._handshake.exception()  # retrieved here: the opener may have stopped waiting
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()

    def pause_writing(self) -> None:
        # The peer does not read what we send (a ping flood): stop reading what it sends.
        self._send_full = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._send_full = False
        self._update_reading()

    # ---- frames ----------------------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        if self._failed:
            return
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(frame.data, opcode is Opcode.TEXT)
            else:
                self._parts, self._text = [bytes(frame.data)], opcode is Opcode.TEXT
        elif opcode is Opcode.CONT and self._parts is not None:
            self._parts.append(bytes(frame.data))
            if frame.fin:
                data, self._parts = b"".join(self._parts), None
                self._message(data, self._text)
        # PING, PONG and CLOSE frames are handled by the protocol itself.

    def _message(self, data: bytes | bytearray | memoryview, text: bool) -> None:
        self.received += 1
        try:
            message: str | bytes = bytes(data).decode() if text else bytes(data)
        except UnicodeDecodeError:
            # websockets' Sans-I/O protocol leaves UTF-8 to its callers; RFC 6455 8.1 says fail with 1007.
            self._failed = True
            self._ws.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
            self._flush()
            return
        if self._skip is not None and self._skip(message):
            return
        self._messages.append(message)
        if len(self._messages) >= QUEUE_HIGH and not self._queue_full:
            self._queue_full = True
            self._update_reading()
        self._wake()

    def _update_reading(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self._queue_full or self._send_full:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _after_receive(self) -> None:
        if self._ws.close_expected() and self._close_timer is None and not self._lost.done():
            # We answered (or sent) a close frame: the server closes TCP next, or we do after a while.
            self._close_timer = self._loop.call_later(self._close_timeout, self.abort)
        if self._ws.state is State.CLOSED:
            self._wake()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ---- the consumer ----------------------------------------------------------------------------------

    async def recv(self) -> str | bytes:
        """The next message; at the end raises the protocol's ``ConnectionClosed`` (OK or Error)."""
        while not self._messages:
            if self._lost.done() or self._ws.state is State.CLOSED:
                raise self._ws.close_exc
            self._waiter = self._loop.create_future()
            await self._waiter
        message = self._messages.popleft()
        if self._queue_full and len(self._messages) <= QUEUE_LOW:
            self._queue_full = False
            self._update_reading()
        return message

    def __aiter__(self) -> LeanSocket:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        """Close the WebSocket (close frame, then wait briefly for the server to close TCP)."""
        if self._lost.done():
            return
        if self._ws.state is State.OPEN:
            self._ws.send_close(1000)
            self._flush()
            self._after_receive()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), self._close_timeout)
        except asyncio.TimeoutError:
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the connection now."""
        if self.transport is not None:
            self.transport.abort()


class StockSocket:
    """``websockets``' own asyncio client behind the :class:`LogStream` interface.

    :param connection: the open connection.
    :param skip: messages for which this returns ``True`` are dropped.
    """

    def __init__(self, connection: ClientConnection, skip: Skip | None) -> None:
        self.connection = connection
        self._skip = skip
        self._loop = asyncio.get_running_loop()
        self.last_activity = self._loop.time()
        self.received = 0

    async def recv(self) -> str | bytes:
        while True:
            message = await self.connection.recv()
            self.last_activity = self._loop.time()
            self.received += 1
            if self._skip is None or not self._skip(message):
                return message

    async def close(self) -> None:
        await self.connection.close()

    def abort(self) -> None:
        self.connection.transport.abort()


def set_keepalive(transport: asyncio.BaseTransport) -> None:
    """Turn on TCP keep-alive with :data:`KEEPALIVE_IDLE` and friends (options the platform lacks are
    left at their defaults)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE),  # Linux; macOS calls it TCP_KEEPALIVE
            ("TCP_KEEPALIVE", KEEPALIVE_IDLE),
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
            ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except OSError:
        pass


async def open_lean_socket(
    url: str,
    *,
    headers: Mapping[str, str],
    ssl: ssl_module.SSLContext | None,
    open_timeout: float,
    close_timeout: float = 2.0,
    skip: Skip | None = None,
) -> LeanSocket:
    """Connect, run the TLS and WebSocket handshakes, and return the open :class:`LeanSocket`.

    :param url: a ``ws://`` or ``wss://`` URL.
    :param headers: extra request headers (``Authorization``).
    :param ssl: the TLS context for ``wss://``.
    :param open_timeout: seconds for the TCP, TLS and WebSocket handshakes together.
    :param close_timeout: seconds to wait for the server's part of the closing handshake.
    :param skip: drop messages for which this returns ``True`` as they arrive.
    :raises websockets.exceptions.InvalidStatus: the server refused the upgrade (its status and body).
    :raises websockets.exceptions.InvalidHandshake: any other handshake failure.
    :raises OSError: the connection failed; :class:`asyncio.TimeoutError` after ``open_timeout``.
    """
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=MAX_MESSAGE)
    loop = asyncio.get_running_loop()
    holder: list[LeanSocket] = []

    def factory() -> LeanSocket:
        holder.append(LeanSocket(protocol, skip, close_timeout))
        return holder[0]

    async def handshake() -> LeanSocket:
        if uri.secure and tls_transport.supported(loop):
            context = ssl if ssl is not None else ssl_module.create_default_context()
            await tls_transport.open_tls_connection(factory, uri.host, uri.port, context=context)
        else:
            await loop.create_connection(
                factory,
                uri.host,
                uri.port,
                ssl=(ssl or True) if uri.secure else None,
                server_hostname=uri.host if uri.secure else None,
            )
        lean = holder[0]
        assert lean.transport is not None
        set_keepalive(lean.transport)
        request = protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        protocol.send_request(request)
        lean._flush()
        await lean._handshake
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return lean

    try:
        return await asyncio.wait_for(handshake(), open_timeout)
    except BaseException as exc:
        if holder:
            holder[0].abort()
        if isinstance(exc, InvalidHandshake | OSError | asyncio.TimeoutError | asyncio.CancelledError):
            raise
        raise InvalidHandshake(f"the WebSocket handshake failed: {type(exc).__name__}") from exc


async def open_stock_socket(
    url: str,
    *,
    headers: Mapping[str, str],
    ssl: ssl_module.SSLContext | None,
    open_timeout: float,
    close_timeout: float = 2.0,
    skip: Skip | None = None,
) -> StockSocket:
    """Open the socket with ``websockets.asyncio.client.connect`` (arguments as :func:`open_lean_socket`),
    with the same keep-alive behaviour: no client pings, TCP keep-alive on."""
    options: dict[str, Any] = {}
    if ssl is not None and url.startswith("wss:"):
        options["ssl"] = ssl
    connection = await connect(
        url,
        additional_headers=dict(headers),
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        ping_interval=None,
        max_size=MAX_MESSAGE,
        **options,
    )
    set_keepalive(connection.transport)
    return StockSocket(connection, skip)


def proxied(url: str) -> bool:
    """Whether the environment routes this WebSocket URL through a proxy."""
    try:
        from websockets.proxy import get_proxy
    except ImportError:  # websockets < 15 has no proxy support at all
        return False
    return get_proxy(parse_uri(url)) is not None


#: How a follower opens its sockets: :func:`open_lean_socket` (with :func:`open_stock_socket` for a
#: proxy), or :func:`open_stock_socket` always (the benchmark's stock design).
Opener = Callable[..., Any]


__all__ = [
    "MAX_MESSAGE",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "LeanSocket",
    "LogStream",
    "Opener",
    "StockSocket",
    "open_lean_socket",
    "open_stock_socket",
    "proxied",
    "set_keepalive",
]
