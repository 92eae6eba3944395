"""Sending :class:`~.request.ApiRequest` objects: one pooled httpx client per transport, retries, and a
deadline for each attempt.

The sync and async transports differ only in the httpx client they hold, in how they wait, and in how
they bound an attempt; turning an httpx failure or a response into a result or a Studio error is shared,
in :mod:`.responses`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any, TypeVar

import httpx
import tenacity

from .. import __version__
from . import attempt_deadline
from .config import StudioConfig
from .errors import StudioError
from .request import ApiRequest
from .responses import BodyReader, deadline_error, decode_response, transport_error
from .retry import RetryPolicy
from .tls import ssl_context

T = TypeVar("T")

USER_AGENT = f"airflow-provider-datachain-studio/{__version__} httpx/{httpx.__version__}"

#: An upload's attempt gets one more second for this many bytes it sends (slow links stay usable).
UPLOAD_BYTES_PER_SECOND = 256 * 1024
#: The blocking client's connection pool (httpx's default limits).
SYNC_POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
#: A body at least this large is decoded in a worker thread: decoding megabytes of JSON would hold the
#: event loop (a triggerer's, shared by every trigger) for a noticeable time.
DECODE_IN_THREAD_BYTES = 1024 * 1024

__all__ = ["AsyncTransport", "SyncTransport", "TokenAuth", "client_kwargs"]


class TokenAuth(httpx.Auth):
    """Adds ``Authorization: <scheme> <token>`` to each request; its repr never shows the token."""

    def __init__(self, scheme: str, token: str) -> None:
        self._header = f"{scheme} {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "TokenAuth(***)"


def client_kwargs(config: StudioConfig) -> dict[str, Any]:
    """Arguments shared by ``httpx.Client`` and ``httpx.AsyncClient``."""
    return {
        "base_url": config.url.rstrip("/") + "/",
        "auth": TokenAuth(config.auth_scheme, config.token),
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "timeout": config.timeout,
        # One shared context per setting: building one loads the CA bundle (milliseconds, memory).
        "verify": ssl_context(config.verify),
    }


def attempt_seconds(config: StudioConfig, request: ApiRequest[Any]) -> float:
    """How long one attempt may take in all: ``timeout``, plus a second per 256 KiB an upload sends."""
    return config.timeout + request.upload_size / UPLOAD_BYTES_PER_SECOND


def settle(request: ApiRequest[T], attempt: int, exc: StudioError) -> T:
    """The result of a repeated attempt that failed, when its request says the error means "done".

    :raises StudioError: ``exc`` itself, when it stands.
    """
    if attempt > 1 and request.on_repeated_error is not None:
        return request.on_repeated_error(exc)
    raise exc


class SyncTransport:
    """Sends requests with one pooled ``httpx.Client`` (keep-alive), retrying per :class:`RetryPolicy`.

    :param config: where and as whom.
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(self, config: StudioConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.policy = RetryPolicy(max_retries=config.max_retries)
        kwargs = client_kwargs(config)
        self._client = httpx.Client(
            transport=transport or attempt_deadline.BoundedTransport(kwargs["verify"], SYNC_POOL_LIMITS), **kwargs
        )

    def send(self, request: ApiRequest[T]) -> T:
        """Send ``request`` (with retries) and return its decoded result."""
        for attempt in tenacity.Retrying(**self.policy.tenacity_kwargs()):
            with attempt:
                try:
                    return self._send_once(request)
                except StudioError as exc:
                    return settle(request, attempt.retry_state.attempt_number, exc)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send_once(self, request: ApiRequest[T]) -> T:
        sent = self._client.build_request(**request.httpx_kwargs())
        seconds = attempt_seconds(self.config, request)
        deadline = time.monotonic() + seconds
        try:
            # Every socket operation gets what is left of the attempt's time (head included); the body
            # reader checks the same deadline between chunks.
            with attempt_deadline.attempt_deadline(seconds):
                response = self._client.send(sent, stream=True)
                try:
                    body = BodyReader(self.config, request, response, deadline, seconds)
                    for chunk in response.iter_bytes():
                        body.add(chunk)
                finally:
                    response.close()
        except httpx.TimeoutException as exc:
            # A read cut short by the attempt's deadline says so, as the async transport's does.
            spent = time.monotonic() >= deadline - 0.05  # a socket timeout may wake a hair early
            failure = deadline_error(seconds, sent) if spent else exc
            raise transport_error(self.config, request, failure, sent) from exc
        except httpx.HTTPError as exc:
            raise transport_error(self.config, request, exc, sent) from exc
        return decode_response(self.config, request, body.buffered())

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __repr__(self) -> str:
        return f"SyncTransport(url={self.config.url!r}, team={self.config.team!r})"


class AsyncTransport:
    """Sends requests with one pooled ``httpx.AsyncClient``, retrying per :class:`RetryPolicy` without
    blocking the event loop.

    :param config: where and as whom.
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(self, config: StudioConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.policy = RetryPolicy(max_retries=config.max_retries)
        self._client = httpx.AsyncClient(transport=transport, **client_kwargs(config))

    async def send(self, request: ApiRequest[T]) -> T:
        """Send ``request`` (with retries) and return its decoded result."""
        async for attempt in tenacity.AsyncRetrying(**self.policy.tenacity_kwargs()):
            with attempt:
                try:
                    return await self._send_once(request)
                except StudioError as exc:
                    return settle(request, attempt.retry_state.attempt_number, exc)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _send_once(self, request: ApiRequest[T]) -> T:
        sent = self._client.build_request(**request.httpx_kwargs())
        seconds = attempt_seconds(self.config, request)
        try:
            response = await asyncio.wait_for(self._exchange(request, sent), seconds)
        except asyncio.TimeoutError:
            exc = deadline_error(seconds, sent)
            raise transport_error(self.config, request, exc, sent) from None
        except httpx.HTTPError as exc:
            raise transport_error(self.config, request, exc, sent) from exc
        if len(response.content) >= DECODE_IN_THREAD_BYTES:
            return await asyncio.to_thread(decode_response, self.config, request, response)
        return decode_response(self.config, request, response)

    async def _exchange(self, request: ApiRequest[Any], sent: httpx.Request) -> httpx.Response:
        """Send and read the whole answer (the caller bounds the time)."""
        response = await self._client.send(sent, stream=True)
        try:
            body = BodyReader(self.config, request, response)
            async for chunk in response.aiter_bytes():
                body.add(chunk)
        finally:
            await response.aclose()
        return body.buffered()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncTransport(url={self.config.url!r}, team={self.config.team!r})"
