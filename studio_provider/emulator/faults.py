"""Fault injection and request observation for the Studio emulator.

CONTRACT (owned by the faults work; the app factory relies on exactly these names):

- ``FaultInjector()``: holds the fault configuration, request counters and the request log.
- ``FaultInjector.middleware(app) -> ASGIApp``: wraps the whole emulator ASGI app (HTTP and WebSocket).
  Paths under ``/_emulator`` are never faulted and never counted as API routes.
- ``FaultInjector.admin_router() -> fastapi.APIRouter``: admin endpoints, mounted by the app factory
  with ``prefix="/_emulator"``.
- ``add_fault_arguments(parser: argparse.ArgumentParser) -> None`` and
  ``FaultInjector.configure_from_args(args: argparse.Namespace) -> None``: the CLI flags.

The middleware is plain ASGI and needs nothing from the routes. Rule kinds:

- ``error``: answer with a status and ``{"message": ...}`` (429 also carries ``Retry-After``);
- ``latency``: sleep before passing the request on;
- ``drop``: close the connection without any response;
- ``outage``: every matching request fails (503 or a dropped connection) until a monotonic deadline;
- ``ws_disconnect``: cut a WebSocket after the server has sent K frames (close 1011, or drop);
- ``lose_response``: run the app fully, discard its response, answer 502 or drop the connection.

See ``docs/emulator-faults.md`` for the rule fields, admin endpoints and CLI syntax.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio_provider.emulator.observation import (
    DEFAULT_MAX_ENTRIES,
    Observations,
    path_matches,
    sanitize_query,
)

__all__ = [
    "ADMIN_PREFIX",
    "KINDS",
    "ASGIApp",
    "FaultInjector",
    "FaultRule",
    "FaultSpecError",
    "add_fault_arguments",
    "build_rule",
    "parse_fault_spec",
]

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/_emulator"
KINDS: tuple[str, ...] = ("error", "latency", "drop", "outage", "ws_disconnect", "lose_response")

# Fields every kind accepts, and the extra fields that make sense for each kind. Anything else is
# rejected, so that a typo such as "retry-after" in an admin call is an error rather than a no-op.
_COMMON_FIELDS = frozenset({"kind", "method", "path"})
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "error": frozenset({"status", "retry_after", "message", "count", "rate", "after"}),
    "latency": frozenset({"seconds", "count", "rate", "after"}),
    "drop": frozenset({"count", "rate", "after"}),
    "outage": frozenset({"seconds", "status", "retry_after", "message", "mode"}),
    "ws_disconnect": frozenset({"after_frames", "mode", "count", "rate", "after"}),
    "lose_response": frozenset({"status", "message", "mode", "count", "rate", "after"}),
}
_ALL_FIELDS = _COMMON_FIELDS.union(*_KIND_FIELDS.values())
_MODES: dict[str, tuple[str, ...]] = {
    "outage": ("error", "reset"),
    "lose_response": ("error", "reset"),
    "ws_disconnect": ("close", "reset"),
}
_DEFAULT_STATUS = {"error": 503, "outage": 503, "lose_response": 502}
_DEFAULT_RETRY_AFTER_429 = 1
_WS_CLOSE_CODE = 1011
_DISCONNECT_WAIT_S = 1.0


class FaultSpecError(ValueError):
    """A fault rule or CLI fault spec is invalid; the message says why."""


@dataclass
class FaultRule:
    """One active fault rule and its trigger state (``seen``, ``fired``, ``remaining``)."""

    id: int
    kind: str
    method: str = "*"
    path: str = "*"
    status: int | None = None
    retry_after: int | None = None
    seconds: float | None = None
    count: int | None = None
    rate: float | None = None
    after: int = 0
    after_frames: int | None = None
    mode: str | None = None
    message: str | None = None
    seen: int = 0
    fired: int = 0
    until: float | None = field(default=None, repr=False)

    @property
    def remaining(self) -> int | None:
        """Firings left for a count-limited rule, ``None`` when unlimited."""
        return None if self.count is None else max(self.count - self.fired, 0)

    def spent(self, now: float | None = None) -> bool:
        """A count-limited rule that has fired ``count`` times, or an outage whose window has passed."""
        if self.kind == "outage":
            return self.until is not None and (time.monotonic() if now is None else now) >= self.until
        return self.count is not None and self.fired >= self.count

    def applies_to(self, scope_type: str, method: str, path: str) -> bool:
        """Whether this rule's kind, method and path cover the request (triggers are not consulted)."""
        if self.kind == "ws_disconnect" and scope_type != "websocket":
            return False
        if self.kind == "lose_response" and scope_type != "http":
            return False
        if self.method != "*":
            # A WebSocket handshake is a GET; a rule may name it either "WS" or "GET".
            allowed = {"WS", "GET"} if scope_type == "websocket" else {method}
            if self.method not in allowed:
                return False
        return path_matches(self.path, path)

    def trigger(self, rng: random.Random) -> bool:
        """Count one matching request and decide whether the fault fires for it (caller holds the lock)."""
        if self.spent():
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.rate is not None and rng.random() >= self.rate:
            return False
        self.fired += 1
        return True

    @property
    def label(self) -> str:
        return f"{self.kind}#{self.id}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin API; ``remaining_seconds`` only for outages."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
        }
        for name in sorted(_KIND_FIELDS[self.kind]):
            data[name] = getattr(self, name)
        data.update({"seen": self.seen, "fired": self.fired, "remaining": self.remaining})
        if self.kind == "outage" and self.until is not None:
            data["remaining_seconds"] = round(max(self.until - time.monotonic(), 0.0), 3)
        data["spent"] = self.spent()
        return data


# ---------------------------------------------------------------------------------------------------
# Validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool)


def _int_field(spec: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if not _is_int(value) or value < minimum:
        raise FaultSpecError(f"'{name}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def build_rule(spec: Mapping[str, Any], rule_id: int = 0) -> FaultRule:
    """Validate a rule spec (the admin JSON body, or keyword arguments) and build the rule.

    Raises ``FaultSpecError`` with a message naming the offending field.
    """
    if not isinstance(spec, Mapping):
        raise FaultSpecError("a fault rule must be a JSON object")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    present = {k for k, v in spec.items() if v is not None}
    unknown = sorted(present - _ALL_FIELDS)
    if unknown:
        raise FaultSpecError(f"unknown field(s): {', '.join(unknown)}")
    not_applicable = sorted(present - _COMMON_FIELDS - _KIND_FIELDS[kind])
    if not_applicable:
        raise FaultSpecError(f"field(s) {', '.join(not_applicable)} do not apply to kind '{kind}'")

    method = spec.get("method") or "*"
    if not isinstance(method, str) or not (method == "*" or method.isalpha()):
        raise FaultSpecError(f"'method' must be an HTTP method name, 'WS' or '*'; got {method!r}")
    path = spec.get("path") or "*"
    if not isinstance(path, str) or not (path.startswith("/") or path.startswith("*")):
        raise FaultSpecError(f"'path' must start with '/' (or be a glob starting with '*'); got {path!r}")

    status = _int_field(spec, "status", 0)
    if kind in _DEFAULT_STATUS:
        status = _DEFAULT_STATUS[kind] if status is None else status
        if not 400 <= status <= 599:
            raise FaultSpecError(f"'status' must be between 400 and 599; got {status}")
    retry_after = _int_field(spec, "retry_after", 0)
    if status == 429 and retry_after is None:
        retry_after = _DEFAULT_RETRY_AFTER_429

    seconds = spec.get("seconds")
    if kind in ("latency", "outage"):
        if seconds is None:
            raise FaultSpecError(f"kind '{kind}' needs 'seconds'")
        if not _is_number(seconds) or seconds <= 0:
            raise FaultSpecError(f"'seconds' must be a number > 0; got {seconds!r}")
        seconds = float(seconds)

    count = _int_field(spec, "count", 1)
    rate = spec.get("rate")
    if rate is not None:
        if not _is_number(rate) or not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"'rate' must be a number between 0 and 1; got {rate!r}")
        rate = float(rate)
    after = _int_field(spec, "after", 0) or 0
    after_frames = _int_field(spec, "after_frames", 0)
    if kind == "ws_disconnect" and after_frames is None:
        after_frames = 1

    mode = spec.get("mode")
    if kind in _MODES:
        mode = _MODES[kind][0] if mode is None else mode
        if mode not in _MODES[kind]:
            raise FaultSpecError(f"'mode' for kind '{kind}' must be one of {', '.join(_MODES[kind])}")
    message = spec.get("message")
    if message is not None and not isinstance(message, str):
        raise FaultSpecError("'message' must be a string")

    rule = FaultRule(
        id=rule_id,
        kind=kind,
        method=method.upper(),
        path=path,
        status=status,
        retry_after=retry_after,
        seconds=seconds,
        count=count,
        rate=rate,
        after=after,
        after_frames=after_frames,
        mode=mode,
        message=message,
    )
    if kind == "outage":
        assert seconds is not None  # checked above
        rule.until = time.monotonic() + seconds
    return rule


# ---------------------------------------------------------------------------------------------------
# The injector


@dataclass
class _Decision:
    latency: float = 0.0
    rule: FaultRule | None = None
    latency_rules: list[str] = field(default_factory=list)


class FaultInjector:
    """Fault rules, a seeded random source, and the request observations, shared by middleware and admin."""

    def __init__(self, seed: int | None = None, max_log_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._rng = random.Random(seed)
        self.observations = Observations(max_log_entries)

    # -- Python API -------------------------------------------------------------------------------

    def seed(self, seed: int | None) -> None:
        """Reseed the random source used by ``rate`` rules."""
        with self._lock:
            self._rng = random.Random(seed)

    def add_rule(self, kind: str, **fields: Any) -> FaultRule:
        """Add a rule (same fields as the admin API) and return it; raises ``FaultSpecError``."""
        with self._lock:
            rule = build_rule({"kind": kind, **fields}, self._next_id)
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def remove_rule(self, rule_id: int) -> bool:
        """Remove one rule; ``False`` if there was none with that id."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def rules(self) -> list[dict[str, Any]]:
        """Every rule (including spent ones, marked ``spent``) as JSON-ready dicts."""
        with self._lock:
            return [r.to_dict() for r in self._rules]

    def clear(self) -> None:
        """Remove every fault rule (observations are kept)."""
        with self._lock:
            self._rules.clear()

    def counters(self) -> dict[str, Any]:
        """Per-route request counters: ``{"total", "routes": {"GET /p": {"total", "statuses"}}}``."""
        return self.observations.counters()

    def count(self, method: str, path: str, status: int | str | None = None) -> int:
        """Requests recorded for exactly ``METHOD path`` (optionally only those with ``status``)."""
        return self.observations.count(method, path, status)

    def requests(
        self, path: str | None = None, method: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The request log, oldest first (see ``Observations.requests``)."""
        return self.observations.requests(path=path, method=method, limit=limit)

    def reset_observations(self) -> None:
        """Forget counters and the request log."""
        self.observations.reset()

    def reset(self) -> None:
        """Remove every rule and forget every observation."""
        self.clear()
        self.reset_observations()

    def _decide(self, scope_type: str, method: str, path: str) -> _Decision:
        """Pick what happens to one request: an active outage wins; latency rules add up; then the
        first terminal rule (in insertion order) whose trigger fires."""
        decision = _Decision()
        now = time.monotonic()
        with self._lock:
            for rule in self._rules:
                if (
                    rule.kind == "outage"
                    and not rule.spent(now)
                    and rule.applies_to(scope_type, method, path)
                ):
                    rule.seen += 1
                    rule.fired += 1
                    decision.rule = rule
                    return decision
            for rule in self._rules:
                if (
                    rule.kind == "latency"
                    and rule.applies_to(scope_type, method, path)
                    and rule.trigger(self._rng)
                ):
                    assert rule.seconds is not None
                    decision.latency += rule.seconds
                    decision.latency_rules.append(rule.label)
            for rule in self._rules:
                if rule.kind in ("latency", "outage") or not rule.applies_to(scope_type, method, path):
                    continue
                if rule.trigger(self._rng):
                    decision.rule = rule
                    break
        return decision

    # -- ASGI ---------------------------------------------------------------------------------------

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app`` (HTTP and WebSocket); ``/_emulator`` paths pass through untouched and uncounted."""
        return _FaultMiddleware(app, self)

    # -- admin API ------------------------------------------------------------------------------------

    def admin_router(self) -> APIRouter:
        """Admin endpoints, to be mounted with ``prefix="/_emulator"``. No auth: a loopback tool."""
        return _build_admin_router(self)

    # -- CLI ------------------------------------------------------------------------------------------

    def configure_from_args(self, args: argparse.Namespace) -> None:
        """Apply the CLI flags of ``add_fault_arguments``; a ``ValueError`` names the bad flag."""
        seed = getattr(args, "fault_seed", None)
        if seed is not None:
            if not _is_int(seed):
                raise ValueError(f"--fault-seed: expected an integer, got {seed!r}")
            self.seed(seed)
        latency = getattr(args, "latency", None)
        if latency is not None:
            try:
                self.add_rule("latency", seconds=latency)
            except FaultSpecError as exc:
                raise ValueError(f"--latency {latency!r}: {exc}") from None
        outage = getattr(args, "outage", None)
        if outage is not None:
            try:
                self.add_rule("outage", seconds=outage)
            except FaultSpecError as exc:
                raise ValueError(f"--outage {outage!r}: {exc}") from None
        for text in getattr(args, "fault", None) or []:
            try:
                spec = parse_fault_spec(text)
                self.add_rule(**spec)
            except FaultSpecError as exc:
                raise ValueError(f"--fault {text!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# ASGI middleware


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

    def __init__(self, injector: FaultInjector, scope: Scope, kind: str, method: str) -> None:
        self.injector = injector
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

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] not in ("http", "websocket")
            or path == ADMIN_PREFIX
            or path.startswith(ADMIN_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        else:
            await self._websocket(scope, receive, send)

    # -- HTTP --------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET")).upper()
        call = _Call(self.injector, scope, "http", method)
        decision = self.injector._decide("http", method, call.entry["path"])
        if decision.latency_rules:
            call.entry["latency_s"] = decision.latency
            call.entry["fault"] = ",".join(decision.latency_rules)
            await asyncio.sleep(decision.latency)
        rule = decision.rule
        if rule is not None:
            call.entry["fault"] = ",".join([*decision.latency_rules, rule.label])
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
        decision = self.injector._decide("websocket", "WS", call.entry["path"])
        if decision.latency_rules:
            call.entry["latency_s"] = decision.latency
            call.entry["fault"] = ",".join(decision.latency_rules)
            await asyncio.sleep(decision.latency)
        rule = decision.rule
        if rule is not None:
            call.entry["fault"] = ",".join([*decision.latency_rules, rule.label])
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


# ---------------------------------------------------------------------------------------------------
# Admin endpoints


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=400)


def _build_admin_router(injector: FaultInjector) -> APIRouter:
    router = APIRouter(tags=["emulator admin"])

    @router.get("/faults")
    async def list_faults() -> JSONResponse:
        return JSONResponse({"faults": injector.rules()})

    @router.post("/faults")
    async def add_fault(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _bad_request("the body must be a JSON object")
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        kind = body.pop("kind", None)
        try:
            rule = injector.add_rule(kind, **body)
        except FaultSpecError as exc:
            return _bad_request(str(exc))
        return JSONResponse(rule.to_dict(), status_code=201)

    @router.delete("/faults/{rule_id}")
    async def delete_fault(rule_id: str) -> JSONResponse:
        if not rule_id.isdigit():
            return _bad_request(f"fault id must be an integer, got {rule_id!r}")
        if not injector.remove_rule(int(rule_id)):
            return JSONResponse({"message": f"no fault with id {rule_id}"}, status_code=404)
        return JSONResponse({"deleted": int(rule_id)})

    @router.delete("/faults")
    async def clear_faults() -> JSONResponse:
        removed = len(injector.rules())
        injector.clear()
        return JSONResponse({"deleted": removed})

    @router.get("/requests")
    async def list_requests(request: Request) -> JSONResponse:
        params = request.query_params
        limit: int | None = None
        if "limit" in params:
            raw = params["limit"]
            if not raw.isdigit():
                return _bad_request(f"'limit' must be a non-negative integer, got {raw!r}")
            limit = int(raw)
        entries = injector.requests(path=params.get("path"), method=params.get("method"), limit=limit)
        return JSONResponse({"requests": entries, "count": len(entries)})

    @router.get("/counters")
    async def counters() -> JSONResponse:
        return JSONResponse(injector.counters())

    @router.post("/observations/reset")
    async def reset_observations() -> JSONResponse:
        injector.reset_observations()
        return JSONResponse({"reset": True})

    return router


# ---------------------------------------------------------------------------------------------------
# CLI

_ACTION_ALIASES = {
    "error": "error",
    "latency": "latency",
    "delay": "latency",
    "drop": "drop",
    "reset": "drop",
    "outage": "outage",
    "ws_disconnect": "ws_disconnect",
    "ws-disconnect": "ws_disconnect",
    "lose_response": "lose_response",
    "lose-response": "lose_response",
}
_INT_OPTIONS = frozenset({"status", "retry_after", "count", "after", "after_frames"})
_FLOAT_OPTIONS = frozenset({"seconds", "rate"})
_STR_OPTIONS = frozenset({"mode", "message"})


def _convert_option(name: str, raw: str) -> Any:
    try:
        if name in _INT_OPTIONS:
            return int(raw)
        if name in _FLOAT_OPTIONS:
            return float(raw)
    except ValueError:
        kind = "an integer" if name in _INT_OPTIONS else "a number"
        raise FaultSpecError(f"option '{name}' needs {kind}, got {raw!r}") from None
    if name in _STR_OPTIONS:
        return raw
    raise FaultSpecError(f"unknown option '{name}'")


def parse_fault_spec(text: str) -> dict[str, Any]:
    """Parse a ``--fault`` value into rule fields.

    Syntax: ``[METHOD ]PATH=ACTION[:KEY=VALUE]...`` where ACTION is a status code (an ``error`` rule) or
    one of error, latency, drop (alias reset), outage, ws_disconnect, lose_response; KEY is a rule field
    (``rate``, ``count``, ``after``, ``retry_after``, ``seconds``, ``after_frames``, ``mode``, ``status``,
    ``message``; ``-`` may stand for ``_``). Examples: ``POST /api/datachain/jobs/=503:rate=0.2``,
    ``GET /api/datachain/jobs/=429:retry_after=2:count=3``,
    ``/api/logs/follow/=ws_disconnect:after_frames=2``.
    """
    target, sep, rest = text.partition("=")
    target = target.strip()
    if not sep or not target or not rest:
        raise FaultSpecError("expected [METHOD ]PATH=ACTION[:KEY=VALUE]...")
    if " " in target:
        method, path = target.split(None, 1)
        path = path.strip()
    else:
        method, path = "*", target
    action, *options = rest.split(":")
    action = action.strip().lower()
    spec: dict[str, Any] = {"method": method, "path": path}
    if action.isdigit():
        spec["kind"] = "error"
        spec["status"] = int(action)
    elif action in _ACTION_ALIASES:
        spec["kind"] = _ACTION_ALIASES[action]
    else:
        raise FaultSpecError(f"unknown action {action!r}: use a status code or one of {', '.join(KINDS)}")
    for option in options:
        key, eq, value = option.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq or not key:
            raise FaultSpecError(f"option {option!r} is not KEY=VALUE")
        spec[key] = _convert_option(key, value.strip())
    # Validate now so that the flag fails at parse time, not when the server starts.
    build_rule(spec)
    return spec


def _fault_arg(text: str) -> str:
    try:
        parse_fault_spec(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--fault`` (repeatable), ``--latency``, ``--outage`` and ``--fault-seed`` to ``parser``."""
    group = parser.add_argument_group("fault injection (see docs/emulator-faults.md)")
    group.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault_arg,
        metavar="SPEC",
        help="inject a fault: '[METHOD ]PATH=ACTION[:KEY=VALUE]...', e.g. "
        "'POST /api/datachain/jobs/=503:rate=0.2' (repeatable)",
    )
    group.add_argument(
        "--latency",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="add latency to every request",
    )
    group.add_argument(
        "--outage",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="every API request fails with 503 for SECONDS from start",
    )
    group.add_argument("--fault-seed", type=int, default=None, metavar="N", help="seed for rate-based faults")
