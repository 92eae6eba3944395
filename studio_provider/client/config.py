"""Where the client talks to and as whom: URL, token, team and HTTP settings.

``StudioConfig.resolve`` fills what is missing from the environment variables the official
``datachain`` client uses, and checks everything before any request is made.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

DEFAULT_URL = "https://studio.datachain.ai"
ENV_TOKEN = "DATACHAIN_STUDIO_TOKEN"
ENV_TEAM = "DATACHAIN_STUDIO_TEAM"
ENV_URL = "DATACHAIN_STUDIO_URL"
AUTH_SCHEMES = ("Bearer", "token")

log = logging.getLogger(__name__)
#: Plain-http URLs already warned about (once per URL and process, not once per hook or trigger).
_WARNED_PLAIN_HTTP: set[str] = set()


def _shown_url(text: str) -> str:
    """``text`` as an error message may show it: anything before an ``@`` in the authority is masked."""
    scheme, sep, rest = text.rpartition("://") if "://" in text else ("", "", text)
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"


def normalize_api_url(url: str) -> str:
    """Return the API base URL: scheme and host of ``url``, its path, and ``/api`` appended when missing.

    :param url: a Studio URL such as ``https://studio.datachain.ai`` or ``http://127.0.0.1:8765/api``.
    :raises ValueError: when the URL is not an absolute http(s) URL, or holds credentials.
    """
    text = url.strip()
    shown = _shown_url(text)
    if "://" not in text:
        raise ValueError(
            f"Studio URL {shown!r} has no scheme: set the connection's host to a full URL "
            f"such as {DEFAULT_URL!r}."
        )
    parts = urlsplit(text)
    if "@" in parts.netloc:
        # A URL is shown in reprs, error messages and httpx's request log: it must hold no secret.
        raise ValueError(
            f"Studio URL {shown!r} holds credentials (user:password@): remove them; the Studio token "
            f"belongs in the connection's password field."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"Studio URL {shown!r} is malformed: expected http(s)://host[:port][/path], "
            f"for example {DEFAULT_URL!r}."
        )
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"Studio URL {shown!r} has an invalid port.") from exc
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        raise ValueError(
            f"Studio URL {shown!r} has a '.' or '..' path segment: give Studio's plain address, for "
            f"example {DEFAULT_URL!r} or http://127.0.0.1:8765."
        )
    _warn_plain_http(parts.scheme, parts.hostname, shown)
    path = parts.path.rstrip("/")
    if not path.endswith("/api"):
        path = f"{path}/api"
    return f"{parts.scheme}://{parts.netloc}{path}"


def _warn_plain_http(scheme: str, host: str, shown: str) -> None:
    """Warn (once per URL) that the token would cross the network unencrypted: ``http://`` to a host
    that is not this machine."""
    if scheme != "http" or shown in _WARNED_PLAIN_HTTP:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost" or host.lower().endswith(".localhost")
    if loopback:
        return
    _WARNED_PLAIN_HTTP.add(shown)
    log.warning(
        "Studio URL %s uses plain http:// to %s, which is not this machine: the token and the data travel "
        "unencrypted. Use https://.",
        shown,
        host,
    )


@dataclass(frozen=True)
class StudioConfig:
    """Everything the client needs to reach Studio.

    :param url: the API base URL, ``/api`` included (use :meth:`resolve` to normalize a user's URL).
    :param token: the Studio token. Never shown in ``repr``.
    :param team: the team every call is scoped to.
    :param auth_scheme: ``"Bearer"`` (the API reference) or ``"token"`` (what the official client sends).
    :param timeout: seconds one attempt of a call may take as a whole: connecting, sending, and reading
        the complete answer (an upload gets one more second per 256 KiB it sends). Retries get their own.
    :param verify: verify TLS certificates (``True``), don't (``False``), or verify them against this CA
        bundle file or directory (a path, for a self-hosted Studio with a private CA).
    :param max_retries: how often a retryable failure is retried (0 disables retries).
    """

    url: str
    token: str = field(repr=False)
    team: str
    auth_scheme: str = "Bearer"
    timeout: float = 30.0
    verify: bool | str = True
    max_retries: int = 3

    def __post_init__(self) -> None:
        check_token(self.token, "StudioConfig(token=...)", "the token argument")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)):
            raise ValueError(f"StudioConfig timeout must be a number of seconds, got {self.timeout!r}.")
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError(f"StudioConfig timeout must be a finite number > 0, got {self.timeout!r}.")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"StudioConfig max_retries must be a whole number >= 0, got {self.max_retries!r}.")

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
        token = (token or "").strip()
        token_setting = f"the password of {source}"
        if not token:
            token = env.get(ENV_TOKEN, "").strip()
            token_setting = f"the {ENV_TOKEN} environment variable"
        if not token:
            raise ValueError(
                f"No DataChain Studio token: set the password of {source} to a Studio token "
                f"(create one with `datachain auth token` or in Studio's Settings > Tokens), "
                f"or set the {ENV_TOKEN} environment variable."
            )
        check_token(token, token_setting, f"the password of {source} or {ENV_TOKEN}")
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
            verify=_verify(extras.get("verify"), source),
            max_retries=_non_negative_int(extras.get("max_retries"), 3, "max_retries", source),
        )


def check_token(token: str, setting: str, fix: str) -> None:
    """Refuse a token that cannot travel in an HTTP header: only visible ASCII characters are allowed.

    A newline, a space or another control character would make the request fail inside the HTTP library
    with the token in the exception text. The message names the setting and never shows the value.

    :param token: the token to check.
    :param setting: where the token came from, as the message names it.
    :param fix: what to correct.
    """
    if not isinstance(token, str) or not token:
        raise ValueError(f"The Studio token is missing: set {fix}.")
    if not all("!" <= char <= "~" for char in token):
        raise ValueError(
            f"The Studio token in {setting} holds a space, a line break, a control character or a "
            f"non-ASCII character, which cannot be sent in an HTTP header. Paste the token again into "
            f"{fix}, without anything around or inside it."
        )


def _positive_float(value: Any, default: float, name: str, source: str) -> float:
    if value is None or value == "":
        return default
    try:
        number = -1.0 if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not math.isfinite(number) or number <= 0:
        raise ValueError(
            f"Invalid {name} {value!r} in {source}: expected a finite, positive number of seconds."
        )
    return number


def _non_negative_int(value: Any, default: int, name: str, source: str) -> int:
    if value is None or value == "":
        return default
    number = -1
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number < 0:
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


def _verify(value: Any, source: str) -> bool | str:
    """``verify`` as a boolean, or the path of a CA bundle file or directory that exists."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = str(value).strip() if isinstance(value, str) else None
    if text and text.lower() not in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        if not os.path.exists(text):
            raise ValueError(
                f"Invalid verify {value!r} in {source}: expected true, false, or the path of a CA bundle "
                f"file or directory that exists on this machine."
            )
        return text
    return _boolean(value, True, "verify", source)
