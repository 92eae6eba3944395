"""A lean WebSocket client for Studio's log streams: websockets' Sans-I/O protocol on an asyncio protocol.

A triggerer holds one log socket per waiting job, thousands of them, for hours; almost everything that
arrives on them is a keep-alive. ``websockets.asyncio`` spends per socket a keep-alive task, a message
assembler with its futures and a reader wake-up per message. Here frames are handled in
``data_received``: WebSocket pings are answered there, the server's ``{"type": "ping"}`` messages are
dropped there (the ``skip`` predicate), and the consumer's task wakes only for a message it wants.
Half-open connections are found by TCP keep-alive in the kernel, which wakes nothing in the process.

websockets runs the opening handshake. After it, whole unfragmented messages, pings and pongs are read
by a small parser here (a keep-alive then costs a third less); the first other frame (a fragment, a
close, anything malformed) and all that follows go to websockets, which assembles, closes or fails the
connection. Over ``wss://`` the socket reads through :class:`.tls_transport.TLSSocketTransport`.

The socket iterates like ``websockets``' ``ClientConnection`` (``async for message in socket``, ending on
a normal close and raising :class:`~websockets.exceptions.ConnectionClosedError` on an abnormal one), and
a refused handshake raises :class:`~websockets.exceptions.InvalidStatus`, so :mod:`.follow` treats both the
same. Proxies are not handled here: :mod:`.follow` uses ``websockets``' own client when one is configured.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Callable, Mapping

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedOK, InvalidHandshake
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from . import tls_transport

#: Queued messages at which reading pauses (the consumer is behind), and below which it resumes.
QUEUE_HIGH = 64
QUEUE_LOW = 16
#: The largest message accepted (a log frame carries at most a few KiB of lines).
MAX_MESSAGE = 4 * 2**20
#: TCP keep-alive: probe after this many idle seconds, then every ``KEEPALIVE_INTERVAL`` s, and give up
#: after ``KEEPALIVE_PROBES`` unanswered probes (about 2.5 min to notice a dead peer).
KEEPALIVE_IDLE = 60
KEEPALIVE_INTERVAL = 15
KEEPALIVE_PROBES = 6


class LogSocket(asyncio.Protocol):
    """One open WebSocket: the messages the consumer wants, in order. Build it with :func:`open_log_socket`.

    :param skip: messages for which this returns ``True`` are dropped when they arrive (keep-alives).
    :param close_timeout: seconds to wait for the server's part of the closing handshake.
    """

    def __init__(
        self, protocol: ClientProtocol, skip: Callable[[str | bytes], bool] | None, close_timeout: float
    ) -> None:
        self._ws = protocol
        self._skip = skip
        self._close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self._messages: deque[str | bytes] = deque()
        self._parts: list[bytes] | None = None  # fragments of a message being assembled
        self._text = False
        self._waiter: asyncio.Future[None] | None = None
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused = False
        # The fast path (see _fast_receive): the handshake's head is held until complete, so websockets sees
        # exactly the HTTP response and is left at a frame boundary when the frames take the fast path.
        self._head = b""
        self._fast = False
        self._pending = bytearray()  # the start of a frame not complete yet (fast path)
        self._needed = 0  # how long _pending must grow before the frame can be read
        self._failed = False  # a text message was not UTF-8: the connection is failing
        #: Messages received, keep-alives included (the follower resets its reconnect backoff on data).
        self.received = 0

    # ---- asyncio callbacks -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._fast:
            self._fast_receive(data)
            return
        if self._handshake.done():
            self._ws_receive(data)
            return
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0 and len(head) <= MAX_HEAD:
            self._head = head  # wait for the whole response head
            return
        self._head = b""
        if end < 0 or not head.startswith((b"HTTP/1.1 101 ", b"HTTP/1.1 101\r")):
            self._ws_receive(head)  # a refusal (its body follows) or garbage: websockets reads and reports it
            return
        # A 101 has no body: websockets gets exactly the head, and is left at a frame boundary.
        frames = head[end + 4 :]
        self._ws_receive(head[: end + 4])
        if self._handshake.done() and self._ws.state is State.OPEN and self._ws.handshake_exc is None:
            self._fast = True
            self._fast_receive(frames)
        elif frames:
            self._ws_receive(frames)

    def _ws_receive(self, data: bytes) -> None:
        """websockets' own path: the handshake, and every frame after one the fast path does not take."""
        if data:
            self._ws.receive_data(data)
        self._flush()  # pongs and the closing handshake are answered at once
        for event in self._ws.events_received():
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Response) and not self._handshake.done():
                self._handshake.set_result(None)
        self._after_receive()

    def _fast_receive(self, data: bytes) -> None:
        """Unfragmented text and binary messages, pings and pongs, parsed here; any other frame goes to websockets.

        Nearly everything on an idle socket is a keep-alive, and websockets' generator-based parser and
        frame objects were about a third of what one cost. The first frame this does not take (a fragment,
        a close, reserved bits, a masked frame, an oversized message) is handed to websockets with all that
        follows it, for good: websockets saw none of the frames taken here, so it is at a frame boundary,
        and it assembles, closes or fails the connection as RFC 6455 says.
        """
        if self._pending:  # the rest of a frame: gather it without re-reading the part already here
            self._pending += data
            if len(self._pending) < self._needed:
                return
            data, self._pending = bytes(self._pending), bytearray()
        buffer = data
        end = len(buffer)
        position = 0
        needed = 2
        while end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            start = position + 2
            if length == 126:
                needed = 4
                if end - position < needed:
                    break
                length, start = int.from_bytes(buffer[position + 2 : position + 4], "big"), position + 4
            elif length == 127:
                needed = 10
                if end - position < needed:
                    break
                length, start = int.from_bytes(buffer[position + 2 : position + 10], "big"), position + 10
            opcode = first & 0x0F
            # FIN set and no reserved bits (0x80 exactly), unmasked, a data frame or a ping or pong.
            if (
                first & 0xF0 != 0x80
                or second & 0x80
                or opcode not in _FAST_OPCODES
                or length > (MAX_MESSAGE if opcode < 8 else 125)
            ):
                self._hand_over(buffer[position:])
                return
            stop = start + length
            if stop > end:
                needed = stop - position
                break
            needed = 2
            payload = buffer[start:stop]
            if opcode == _TEXT:
                try:
                    message: str | bytes = payload.decode()
                except UnicodeDecodeError:
                    self._fail_invalid_text()
                    return
                self._deliver(message)
            elif opcode == _BINARY:
                self._deliver(payload)
            elif opcode == _PING:
                self.transport.write(_pong(payload))
            # _PONG: this client sends no pings, so an unsolicited pong is ignored (RFC 6455 5.5.3).
            position = stop
        if position < end:
            self._pending, self._needed = bytearray(buffer[position:]), needed

    def _hand_over(self, data: bytes) -> None:
        self._fast = False
        self._pending = bytearray()
        self._ws_receive(data)

    def _fail_invalid_text(self) -> None:
        # websockets' Sans-I/O protocol leaves UTF-8 to its callers; RFC 6455 8.1 says fail with 1007.
        self._fast = False
        self._pending = bytearray()
        self._failed = True
        self._ws.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
        self._flush()
        self._after_receive()

    def eof_received(self) -> bool | None:
        if self._fast:
            self._hand_over(bytes(self._pending))
        elif self._head:
            self._ws.receive_data(self._head)
            self._head = b""
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
            self._handshake.exception()  # retrieved here: open_log_socket may have stopped waiting
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()

    # ---- frames ----------------------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        if self._failed:
            return  # frames after a message this socket refused are not delivered
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
        try:
            self._deliver(bytes(data).decode() if text else bytes(data))
        except UnicodeDecodeError:
            self._fail_invalid_text()

    def _deliver(self, message: str | bytes) -> None:
        self.received += 1
        if self._skip is not None and self._skip(message):
            return
        self._messages.append(message)
        if len(self._messages) >= QUEUE_HIGH and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def _after_receive(self) -> None:
        if self._ws.close_expected() and self._close_timer is None and not self._lost.done():
            # We answered (or sent) a close frame: the server closes TCP next, or we do after a while.
            self._close_timer = self._loop.call_later(self._close_timeout, self.transport.abort)
        if self._ws.state is State.CLOSED:
            self._wake()

    def _flush(self) -> None:
        for data in self._ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()
            else:  # TLS cannot half-close
                self.transport.close()

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
        if self._paused and len(self._messages) <= QUEUE_LOW:
            self._paused = False
            self.transport.resume_reading()
        return message

    def __aiter__(self) -> LogSocket:
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
        if self._fast:
            self._hand_over(bytes(self._pending))  # websockets runs the closing handshake
        if self._ws.state is State.OPEN:
            self._ws.send_close(1000)
            self._flush()
            self._after_receive()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), self._close_timeout)
        except asyncio.TimeoutError:
            self.transport.abort()
        except asyncio.CancelledError:
            self.transport.abort()
            raise


#: A response head larger than this is handed to websockets whole (which refuses it).
MAX_HEAD = 64 * 1024
_TEXT, _BINARY, _PING, _PONG = 0x1, 0x2, 0x9, 0xA
_FAST_OPCODES = frozenset({_TEXT, _BINARY, _PING, _PONG})


def _pong(payload: bytes) -> bytes:
    """A client's PONG frame echoing ``payload`` (at most 125 bytes), masked with a fresh random key."""
    mask = os.urandom(4)
    size = len(payload)
    if size:
        key = (mask * (size // 4 + 1))[:size]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return bytes((0x80 | _PONG, 0x80 | size)) + mask + payload


def _keepalive(transport: asyncio.BaseTransport) -> None:
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
    except OSError:  # an option this platform lacks: the defaults stand
        pass


async def open_log_socket(
    url: str,
    *,
    headers: Mapping[str, str],
    ssl: ssl_module.SSLContext | None,
    open_timeout: float,
    close_timeout: float = 2.0,
    skip: Callable[[str | bytes], bool] | None = None,
) -> LogSocket:
    """Connect, run the TLS and WebSocket handshakes, and return the open :class:`LogSocket`.

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
    holder: list[LogSocket] = []

    def factory() -> LogSocket:
        holder.append(LogSocket(protocol, skip, close_timeout))
        return holder[0]

    async def handshake() -> LogSocket:
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
        log_socket = holder[0]
        _keepalive(log_socket.transport)
        request = protocol.connect()
        for name, value in headers.items():
            request.headers[name] = value
        protocol.send_request(request)
        log_socket._flush()
        await log_socket._handshake
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return log_socket

    try:
        return await asyncio.wait_for(handshake(), open_timeout)
    except BaseException as exc:
        if holder and holder[0].transport is not None:
            holder[0].transport.abort()
        if isinstance(exc, InvalidHandshake | OSError | asyncio.TimeoutError | asyncio.CancelledError):
            raise
        raise InvalidHandshake(f"the WebSocket handshake failed: {exc!r}") from exc


__all__ = ["LogSocket", "open_log_socket"]
