"""A TLS transport that reads a non-blocking :class:`ssl.SSLSocket` straight from the event loop.

asyncio's own TLS layer (``asyncio.sslproto``) runs every received byte through Python code: the socket
transport reads into a buffer, copies it into a memory BIO, and an ``SSLObject`` reads it back out until
OpenSSL raises ``SSLWantReadError``. That is cheap for a few busy connections and dear for a triggerer's
thousands of idle log sockets, which wake only for keep-alives: at 2,000 sockets that layer and its
exception took about half the process's CPU. Here OpenSSL reads the socket itself (one ``recv`` per
readiness event, more only while :meth:`ssl.SSLSocket.pending` says a record holds more), and a pong goes
out in one ``send``.

It needs a selector event loop (``loop.add_reader``): :func:`supported` says whether the running loop is
one, and elsewhere (Windows' proactor, uvloop) the caller uses ``loop.create_connection`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

#: Bytes asked of OpenSSL per read: one TLS record at most (16 KiB). ``SSLSocket.recv`` allocates this
#: much and shrinks it, so a larger size would cost an allocation per keep-alive for nothing.
READ_SIZE = 16 * 1024

_RETRY = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError)


class TLSSocketTransport(asyncio.Transport):
    """An :class:`asyncio.Transport` over a connected, handshaken, non-blocking ``SSLSocket``.

    :param loop: a selector event loop.
    :param sock: the socket; the transport owns it from now on.
    :param protocol: receives ``connection_made`` at once, then the decrypted data.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, protocol: asyncio.Protocol
    ) -> None:
        try:
            peername = sock.getpeername()
        except OSError:
            peername = None
        super().__init__(
            extra={"socket": sock, "sslcontext": sock.context, "ssl_object": sock, "peername": peername}
        )
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        # Ciphertext OpenSSL could not send yet. A refused SSL_write must be retried with the same bytes,
        # so writes queue whole instead of being joined.
        self._unsent: deque[bytes] = deque()
        self._unsent_bytes = 0
        self._writer_armed = False
        self._paused = False
        self._closing = False
        self._closed = False
        # Flow control for writes, as asyncio's transports do it: the protocol is told to stop writing
        # when the queue passes ``high`` and to go on when it fell to ``low``.
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._writing_paused = False
        protocol.connection_made(self)
        loop.add_reader(self._fd, self._read_ready)

    # ---- reading ---------------------------------------------------------------------------------------

    def _read_ready(self) -> None:
        if self._unsent and not self._writer_armed:
            self._write_ready()  # a write that waited on a read (TLS 1.2 renegotiation)
        while not self._closed:
            try:
                data = self._sock.recv(READ_SIZE)
            except _RETRY:
                return  # nothing decrypted yet: the selector calls again when more arrives
            except OSError as exc:
                self._finish(exc)
                return
            if not data:
                self._eof()
                return
            self._protocol.data_received(data)
            # More of this record is decrypted and waiting in OpenSSL, where the selector cannot see it.
            if self._closed or self._paused or not self._sock.pending():
                return

    def _eof(self) -> None:
        keep_open = self._protocol.eof_received()
        if not keep_open or self._closing:
            self._finish(None)
        else:  # the protocol may still write, but nothing more can be read
            self._loop.remove_reader(self._fd)

    def pause_reading(self) -> None:
        if self._closed or self._paused:
            return
        self._paused = True
        self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._closed or not self._paused:
            return
        self._paused = False
        self._loop.add_reader(self._fd, self._read_ready)
        if self._sock.pending():
            self._loop.call_soon(self._read_ready)

    def is_reading(self) -> bool:
        return not (self._closed or self._paused)

    # ---- writing ---------------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._closing or self._closed:
            return
        data = bytes(data)
        if self._unsent:
            self._queue(data)
            return
        try:
            self._sock.send(data)
        except _RETRY as exc:
            self._queue(data)
            self._arm_writer(exc)
        except OSError as exc:
            self._finish(exc)

    def _queue(self, data: bytes) -> None:
        self._unsent.append(data)
        self._unsent_bytes += len(data)
        if not self._writing_paused and self._unsent_bytes > self._high:
            self._writing_paused = True
            self._protocol.pause_writing()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def _arm_writer(self, exc: BaseException) -> None:
        # OpenSSL wanting a read before it can write (renegotiation) is retried after the next read.
        if not isinstance(exc, ssl.SSLWantReadError) and not self._writer_armed:
            self._writer_armed = True
            self._loop.add_writer(self._fd, self._write_ready)

    def _write_ready(self) -> None:
        while self._unsent and not self._closed:
            try:
                self._sock.send(self._unsent[0])
            except _RETRY as exc:
                if isinstance(exc, ssl.SSLWantReadError) and self._writer_armed:
                    self._disarm_writer()
                self._arm_writer(exc)
                return
            except OSError as exc:
                self._finish(exc)
                return
            self._unsent_bytes -= len(self._unsent.popleft())
            if self._writing_paused and self._unsent_bytes <= self._low:
                self._writing_paused = False
                self._protocol.resume_writing()
        self._disarm_writer()
        if self._closing and not self._closed:
            self._finish(None, notify_peer=True)

    def _disarm_writer(self) -> None:
        if self._writer_armed:
            self._writer_armed = False
            self._loop.remove_writer(self._fd)

    def get_write_buffer_size(self) -> int:
        return self._unsent_bytes

    def can_write_eof(self) -> bool:
        return False  # TLS cannot half-close

    def write_eof(self) -> None:
        raise NotImplementedError("a TLS connection cannot half-close")

    # ---- closing ---------------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing or self._closed

    def close(self) -> None:
        """Send what is queued, then TLS's close_notify, then close the socket."""
        if self._closing or self._closed:
            return
        self._closing = True
        if not self._unsent:
            self._finish(None, notify_peer=True)

    def abort(self) -> None:
        self._finish(None)

    def _finish(self, exc: Exception | None, *, notify_peer: bool = False) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        self._loop.remove_reader(self._fd)
        self._disarm_writer()
        self._unsent.clear()
        self._unsent_bytes = 0
        if notify_peer:
            with contextlib.suppress(OSError, ValueError):
                self._sock.unwrap()  # sends close_notify; the peer's reply is not awaited
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol


async def _until(loop: asyncio.AbstractEventLoop, fd: int, *, writable: bool) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    (loop.add_writer if writable else loop.add_reader)(fd, wake)
    try:
        await ready
    finally:
        (loop.remove_writer if writable else loop.remove_reader)(fd)


async def _tcp_connect(loop: asyncio.AbstractEventLoop, host: str, port: int) -> socket.socket:
    """A connected non-blocking TCP socket: each address of ``host`` in turn, like ``create_connection``."""
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned no addresses")
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pongs go out at once
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(exc)
        except BaseException:
            sock.close()
            raise
    if len(errors) == 1:
        raise errors[0]
    raise OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")


def supported(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` can run this transport (a selector loop: readiness callbacks on file descriptors)."""
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop)


async def open_tls_connection(
    protocol_factory: Callable[[], asyncio.Protocol], host: str, port: int, *, context: ssl.SSLContext
) -> tuple[TLSSocketTransport, Any]:
    """Connect, run the TLS handshake (verifying ``host`` as the context says), and start the transport.

    :param protocol_factory: builds the protocol once the handshake succeeded.
    :param host: the server's name, also sent as SNI.
    :param port: the server's port.
    :param context: the TLS context.
    :raises ssl.SSLError: the handshake failed (``ssl.SSLCertVerificationError`` for a bad certificate).
    :raises OSError: the TCP connection failed.
    """
    loop = asyncio.get_running_loop()
    sock = await _tcp_connect(loop, host, port)
    try:
        tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    except BaseException:
        sock.close()
        raise
    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await _until(loop, tls.fileno(), writable=False)
            except ssl.SSLWantWriteError:
                await _until(loop, tls.fileno(), writable=True)
        protocol = protocol_factory()
        transport = TLSSocketTransport(loop, tls, protocol)
    except BaseException:
        tls.close()
        raise
    return transport, protocol


__all__ = ["READ_SIZE", "TLSSocketTransport", "open_tls_connection", "supported"]
