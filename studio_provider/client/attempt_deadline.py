"""One deadline for a whole blocking attempt: connecting, sending, and reading the head and the body.

httpx bounds each socket operation by ``timeout``, so a server that trickles a byte now and then keeps a
blocking call alive for ever. The async transport bounds an attempt with ``asyncio.wait_for``; the
blocking one cannot interrupt a read, so instead every socket operation of the attempt gets at most the
time that is left (:func:`attempt_deadline`), and none may start once it is spent.

:class:`BoundedTransport` is an httpx transport over httpcore's connection pools (public APIs both)
whose network backend applies that bound; the blocking client uses it in place of httpx's default
transport, and sends through a proxy from the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) the same way.
"""

from __future__ import annotations

import contextlib
import ssl
import time
import urllib.request
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


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    # httpcore's errors have httpx twins of the same name, which the rest of the client handles.
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TimeoutException)(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError, httpcore.UnsupportedProtocol) as exc:
        raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc)) from exc


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BoundedTransport(httpx.BaseTransport):
    """httpx's blocking transport, rebuilt on httpcore's public API with :class:`BoundedBackend` under it.

    :param ssl_context: the TLS settings.
    :param limits: the connection pool's limits.
    """

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        common: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "network_backend": BoundedBackend(),
        }
        self._direct = httpcore.ConnectionPool(**common)
        # Proxies as the environment sets them (as httpx's own transport honours them).
        self._proxied = {
            scheme: httpcore.ConnectionPool(proxy=httpcore.Proxy(url), **common)
            for scheme, url in urllib.request.getproxies().items()
            if scheme in ("http", "https") and url.lower().startswith(("http://", "https://"))
        }

    def _pool(self, url: httpx.URL) -> httpcore.ConnectionPool:
        pool = self._proxied.get(url.scheme)
        if pool is None or urllib.request.proxy_bypass(url.host):
            return self._direct
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        sent = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        with _httpx_errors():
            answer = self._pool(url).handle_request(sent)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        for pool in (self._direct, *self._proxied.values()):
            pool.close()
