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

The pieces live in their own modules, and every public name is re-exported here:

- ``fault_rules``: the rule model and its validation (``FaultRule``, ``FaultSpecError``, ``build_rule``);
- ``fault_middleware``: the ASGI middleware and its transport helpers (``ADMIN_PREFIX``);
- ``fault_admin``: the admin endpoints;
- ``fault_cli``: the CLI flags and the ``--fault`` syntax (``add_fault_arguments``, ``parse_fault_spec``).
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.types import ASGIApp

from studio_provider.emulator.fault_admin import _build_admin_router
from studio_provider.emulator.fault_cli import add_fault_arguments, parse_fault_spec
from studio_provider.emulator.fault_middleware import ADMIN_PREFIX, _FaultMiddleware
from studio_provider.emulator.fault_rules import KINDS, FaultRule, FaultSpecError, _is_int, build_rule
from studio_provider.emulator.observation import DEFAULT_MAX_ENTRIES, Observations

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
