"""The fault-injection ASGI middleware and its transport helpers.

``_FaultMiddleware`` is the outermost ASGI app: it observes every request outside ``ADMIN_PREFIX`` and the
pages a person reads (``/`` and ``/team/...``; a fault there would only hide what a test did) (HTTP and
WebSocket), asks the ``FaultEngine`` what to do with it, and applies the decision (an error,
latency, a dropped connection, a cut WebSocket, a lost response). The helpers reach the socket transport
behind uvicorn's ``send`` to emulate connection resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from http import HTTPStatus
from typing import Any, cast

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .fault_engine import FaultEngine
from .fault_rules import FaultRule
from .observation import sanitize_query
from .web_paths import is_page_path

__all__ = ["ADMIN_PREFIX"]

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"
_WS_CLOSE_CODE = 1011
_DISCONNECT_WAIT_S = 1.0


def _transport_of(send: Send) -> asyncio.Transport | None:
    """The socket transport behind uvicorn's raw ``send``.

    uvicorn passes the app a bound method of its per-request object (``RequestResponseCycle`` for h11 and
    httptools, the protocol itself for WebSockets); each has a ``transport`` attribute. Anything else
    (another server, a test client, a wrapping middleware) yields ``None`` and the caller falls back.
    """
    owner = getattr(send, "__self__", None)
    transport = getattr(owner, "transport", None)
    # Duck-typed: uvloop's transports implement the asyncio interface without subclassing it.
    if transport is not None and all(hasattr(transport, m) for m in ("abort", "close", "is_closing")):
        return cast(asyncio.Transport, transport)
    return None


async def _wait_for_disconnect(receive: Receive, disconnect_type: str) -> None:
    """Consume ``receive`` until the server reports the disconnect (bounded).

    Waiting lets uvicorn's ``connection_lost`` run before the app returns, so uvicorn knows the client is
    gone and does not log "returned without starting response" or try to write its own 500.
    """

    async def drain() -> None:
        while (await receive())["type"] != disconnect_type:
            pass

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(drain(), _DISCONNECT_WAIT_S)


def _json_error(
    status: int, message: str, retry_after: int | None
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return headers, body


def _default_message(rule: FaultRule) -> str:
    if rule.message:
        return rule.message
    status = rule.status or 500
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if rule.kind == "outage":
        return f"{phrase} (emulated outage)"
    if rule.kind == "lose_response":
        return f"{phrase} (emulated: upstream response lost)"
    return f"{phrase} (emulated fault)"


class _Call:
    """Observation of one request, recorded exactly once."""

    def __init__(self, injector: FaultEngine, scope: Scope, kind: str, method: str) -> None:
        self.injector = injector
        self.scope = scope
        self.started = time.monotonic()
        self.recorded = False
        self.entry: dict[str, Any] = {
            "ts": time.time(),
            "kind": kind,
            "method": method,
            "path": scope.get("path", ""),
            "query": sanitize_query(scope.get("query_string", b"")),
            "status": None,
            "duration_ms": 0.0,
            "fault": None,
        }

    def record(self, status: int | str | None = None) -> None:
        if self.recorded:
            return
        self.recorded = True
        if status is not None:
            self.entry["status"] = status
        if self.entry["status"] is None:
            # The app ended (or the client went away) before any response was started.
            self.entry["status"] = "no_response"
        self.entry["duration_ms"] = round((time.monotonic() - self.started) * 1000.0, 3)
        self.injector.observations.record(self.entry)


class _FaultMiddleware:
    """The outermost ASGI app: observes every non-admin request and applies the injector's decision."""

    def __init__(self, app: ASGIApp, injector: FaultEngine) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] not in ("http", "websocket")
            or path == ADMIN_PREFIX
            or path.startswith(ADMIN_PREFIX + "/")
            or is_page_path(path)
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._websocket(scope, receive, send)

    # -- HTTP --------------------------------------------------------------------------------------

    async def _decide(self, call: _Call, scope_type: str, method: str) -> FaultRule | None:
        """Apply the matching latency rules and note them in the log; return the deciding rule, if any."""
        decision = self.injector._decide(scope_type, method, call.entry["path"], call.scope)
        if decision.latency_rules:
            call.entry["latency_s"] = decision.latency
            call.entry["fault"] = ",".join(decision.latency_rules)
            await asyncio.sleep(decision.latency)
        rule = decision.rule
        if rule is not None:
            call.entry["fault"] = ",".join([*decision.latency_rules, rule.label])
        return rule

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET")).upper()
        call = _Call(self.injector, scope, "http", method)
        rule = await self._decide(call, "http", method)
        try:
            if rule is None or rule.kind == "latency":
                await self._http_passthrough(scope, receive, send, call)
            elif rule.kind == "drop" or (rule.kind == "outage" and rule.mode == "reset"):
                call.record("reset")
                await self._http_drop(receive, send)
            elif rule.kind in ("error", "outage"):
                await self._http_error(send, call, rule)
            elif rule.kind == "lose_response":
                await self._http_lose_response(scope, receive, send, call, rule)
            else:  # a kind that does not apply to HTTP never reaches here; pass through to be safe
                await self._http_passthrough(scope, receive, send, call)
        finally:
            call.record()

    async def _http_passthrough(self, scope: Scope, receive: Receive, send: Send, call: _Call) -> None:
        async def observing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.entry["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Record before the last byte leaves, so a client that reads the log right after its
                # response always finds its own request there.
                call.record()
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        except BaseException:
            if call.entry["status"] is None:
                call.entry["status"] = 500
            raise

    async def _http_error(self, send: Send, call: _Call, rule: FaultRule) -> None:
        status = rule.status or 503
        headers, body = _json_error(status, _default_message(rule), rule.retry_after)
        call.record(status)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _http_drop(self, receive: Receive, send: Send) -> None:
        transport = _transport_of(send)
        if transport is None:
            # No socket in reach: start a response whose declared length is never delivered and return;
            # the server then has to close the connection mid-response, which still reads as a
            # transport error on the client side.
            logger.warning("fault injection: no transport behind send(); emulating a reset mid-response")
            await send(
                {
                    "type": "http.response.start",
                    "status": 502,
                    "headers": [(b"content-length", b"1"), (b"connection", b"close")],
                }
            )
            return
        # abort() closes the socket at once, discarding anything buffered: the client gets no byte.
        transport.abort()
        await _wait_for_disconnect(receive, "http.disconnect")

    async def _http_lose_response(
        self, scope: Scope, receive: Receive, send: Send, call: _Call, rule: FaultRule
    ) -> None:
        async def discarding_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.entry["upstream_status"] = message["status"]

        # The request really is processed: the app runs to completion; only its answer is thrown away.
        try:
            await self.app(scope, receive, discarding_send)
        except Exception:
            logger.exception("fault injection: the app failed while its response was to be lost")
            call.entry.setdefault("upstream_status", 500)
        if rule.mode == "reset":
            call.record("reset")
            await self._http_drop(receive, send)
        else:
            await self._http_error(send, call, rule)

    # -- WebSocket -----------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = _Call(self.injector, scope, "ws", "WS")
        call.entry.update({"frames": 0, "close_code": None})
        rule = await self._decide(call, "websocket", "WS")
        try:
            if rule is None or rule.kind in ("latency", "ws_disconnect"):
                await self._ws_session(scope, receive, send, call, rule)
            elif rule.kind == "drop" or (rule.kind == "outage" and rule.mode == "reset"):
                call.record("reset")
                await self._ws_drop_handshake(scope, receive, send)
            else:  # error, outage: refuse the handshake with the rule's status
                await self._ws_reject(scope, send, call, rule)
        finally:
            call.record()

    async def _ws_reject(self, scope: Scope, send: Send, call: _Call, rule: FaultRule) -> None:
        status = rule.status or 503
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers, body = _json_error(status, _default_message(rule), rule.retry_after)
            call.record(status)
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # Without the denial-response extension the only refusal ASGI offers is a close before
            # accept, which servers turn into a 403.
            call.record(403)
            await send({"type": "websocket.close", "code": 1008})

    async def _ws_drop_handshake(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _transport_of(send)
        if transport is None:
            logger.warning("fault injection: no transport behind send(); refusing the WebSocket instead")
            await send({"type": "websocket.close", "code": 1008})
            return
        transport.abort()
        await _wait_for_disconnect(receive, "websocket.disconnect")
        _raise_client_disconnected()

    async def _ws_session(
        self, scope: Scope, receive: Receive, send: Send, call: _Call, rule: FaultRule | None
    ) -> None:
        cut_rule = rule if rule is not None and rule.kind == "ws_disconnect" else None
        state = {"cut": False}

        async def cut() -> None:
            assert cut_rule is not None
            state["cut"] = True
            if cut_rule.message is not None:
                # A server-side error as Studio reports it on the log stream: {"message": ...} alone.
                call.entry["frames"] += 1
                await send({"type": "websocket.send", "text": json.dumps({"message": cut_rule.message})})
            transport = _transport_of(send) if cut_rule.mode == "reset" else None
            if transport is not None:
                # close() (not abort()) so frames already written still reach the client; no close
                # frame is ever sent, so the client sees an abnormal closure (1006).
                call.entry["status"] = "reset"
                transport.close()
            else:
                call.entry["close_code"] = _WS_CLOSE_CODE
                await send(
                    {"type": "websocket.close", "code": _WS_CLOSE_CODE, "reason": "emulated disconnect"}
                )

        async def observing_send(message: Message) -> None:
            if state["cut"]:
                return  # the app keeps running as if the client were still there; its output is dropped
            kind = message["type"]
            if kind == "websocket.accept":
                call.entry["status"] = 101
            elif kind == "websocket.send":
                call.entry["frames"] += 1
            elif kind == "websocket.close":
                call.entry["close_code"] = message.get("code", 1000)
                if call.entry["status"] is None:
                    call.entry["status"] = 403
            elif kind == "websocket.http.response.start":
                call.entry["status"] = message["status"]
            await send(message)
            if (
                cut_rule is not None
                and kind in ("websocket.accept", "websocket.send")
                and cut_rule.after_frames is not None
                and call.entry["frames"] >= cut_rule.after_frames
            ):
                await cut()

        async def observing_receive() -> Message:
            if state["cut"]:
                return {"type": "websocket.disconnect", "code": _WS_CLOSE_CODE}
            return await receive()

        try:
            await self.app(scope, observing_receive, observing_send)
        except BaseException:
            if call.entry["status"] is None:
                call.entry["status"] = 500
            raise


def _raise_client_disconnected() -> None:
    """Tell uvicorn the client is gone, which it handles quietly (no "returned without handshake" error)."""
    try:
        from uvicorn.protocols.utils import ClientDisconnected
    except ImportError:  # pragma: no cover - only under another server
        return
    raise ClientDisconnected()
