"""The request guard: the token is checked before anything reads a body, and bodies are bounded.

A plain ASGI middleware in front of the routes (the fault middleware wraps it). For every HTTP request it

- answers 401 when the ``Authorization`` header carries no known token, without pulling a single body
  chunk from the client (an unauthenticated 300 MB POST costs nothing);
- answers 413 when ``Content-Length`` exceeds the limit, again before reading;
- counts the bytes of bodies sent without a length (chunked) and stops at the limit: the route then
  answers 413, having buffered at most the limit.

Capability URLs (log blobs, see ``log_blobs``) carry their own secret in the path and are exempt from the
token check: the official client fetches them with a plain GET.

The pages a person reads (``/`` and ``/team/...``, see ``pages``) need no token either, but answer only a
client on the loopback address: any other peer gets 403 before anything is read. The peer is the socket's
(the server does not trust forwarding headers), so no header can claim to be local.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import teams_for_token, token_from_header
from .config import is_loopback
from .errors import ApiError, error_body
from .web_paths import is_page_path

BLOB_PREFIX = "/_blobs/"


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large: the limit is {limit} bytes (--max-body-bytes)")


class RequestGuard:
    """Authenticate first, then bound the body (see the module docstring)."""

    def __init__(self, app: ASGIApp, tokens: Mapping[str, list[str]], max_body_bytes: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(BLOB_PREFIX):
            await self.app(scope, receive, send)
            return
        if is_page_path(path):
            client = scope.get("client")
            if not is_loopback(client[0] if client else None):
                await _refuse_page(send)
                return
            await self.app(scope, self._bounded(receive), send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        try:
            raw = headers.get(b"authorization")
            teams_for_token(self.tokens, token_from_header(raw.decode("latin-1") if raw is not None else None))
            length = headers.get(b"content-length")
            if length is not None and (not length.strip().isdigit() or int(length) > self.max_body_bytes):
                raise body_too_large(self.max_body_bytes)
        except ApiError as exc:
            await _refuse(scope, send, exc)
            return
        await self.app(scope, self._bounded(receive), send)

    def _bounded(self, receive: Receive) -> Receive:
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the route while it reads: its error handler answers 413.
                    raise body_too_large(self.max_body_bytes)
            return message

        return bounded_receive


_PAGE_REFUSAL = (
    b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden</title></head><body>"
    b"<h1>Forbidden</h1><p>The Studio emulator shows its pages only on the loopback address "
    b"(127.0.0.1 or ::1).</p></body></html>\n"
)


async def _refuse_page(send: Send) -> None:
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(_PAGE_REFUSAL)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": _PAGE_REFUSAL})


async def _refuse(scope: Scope, send: Send, error: ApiError) -> None:
    body, media_type = error_body(scope.get("path", ""), error.message)
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        # The body was never read: the connection cannot be reused for another request.
        (b"connection", b"close"),
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="studio"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
