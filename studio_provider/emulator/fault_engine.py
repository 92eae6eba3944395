"""The fault engine: the rules, a seeded random source and the request observations.

Both the ASGI middleware (``fault_middleware``) and the admin endpoints (``fault_admin``) work on a
``FaultEngine``; ``faults.FaultInjector`` adds the wiring (middleware, admin router, CLI flags) on top, so
the modules form layers: rules and observations, then this engine, then middleware and admin, then
``faults``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .fault_rules import FaultRule, build_rule
from .observation import DEFAULT_MAX_ENTRIES, Observations


@dataclass
class _Decision:
    latency: float = 0.0
    rule: FaultRule | None = None
    latency_rules: list[str] = field(default_factory=list)


class FaultEngine:
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
