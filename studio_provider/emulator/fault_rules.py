"""The fault rule model and its validation.

Holds the rule kinds (``KINDS``), ``FaultRule`` (one rule and its trigger state), ``FaultSpecError`` and
``build_rule``, which validates a rule spec (an admin JSON body, keyword arguments or a parsed ``--fault``
flag) and builds the rule. See ``docs/emulator-faults.md`` for the rule fields.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .observation import path_matches

__all__ = ["KINDS", "MAX_COUNT", "FaultRule", "FaultSpecError", "build_rule"]

KINDS: tuple[str, ...] = ("error", "latency", "drop", "outage", "ws_disconnect", "lose_response")

# Fields every kind accepts, and the extra fields that make sense for each kind. Anything else is
# rejected, so that a typo such as "retry-after" in an admin call is an error rather than a no-op.
_COMMON_FIELDS = frozenset({"kind", "method", "path"})
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "error": frozenset({"status", "retry_after", "message", "count", "rate", "after"}),
    "latency": frozenset({"seconds", "count", "rate", "after"}),
    "drop": frozenset({"count", "rate", "after"}),
    "outage": frozenset({"seconds", "status", "retry_after", "message", "mode"}),
    "ws_disconnect": frozenset({"after_frames", "mode", "message", "count", "rate", "after"}),
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
# Bounds: a rule is a few counters whatever its values, but a count of fifty million or an outage of a
# century is a typo (or an attack on a shared emulator), and a latency holds a connection that long.
MAX_COUNT = 1_000_000
_MAX_SECONDS = {"latency": 600.0, "outage": 86_400.0}
_MAX_RETRY_AFTER = 86_400


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
    # The team that set the rule over HTTP (it then fires on that team's requests only); None for rules
    # set in-process or by the command line, which fire on every request.
    team: str | None = None

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
            "team": self.team,
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


def _int_field(spec: Mapping[str, Any], name: str, minimum: int, maximum: int = MAX_COUNT) -> int | None:
    value = spec.get(name)
    if value is None:
        return None
    if not _is_int(value) or not minimum <= value <= maximum:
        raise FaultSpecError(f"'{name}' must be an integer from {minimum} to {maximum}, got {value!r}")
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

    status = _int_field(spec, "status", 0, 999)
    if kind in _DEFAULT_STATUS:
        status = _DEFAULT_STATUS[kind] if status is None else status
        if not 400 <= status <= 599:
            raise FaultSpecError(f"'status' must be between 400 and 599; got {status}")
    retry_after = _int_field(spec, "retry_after", 0, _MAX_RETRY_AFTER)
    if status == 429 and retry_after is None:
        retry_after = _DEFAULT_RETRY_AFTER_429

    seconds = spec.get("seconds")
    if kind in ("latency", "outage"):
        if seconds is None:
            raise FaultSpecError(f"kind '{kind}' needs 'seconds'")
        limit = _MAX_SECONDS[kind]
        if not _is_number(seconds) or not math.isfinite(seconds) or not 0 < seconds <= limit:
            raise FaultSpecError(f"'seconds' must be a number > 0 and <= {limit:g} for '{kind}'; got {seconds!r}")
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
