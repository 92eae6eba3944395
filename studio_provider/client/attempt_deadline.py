"""One deadline for a whole blocking attempt: connecting, sending, and reading the head and the body.

httpx bounds each socket operation by ``timeout``, so a server that trickles a byte now and then keeps a
blocking call alive for ever. The async transport bounds an attempt with ``asyncio.wait_for``; the
blocking one cannot interrupt a read, so instead every socket operation of the attempt gets at most the
time that is left (:func:`attempt_deadline`), and none may start once it is spent.

httpx does not expose httpcore's ``network_backend`` option, so :func:`install` puts the bounded
backend under a client's connection pools; a client without them (a test transport) is left as it is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

_DEADLINE: ContextVar[float | None] = ContextVar("studio_attempt_deadline", default=None)


@contextlib.contextmanager
def attempt_deadline(seconds: float) -> Iterator[None]:
    """Bound every socket operation started inside the block by what is left of ``seconds``."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the attempt's time (the connection's timeout) is spent")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class BoundedBackend(httpcore.NetworkBackend):
    """httpcore's blocking network backend with every operation bounded by the current attempt's deadline.

    :param backend: the backend to wrap (httpcore's ``SyncBackend`` by default).
    """

    def __init__(self, backend: httpcore.NetworkBackend | None = None) -> None:
        self._backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._backend.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install(client: httpx.Client) -> int:
    """Bound the network operations of ``client``'s connection pools (its transport and proxy mounts).

    :returns: how many pools now use :class:`BoundedBackend`.
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    installed = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(backend, BoundedBackend):
            pool._network_backend = BoundedBackend(backend)  # type: ignore[union-attr]
            installed += 1
    return installed
