"""Fault injection and request observation for the Studio emulator.

CONTRACT (owned by the faults work; the app factory relies on exactly these names):

- ``FaultInjector()``: holds the fault configuration, request counters and the request log.
- ``FaultInjector.middleware(app) -> ASGIApp``: wraps the whole emulator ASGI app (HTTP and WebSocket).
  Paths under ``/_emulator`` are never faulted and never counted as API routes.
- ``FaultInjector.admin_router() -> fastapi.APIRouter``: admin endpoints, mounted by the app factory
  with ``prefix="/_emulator"``.
- ``add_fault_arguments(parser: argparse.ArgumentParser) -> None`` and
  ``FaultInjector.configure_from_args(args: argparse.Namespace) -> None``: the CLI flags.

This file is a placeholder until the implementation lands: it passes everything through.
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import APIRouter

ASGIApp = Any


class FaultInjector:
    """Placeholder: no faults, no observation."""

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return app

    def admin_router(self) -> APIRouter:
        return APIRouter()

    def configure_from_args(self, args: argparse.Namespace) -> None:
        return None


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    return None
