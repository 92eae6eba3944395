"""Fault injection and request observation for the Studio emulator.

CONTRACT (owned by the faults work; the app factory relies on exactly these names):

- ``FaultInjector()``: holds the fault configuration, request counters and the request log.
- ``FaultInjector.middleware(app) -> ASGIApp``: wraps the whole emulator ASGI app (HTTP and WebSocket).
  Paths under ``/_emulator`` and the pages (``/``, ``/team/...``) are never faulted and never counted.
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
- ``fault_engine``: the rules, the random source and the observations (``FaultEngine``, the base class);
- ``fault_middleware``: the ASGI middleware and its transport helpers (``ADMIN_PREFIX``);
- ``fault_admin``: the admin endpoints;
- ``fault_cli``: the CLI flags and the ``--fault`` syntax (``add_fault_arguments``, ``parse_fault_spec``).
"""

from __future__ import annotations

import argparse

from fastapi import APIRouter
from starlette.types import ASGIApp

from .fault_admin import _build_admin_router
from .fault_cli import add_fault_arguments, parse_fault_spec
from .fault_engine import FaultEngine
from .fault_middleware import ADMIN_PREFIX, _FaultMiddleware
from .fault_rules import KINDS, FaultRule, FaultSpecError, _is_int, build_rule

__all__ = [
    "ADMIN_PREFIX",
    "KINDS",
    "ASGIApp",
    "FaultEngine",
    "FaultInjector",
    "FaultRule",
    "FaultSpecError",
    "add_fault_arguments",
    "build_rule",
    "parse_fault_spec",
]


class FaultInjector(FaultEngine):
    """The fault engine plus its wiring: the ASGI middleware, the admin router and the CLI flags."""

    # -- ASGI ---------------------------------------------------------------------------------------

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app`` (HTTP and WebSocket); ``/_emulator`` paths and the pages pass through untouched and
        uncounted."""
        return _FaultMiddleware(app, self)

    # -- admin API ------------------------------------------------------------------------------------

    def admin_router(self) -> APIRouter:
        """Admin endpoints, to be mounted with ``prefix="/_emulator"``; the mounting app adds its auth."""
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
