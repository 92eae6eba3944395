"""Request observation for the Studio emulator: per-route counters and a bounded request log.

Only what is needed to tell requests apart is recorded: method, path, a query string with secret-looking
parameters removed, status, timing and the fault applied. Headers are never read, so the
``Authorization`` token cannot end up here.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qsl, urlencode

DEFAULT_MAX_ENTRIES = 10_000
# Counters are kept for this many distinct ``METHOD /path`` keys; requests to further paths (anyone can send
# a million different ones, even without a token) are counted under ``OTHER_ROUTES``.
DEFAULT_MAX_ROUTES = 2_000
OTHER_ROUTES = "* (other routes)"

# A query parameter whose lower-cased name contains one of these is dropped from the log.
SENSITIVE_QUERY_WORDS: tuple[str, ...] = ("token", "secret", "password", "authorization", "api_key", "apikey")


def sanitize_query(raw: bytes | str) -> str:
    """Return the query string without parameters named like a token or another secret."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    if not text:
        return ""
    pairs = parse_qsl(text, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not any(part in k.lower() for part in SENSITIVE_QUERY_WORDS)]
    return urlencode(kept)


def _strip_slash(path: str) -> str:
    return path.rstrip("/") or "/"


def path_matches(pattern: str, path: str) -> bool:
    """Match ``path`` against an exact path or an fnmatch glob; a trailing slash is optional on both sides.

    ``*`` in a glob also matches ``/`` (fnmatch semantics), so ``/api/datachain/jobs/*`` covers
    ``/api/datachain/jobs/7/cancel`` too.
    """
    if pattern == "*":
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatchcase(path, pattern) or fnmatchcase(_strip_slash(path), _strip_slash(pattern))
    return _strip_slash(pattern) == _strip_slash(path)


def route_key(method: str, path: str) -> str:
    """The counter key of a request: ``"METHOD /path"`` (WebSockets use the method ``WS``)."""
    return f"{method} {path}"


class Observations:
    """Thread-safe request counters and a bounded request log."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_routes: int = DEFAULT_MAX_ROUTES) -> None:
        if max_entries < 1 or max_routes < 1:
            raise ValueError("max_entries and max_routes must be at least 1")
        self._max_routes = max_routes
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._routes: dict[str, dict[str, int]] = {}
        self._totals: dict[str, int] = {}
        self._seq = 0

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append ``entry`` (which must carry ``method``, ``path`` and ``status``) and count it."""
        key = route_key(str(entry["method"]), str(entry["path"]))
        status = str(entry["status"])
        with self._lock:
            self._seq += 1
            stored = {"id": self._seq, **entry}
            self._log.append(stored)
            if key not in self._routes and len(self._routes) >= self._max_routes:
                key = OTHER_ROUTES
            statuses = self._routes.setdefault(key, {})
            statuses[status] = statuses.get(status, 0) + 1
            self._totals[key] = self._totals.get(key, 0) + 1
        return stored

    def requests(
        self, path: str | None = None, method: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Logged requests, oldest first; ``path`` is an exact path or a glob; ``limit`` keeps the newest."""
        with self._lock:
            entries: Iterable[dict[str, Any]] = [dict(e) for e in self._log]
        if path is not None:
            entries = [e for e in entries if path_matches(path, str(e["path"]))]
        if method is not None:
            entries = [e for e in entries if str(e["method"]).upper() == method.upper()]
        result = list(entries)
        if limit is not None:
            result = result[-limit:] if limit > 0 else []
        return result

    def counters(self) -> dict[str, Any]:
        """``{"total": N, "routes": {"GET /path": {"total": n, "statuses": {"200": n, "reset": n}}}}``."""
        with self._lock:
            routes = {
                key: {"total": self._totals[key], "statuses": dict(statuses)}
                for key, statuses in sorted(self._routes.items())
            }
            total = sum(self._totals.values())
        return {"total": total, "routes": routes}

    def count(self, method: str, path: str, status: int | str | None = None) -> int:
        """How many requests were recorded for exactly ``METHOD path`` (optionally with that status)."""
        key = route_key(method.upper(), path)
        with self._lock:
            if status is None:
                return self._totals.get(key, 0)
            return self._routes.get(key, {}).get(str(status), 0)

    def reset(self) -> None:
        """Forget every counter and log entry."""
        with self._lock:
            self._log.clear()
            self._routes.clear()
            self._totals.clear()
