"""Token authentication and team authorization (never logs or echoes a token)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from .errors import ApiError

_SCHEMES = ("bearer", "token")


def token_from_header(value: str | None) -> str | None:
    """The token of ``Authorization: Bearer <t>`` or ``Authorization: token <t>``, else None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() not in _SCHEMES:
        return None
    token = token.strip()
    return token or None


def teams_for_token(tokens: Mapping[str, list[str]], token: str | None) -> list[str]:
    """The teams ``token`` is bound to; 401 when it is missing or unknown."""
    if token is None:
        raise ApiError(401, "Authentication credentials were not provided.")
    for known, teams in tokens.items():
        # Constant-time comparison: the emulator may listen on a shared host with --allow-remote.
        if hmac.compare_digest(known.encode(), token.encode()):
            return list(teams)
    raise ApiError(401, "Invalid token.")


def authorize_team(teams: list[str], requested: str | None) -> str:
    """The team to act for: the requested one if the token may, else 403; the first team if none given."""
    if requested is None or requested == "":
        return teams[0]
    if requested not in teams:
        raise ApiError(403, f"You do not have access to team {requested!r}.")
    return requested


def authenticate(tokens: Mapping[str, list[str]], authorization: str | None, team: str | None) -> str:
    """Check the Authorization header and the team; return the team name to act for."""
    return authorize_team(teams_for_token(tokens, token_from_header(authorization)), team)


def scope_authorization(scope: Mapping[str, Any]) -> str | None:
    """The ``Authorization`` header of an ASGI scope (the last one, as Starlette reads it), or None."""
    found = None
    for key, value in scope.get("headers") or ():
        if key.lower() == b"authorization":
            found = value.decode("latin-1")
    return found


def scope_teams(tokens: Mapping[str, list[str]], scope: Mapping[str, Any]) -> frozenset[str]:
    """The teams the credentials of an ASGI request may act for; empty when they are missing or unknown."""
    try:
        return frozenset(teams_for_token(tokens, token_from_header(scope_authorization(scope))))
    except ApiError:
        return frozenset()


def scope_team(tokens: Mapping[str, list[str]], scope: Mapping[str, Any]) -> str:
    """The team an admin request acts for: ``team_name`` in its query string, else its token's first team;
    401/403 as :func:`authenticate`."""
    query = scope.get("query_string") or b""
    named = parse_qs(query.decode("latin-1")).get("team_name", [None])[-1]
    return authenticate(tokens, scope_authorization(scope), named)
