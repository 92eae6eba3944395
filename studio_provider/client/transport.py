"""Sending :class:`~.request.ApiRequest` objects: one pooled httpx client, retries, error mapping.

The sync and async transports differ only in the httpx client they hold and in how they wait; turning
a request into httpx arguments, an httpx failure into a Studio error and a response into a result is
shared below.
"""

from __future__ import annotations

import ssl
from collections.abc import Generator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import tenacity

from .. import __version__
from .config import StudioConfig
from .errors import (
    StudioAPIError,
    StudioAuthenticationError,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from .request import ApiRequest, Retry, server_message
from .retry import RetryPolicy

T = TypeVar("T")

USER_AGENT = f"airflow-provider-datachain-studio/{__version__} httpx/{httpx.__version__}"

# Failures where the request certainly did not reach Studio: safe to repeat even a job submission.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
        "verify": config.verify,
    }


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # bounded walk of the cause chain
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def transport_error(config: StudioConfig, request: ApiRequest[Any], exc: httpx.HTTPError) -> StudioError:
    """The Studio error for an httpx failure that produced no response."""
    where = f"{request.method} {config.url}/{request.path}"
    kind = type(exc).__name__
    if _is_tls_failure(exc):
        return StudioTLSError(
            f"TLS failure talking to Studio ({where}): {exc}. Check the URL and the certificate, "
            f"or set the connection extra 'verify' to false for a self-signed test server.",
            method=request.method,
            path=request.path,
        )
    if isinstance(exc, _NOT_SENT) or request.retry is Retry.IDEMPOTENT:
        return StudioTransportError(
            f"Could not reach Studio ({where}): {kind}: {exc}", method=request.method, path=request.path
        )
    return StudioOutcomeUnknownError(
        f"Studio {request.name} may or may not have been applied: the connection failed after the "
        f"request was sent ({where}: {kind}: {exc}). Look before submitting again.",
        method=request.method,
        path=request.path,
    )


def response_error(config: StudioConfig, request: ApiRequest[Any], response: httpx.Response) -> StudioError:
    """The Studio error for a non-2xx response, with the status and the server's message."""
    status = response.status_code
    # Errors end up in task logs: never repeat the token, even if a server echoed it back.
    text = server_message(response).replace(config.token, "***")
    where = f"{request.method} {config.url}/{request.path}"
    common: dict[str, Any] = {
        "status": status,
        "server_message": text,
        "method": request.method,
        "path": request.path,
    }
    if status == 401:
        return StudioAuthenticationError(
            f"Studio rejected the token (401) for team {config.team!r} at {config.url}: {text}. "
            f"Check the connection's password (the Studio token).",
            **common,
        )
    if status == 403:
        return StudioAuthenticationError(
            f"The Studio token has no access to team {config.team!r} at {config.url} (403): {text}. "
            f"Check the connection's extra 'team' and the token's scopes.",
            **common,
        )
    message = f"Studio {request.name} failed: {where} returned {status}: {text}"
    if status == 404:
        return StudioNotFoundError(message, **common)
    if status in (400, 409, 422):
        return StudioValidationError(message, **common)
    if status == 429:
        return StudioRateLimitError(
            message, retry_after=_retry_after_seconds(response.headers.get("Retry-After")), **common
        )
    if status >= 500 and request.retry is Retry.UNSAFE:
        return StudioOutcomeUnknownError(
            f"Studio {request.name} may or may not have been applied: {where} returned {status}: {text}. "
            f"Look before submitting again.",
            **common,
        )
    if status >= 500:
        return StudioServerError(message, **common)
    return StudioAPIError(message, **common)


def decode_response(config: StudioConfig, request: ApiRequest[T], response: httpx.Response) -> T:
    """The call's result, or the Studio error the response stands for."""
    if not response.is_success:
        raise response_error(config, request, response)
    try:
        return request.decode(response)
    except StudioError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise StudioAPIError(
            f"Studio {request.name} returned a response this client cannot read ({response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')}): {exc}",
            status=response.status_code,
            method=request.method,
            path=request.path,
        ) from exc


class SyncTransport:
    """Sends requests with one pooled ``httpx.Client`` (keep-alive), retrying per :class:`RetryPolicy`.

    :param config: where and as whom.
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(self, config: StudioConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.policy = RetryPolicy(max_retries=config.max_retries)
        self._client = httpx.Client(transport=transport, **client_kwargs(config))

    def send(self, request: ApiRequest[T]) -> T:
        """Send ``request`` (with retries) and return its decoded result."""
        for attempt in tenacity.Retrying(**self.policy.tenacity_kwargs()):
            with attempt:
                return self._send_once(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send_once(self, request: ApiRequest[T]) -> T:
        try:
            response = self._client.send(self._client.build_request(**request.httpx_kwargs()))
        except httpx.HTTPError as exc:
            raise transport_error(self.config, request, exc) from exc
        return decode_response(self.config, request, response)

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
                return await self._send_once(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _send_once(self, request: ApiRequest[T]) -> T:
        try:
            response = await self._client.send(self._client.build_request(**request.httpx_kwargs()))
        except httpx.HTTPError as exc:
            raise transport_error(self.config, request, exc) from exc
        return decode_response(self.config, request, response)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncTransport(url={self.config.url!r}, team={self.config.team!r})"
