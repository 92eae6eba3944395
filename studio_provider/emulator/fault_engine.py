"""The fault engine: the rules, a seeded random source and the request observations.

Both the ASGI middleware (``fault_middleware``) and the admin endpoints (``fault_admin``) work on a
``FaultEngine``; ``faults.FaultInjector`` adds the wiring (middleware, admin router, CLI flags) on top, so
the modules form layers: rules and observations, then this engine, then middleware and admin, then
``faults``.

Rules set over HTTP belong to a team when the mounting app says how to tell teams apart
(:meth:`FaultEngine.scope_to_teams`): such a rule fires only on requests whose credentials may act for that
team, only that team sees and removes it, and a team holds at most ``MAX_RULES_PER_TEAM`` of them. Rules set
in-process or on the command line belong to nobody and fire on every request.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fault_rules import FaultRule, FaultSpecError, build_rule
from .observation import DEFAULT_MAX_ENTRIES, Observations

MAX_RULES_PER_TEAM = 50

#: The team an admin call acts for (raising when its credentials may not), from its ASGI scope.
CallerTeam = Callable[[Mapping[str, Any]], str]
#: The teams a request's credentials may act for (empty when none), from its ASGI scope.
RequestTeams = Callable[[Mapping[str, Any]], frozenset[str]]


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
        self._caller_team: CallerTeam | None = None
        self._request_teams: RequestTeams | None = None

    def scope_to_teams(self, caller_team: CallerTeam, request_teams: RequestTeams) -> None:
        """Make rules set over HTTP their caller's team's (see the module docstring)."""
        self._caller_team = caller_team
        self._request_teams = request_teams

    def caller_team(self, scope: Mapping[str, Any]) -> str | None:
        """The team an admin call acts for, or None when rules are not scoped to teams."""
        return self._caller_team(scope) if self._caller_team is not None else None

    # -- Python API -------------------------------------------------------------------------------

    def seed(self, seed: int | None) -> None:
        """Reseed the random source used by ``rate`` rules."""
        with self._lock:
            self._rng = random.Random(seed)

    def add_rule(self, kind: str, **fields: Any) -> FaultRule:
        """Add a rule for every request (same fields as the admin API) and return it; raises
        ``FaultSpecError``."""
        return self.add_rule_spec({"kind": kind, **fields})

    def add_rule_spec(self, spec: Mapping[str, Any], team: str | None = None) -> FaultRule:
        """Add the rule ``spec`` describes, ``team``'s when given; raises ``FaultSpecError`` (also when the
        team already has ``MAX_RULES_PER_TEAM`` rules)."""
        with self._lock:
            if team is not None and sum(1 for r in self._rules if r.team == team) >= MAX_RULES_PER_TEAM:
                raise FaultSpecError(
                    f"team {team} already has {MAX_RULES_PER_TEAM} fault rules: delete some first "
                    "(DELETE /_emulator/faults removes the team's rules)"
                )
            rule = build_rule(spec, self._next_id)
            rule.team = team
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def rule(self, rule_id: int) -> FaultRule | None:
        """The rule with that id, or None."""
        with self._lock:
            return next((r for r in self._rules if r.id == rule_id), None)

    def remove_rule(self, rule_id: int) -> bool:
        """Remove one rule; ``False`` if there was none with that id."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def rules(self, team: str | None = None) -> list[dict[str, Any]]:
        """Rules (including spent ones, marked ``spent``) as JSON-ready dicts: every rule, or with ``team``
        the ones that team sees (its own and everyone's)."""
        with self._lock:
            return [r.to_dict() for r in self._rules if team is None or r.team in (None, team)]

    def clear(self, team: str | None = None) -> int:
        """Remove every fault rule, or only ``team``'s; answer how many (observations are kept)."""
        with self._lock:
            kept = [r for r in self._rules if team is not None and r.team != team]
            removed = len(self._rules) - len(kept)
            self._rules = kept
            return removed

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
        self.clear(None)
        self.reset_observations()

    def _decide(self, scope_type: str, method: str, path: str, scope: Mapping[str, Any] | None = None) -> _Decision:
        """Pick what happens to one request: an active outage wins; latency rules add up; then the
        first terminal rule (in insertion order) whose trigger fires. A team's rule applies only when the
        request's credentials may act for that team (read from ``scope``)."""
        decision = _Decision()
        now = time.monotonic()
        with self._lock:
            rules = self._rules
            if any(r.team is not None for r in rules):
                teams = self._request_teams(scope) if self._request_teams and scope is not None else frozenset()
                rules = [r for r in rules if r.team is None or r.team in teams]
            for rule in rules:
                if (
                    rule.kind == "outage"
                    and not rule.spent(now)
                    and rule.applies_to(scope_type, method, path)
                ):
                    rule.seen += 1
                    rule.fired += 1
                    decision.rule = rule
                    return decision
            for rule in rules:
                if (
                    rule.kind == "latency"
                    and rule.applies_to(scope_type, method, path)
                    and rule.trigger(self._rng)
                ):
                    assert rule.seconds is not None
                    decision.latency += rule.seconds
                    decision.latency_rules.append(rule.label)
            for rule in rules:
                if rule.kind in ("latency", "outage") or not rule.applies_to(scope_type, method, path):
                    continue
                if rule.trigger(self._rng):
                    decision.rule = rule
                    break
        return decision
