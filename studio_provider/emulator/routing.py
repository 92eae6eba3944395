"""Helpers shared by the routers: both slash variants of a path, the emulator, admin auth and flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from .auth import authenticate
from .runtime import Emulator


def slash_variants(path: str) -> list[str]:
    """``path`` as the spec spells it, then the same path with/without its trailing slash."""
    other = path[:-1] if path.endswith("/") else path + "/"
    return [path, other]


def add_route(
    router: APIRouter, path: str, endpoint: Callable[..., Any], methods: list[str], **kwargs: Any
) -> None:
    """Register ``endpoint`` under both slash variants: clients differ, and a redirect breaks POSTs."""
    for index, variant in enumerate(slash_variants(path)):
        router.add_api_route(variant, endpoint, methods=methods, include_in_schema=index == 0, **kwargs)


def emulator_of(request: Request) -> Emulator:
    emulator = request.app.state.emulator
    assert isinstance(emulator, Emulator)
    return emulator


def team_of(request: Request, body: dict[str, Any] | None = None) -> str:
    """The team of an admin request (the API's routes use ``schema.parse_request`` instead): body
    ``team_name`` first, then the query string, else the token's first team."""
    team = None
    if body is not None and body.get("team_name") is not None:
        team = str(body["team_name"])
    if team is None:
        team = request.query_params.get("team_name")
    return authenticate(emulator_of(request).config.tokens, request.headers.get("authorization"), team)


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
