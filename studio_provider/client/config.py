"""Where the client talks to and as whom: URL, token, team and HTTP settings.

``StudioConfig.resolve`` fills what is missing from the environment variables the official
``datachain`` client uses, and checks everything before any request is made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

DEFAULT_URL = "https://studio.datachain.ai"
ENV_TOKEN = "DATACHAIN_STUDIO_TOKEN"
ENV_TEAM = "DATACHAIN_STUDIO_TEAM"
ENV_URL = "DATACHAIN_STUDIO_URL"
AUTH_SCHEMES = ("Bearer", "token")


def normalize_api_url(url: str) -> str:
    """Return the API base URL: scheme and host of ``url``, its path, and ``/api`` appended when missing.

    :param url: a Studio URL such as ``https://studio.datachain.ai`` or ``http://127.0.0.1:8765/api``.
    :raises ValueError: when the URL is not an absolute http(s) URL.
    """
    text = url.strip()
    if "://" not in text:
        raise ValueError(
            f"Studio URL {text!r} has no scheme: set the connection's host to a full URL "
            f"such as {DEFAULT_URL!r}."
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"Studio URL {text!r} is malformed: expected http(s)://host[:port][/path], "
            f"for example {DEFAULT_URL!r}."
        )
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"Studio URL {text!r} has an invalid port.") from exc
    path = parts.path.rstrip("/")
    if not path.endswith("/api"):
        path = f"{path}/api"
    return f"{parts.scheme}://{parts.netloc}{path}"


@dataclass(frozen=True)
class StudioConfig:
    """Everything the client needs to reach Studio.

    :param url: the API base URL, ``/api`` included (use :meth:`resolve` to normalize a user's URL).
    :param token: the Studio token. Never shown in ``repr``.
    :param team: the team every call is scoped to.
    :param auth_scheme: ``"Bearer"`` (the API reference) or ``"token"`` (what the official client sends).
    :param timeout: seconds for each HTTP request.
    :param verify: verify TLS certificates.
    :param max_retries: how often a retryable failure is retried (0 disables retries).
    """

    url: str
    token: str = field(repr=False)
    team: str
    auth_scheme: str = "Bearer"
    timeout: float = 30.0
    verify: bool = True
    max_retries: int = 3

    @property
    def websocket_url(self) -> str:
        """The API base with ``http`` turned into ``ws`` (and ``https`` into ``wss``)."""
        return "ws" + self.url[len("http") :]

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.auth_scheme} {self.token}"

    def with_team(self, team: str) -> StudioConfig:
        """The same settings for another team."""
        return replace(self, team=team)

    @classmethod
    def resolve(
        cls,
        *,
        url: str | None = None,
        token: str | None = None,
        team: str | None = None,
        extras: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        source: str = "the connection",
    ) -> StudioConfig:
        """Build a checked config, falling back to ``DATACHAIN_STUDIO_*`` environment variables.

        :param url: Studio URL; default ``DATACHAIN_STUDIO_URL``, then ``https://studio.datachain.ai``.
        :param token: Studio token; default ``DATACHAIN_STUDIO_TOKEN``.
        :param team: team name; default ``DATACHAIN_STUDIO_TEAM``.
        :param extras: optional ``auth_scheme``, ``timeout``, ``verify``, ``max_retries``.
        :param environ: the environment to read (default ``os.environ``).
        :param source: how to name the settings' origin in error messages.
        :raises ValueError: when the token or team is missing, or a setting is invalid.
        """
        env = os.environ if environ is None else environ
        extras = extras or {}
        token = (token or "").strip() or env.get(ENV_TOKEN, "").strip()
        if not token:
            raise ValueError(
                f"No DataChain Studio token: set the password of {source} to a Studio token "
                f"(create one with `datachain auth token` or in Studio's Settings > Tokens), "
                f"or set the {ENV_TOKEN} environment variable."
            )
        team = (team or "").strip() or env.get(ENV_TEAM, "").strip()
        if not team:
            raise ValueError(
                f"No DataChain Studio team: set the extra field 'team' of {source} "
                f'(for example {{"team": "my-team"}}), or set the {ENV_TEAM} environment variable.'
            )
        raw_url = (url or "").strip() or env.get(ENV_URL, "").strip() or DEFAULT_URL
        scheme = str(extras.get("auth_scheme") or "Bearer").strip()
        matched = [s for s in AUTH_SCHEMES if s.lower() == scheme.lower()]
        if not matched:
            raise ValueError(
                f"Invalid auth_scheme {scheme!r} in {source}: use 'Bearer' (the default) or 'token'."
            )
        return cls(
            url=normalize_api_url(raw_url),
            token=token,
            team=team,
            auth_scheme=matched[0],
            timeout=_positive_float(extras.get("timeout"), 30.0, "timeout", source),
            verify=_boolean(extras.get("verify"), True, "verify", source),
            max_retries=_non_negative_int(extras.get("max_retries"), 3, "max_retries", source),
        )


def _positive_float(value: Any, default: float, name: str, source: str) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise ValueError(f"Invalid {name} {value!r} in {source}: expected a positive number of seconds.")
    return number


def _non_negative_int(value: Any, default: int, name: str, source: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise ValueError(f"Invalid {name} {value!r} in {source}: expected a whole number >= 0.")
    return number


def _boolean(value: Any, default: bool, name: str, source: str) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"Invalid {name} {value!r} in {source}: expected true or false.")
