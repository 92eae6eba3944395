"""What came back: an httpx failure or response turned into the call's result or a Studio error.

Both transports share it. Bodies are read through :class:`BodyReader` (bounded in size); server texts are
redacted, then capped, before they reach an exception; an answer the client cannot read, or one in which
Studio reports a failure, is a :class:`~.errors.StudioAPIError` with the status and a short excerpt.
"""

from __future__ import annotations

import json
import ssl
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from .config import StudioConfig
from .errors import (
    StudioAPIError,
    StudioAuthenticationError,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioResponseTooLargeError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from .redaction import MAX_ERROR_TEXT, MAX_EXCERPT, scrub
from .request import ApiRequest, Retry, ServerRefusal, body_message, response_msgpack

T = TypeVar("T")

#: The largest response body read, after content decoding; a larger one is refused unread.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

__all__ = [
    "MAX_ERROR_TEXT",
    "MAX_RESPONSE_BYTES",
    "BodyReader",
    "deadline_error",
    "decode_response",
    "response_error",
    "sent_path",
    "sentence",
    "server_message",
    "transport_error",
]

# Failures where the request certainly did not reach Studio: safe to repeat even a job submission.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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


def sent_path(config: StudioConfig, url: httpx.URL) -> str:
    """The path of ``url`` relative to the API base: what was really requested, after httpx resolved it."""
    base = httpx.URL(config.url.rstrip("/") + "/").raw_path.decode("ascii")
    path = url.raw_path.decode("ascii").partition("?")[0]
    return path[len(base) :] if path.startswith(base) else path


def _where(sent: httpx.Request) -> str:
    return f"{sent.method} {sent.url.copy_with(query=None, fragment=None)}"


def sentence(text: str) -> str:
    """``text`` ending with one full stop, ready for the next sentence: a server's ``"Invalid token."``
    stays as it is, ``"Invalid token"`` gets its period (never ``"Invalid token.."``).

    :param text: a message, such as the server's.
    """
    stripped = text.rstrip()
    return stripped if not stripped or stripped.endswith((".", "!", "?")) else f"{stripped}."

# A URL in these messages is followed by a space or ends the text: Airflow's log view links a URL up to
# the next space, so punctuation right after it would become part of the link.


def transport_error(
    config: StudioConfig, request: ApiRequest[Any], exc: httpx.HTTPError, sent: httpx.Request
) -> StudioError:
    """The Studio error for an httpx failure that produced no (complete) response.

    :param sent: the request as httpx built it, so the message names the URL really requested.
    """
    where = _where(sent)
    path = sent_path(config, sent.url)
    kind = type(exc).__name__
    # Exception texts can quote what was being sent (h11 quotes a bad header value): scrub them.
    detail = scrub(str(exc), config.token)
    if _is_tls_failure(exc):
        return StudioTLSError(
            f"TLS failure talking to Studio: {sentence(detail)} Check the URL and the certificate, or set "
            f"the connection extra 'verify' to false for a self-signed test server. Request: {where}",
            method=request.method,
            path=path,
        )
    if isinstance(exc, httpx.LocalProtocolError):
        # The request could not even be written: nothing reached Studio, and repeating it cannot help.
        return StudioError(
            f"Studio {request.name} was not sent: the client could not write a valid HTTP request "
            f"({kind}: {detail}). Check the connection's settings. Request: {where}",
            method=request.method,
            path=path,
        )
    lead = "Studio did not answer in time" if isinstance(exc, httpx.TimeoutException) else "Could not reach Studio"
    if isinstance(exc, _NOT_SENT) or request.retry is Retry.IDEMPOTENT:
        return StudioTransportError(
            f"{lead}: {kind}: {sentence(detail)} Request: {where}", method=request.method, path=path
        )
    return StudioOutcomeUnknownError(
        f"Studio {request.name} may or may not have been applied: the connection failed after the "
        f"request was sent ({kind}: {detail}). Look before submitting again. Request: {where}",
        method=request.method,
        path=path,
    )


def server_message(config: StudioConfig, response: httpx.Response) -> str:
    """The server's message from an error response, redacted then capped: ``message``, ``detail`` or
    ``error`` of a JSON (or, for ``ls``, msgpack) body, else the body's text, else the reason phrase."""
    packed = "msgpack" in response.headers.get("content-type", "")
    text = "" if packed else response.text.strip()
    try:
        body = response_msgpack(response) if packed else json.loads(text) if text else None
    except ValueError:  # not JSON (an HTML page, plain text) or not msgpack: the text speaks for itself
        body = None
    message = body_message(body)
    if message is None and text:
        message = text
    if message is None:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    return scrub(message, config.token)


def response_error(config: StudioConfig, request: ApiRequest[Any], response: httpx.Response) -> StudioError:
    """The Studio error for a non-2xx response, with the status and the server's message."""
    status = response.status_code
    # Errors end up in task logs: never repeat the token, even if a server echoed it back.
    text = server_message(config, response)
    where = _where(response.request)
    common: dict[str, Any] = {
        "status": status,
        "server_message": text,
        "method": request.method,
        "path": sent_path(config, response.request.url),
    }
    if status == 401:
        return StudioAuthenticationError(
            f"Studio at {config.url} rejected the token (401) for team {config.team!r}: {sentence(text)} "
            f"Check the connection's password (the Studio token).",
            **common,
        )
    if status == 403:
        return StudioAuthenticationError(
            f"The Studio token has no access to team {config.team!r} at {config.url} (403): {sentence(text)} "
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
            f"Studio {request.name} may or may not have been applied: {where} returned {status}: "
            f"{sentence(text)} Look before submitting again.",
            **common,
        )
    if status >= 500:
        return StudioServerError(message, **common)
    return StudioAPIError(message, **common)


def _excerpt(config: StudioConfig, response: httpx.Response) -> str:
    if "msgpack" in response.headers.get("content-type", ""):
        return f"{len(response.content)} bytes of msgpack"
    return scrub(response.text.strip(), config.token, MAX_EXCERPT) or "an empty body"


def decode_response(config: StudioConfig, request: ApiRequest[T], response: httpx.Response) -> T:
    """The call's result, or the Studio error the response stands for."""
    if not response.is_success:
        raise response_error(config, request, response)
    common: dict[str, Any] = {
        "status": response.status_code,
        "method": request.method,
        "path": sent_path(config, response.request.url),
    }
    try:
        return request.decode(response)
    except StudioError:
        raise
    except ServerRefusal as exc:
        text = scrub(exc.message, config.token) if exc.message else None
        said = text or f"no reason given ({_excerpt(config, response)})"
        raise StudioAPIError(
            f"Studio {request.name} failed: {_where(response.request)} returned {response.status_code} "
            f"but reported a failure (ok: false or an error state): {said}",
            server_message=text,
            **common,
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StudioAPIError(
            f"Studio {request.name} returned a response this client cannot read ({response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')}): "
            f"{scrub(str(exc), config.token, MAX_EXCERPT)}. The body began: {_excerpt(config, response)}",
            **common,
        ) from exc


def deadline_error(seconds: float, sent: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(f"Studio did not finish answering within {seconds:g} seconds", request=sent)


class BodyReader:
    """Collects a response body chunk by chunk, refusing it past the request's ``max_bytes`` (default
    :data:`MAX_RESPONSE_BYTES`) and (for the
    blocking transport, which has no other way to bound a read) past the attempt's deadline.

    :param config: for the error messages.
    :param request: the call, for the error messages.
    :param response: the streamed response.
    :param deadline: a ``time.monotonic()`` value, or ``None`` when the caller bounds the attempt itself.
    :param seconds: the attempt's allowance, for the message.
    """

    def __init__(
        self,
        config: StudioConfig,
        request: ApiRequest[Any],
        response: httpx.Response,
        deadline: float | None = None,
        seconds: float = 0.0,
    ) -> None:
        self.config, self.request, self.response = config, request, response
        self.deadline, self.seconds = deadline, seconds
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = request.max_bytes or MAX_RESPONSE_BYTES
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise self._too_large(int(declared))

    def _too_large(self, size: int) -> StudioResponseTooLargeError:
        return StudioResponseTooLargeError(
            f"Studio {self.request.name} answered with a body larger than this client accepts "
            f"({size} > {self.limit} bytes, status {self.response.status_code}, "
            f"{_where(self.response.request)}).",
            status=self.response.status_code,
            method=self.request.method,
            path=sent_path(self.config, self.response.request.url),
        )

    def add(self, chunk: bytes) -> None:
        """Take one chunk of the (decoded) body."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise self._too_large(self.size)
        self.chunks.append(chunk)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise deadline_error(self.seconds, self.response.request)

    def buffered(self) -> httpx.Response:
        """The response with its body read: the headers that described the encoded stream are dropped."""
        dropped = ("content-encoding", "content-length", "transfer-encoding")
        headers = [(k, v) for k, v in self.response.headers.multi_items() if k.lower() not in dropped]
        extensions = {k: v for k, v in self.response.extensions.items() if k in ("http_version", "reason_phrase")}
        return httpx.Response(
            self.response.status_code,
            headers=headers,
            content=b"".join(self.chunks),
            request=self.response.request,
            extensions=extensions,
        )
