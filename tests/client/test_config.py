"""``StudioConfig.resolve``: URL normalization, environment fallback, extras, and no token in reprs."""

from __future__ import annotations

from typing import Any

import pytest

from studio_provider.client import (
    DEFAULT_URL,
    AsyncStudioClient,
    StudioClient,
    StudioConfig,
    normalize_api_url,
)
from studio_provider.client.transport import AsyncTransport, SyncTransport, TokenAuth

TOKEN = "tok-3f9a7c-secret"


def resolve(**kwargs: Any) -> StudioConfig:
    kwargs.setdefault("environ", {})
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("team", "team-a")
    return StudioConfig.resolve(**kwargs)


# ---------------------------------------------------------------------------------------------
# URL
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://studio.datachain.ai", "https://studio.datachain.ai/api"),
        ("https://studio.datachain.ai/", "https://studio.datachain.ai/api"),
        ("https://studio.datachain.ai/api", "https://studio.datachain.ai/api"),
        ("https://studio.datachain.ai/api/", "https://studio.datachain.ai/api"),
        ("  https://studio.datachain.ai  ", "https://studio.datachain.ai/api"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api"),
        ("http://localhost:8000/api/", "http://localhost:8000/api"),
        ("https://corp.example/studio", "https://corp.example/studio/api"),
        ("https://corp.example/studio/", "https://corp.example/studio/api"),
        ("https://corp.example/studio/api", "https://corp.example/studio/api"),
    ],
)
def test_normalize_api_url(url: str, expected: str) -> None:
    assert normalize_api_url(url) == expected
    assert resolve(url=url).url == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("studio.datachain.ai", "no scheme"),
        ("ftp://studio.datachain.ai", "malformed"),
        ("https://", "malformed"),
        ("https:///api", "malformed"),
        ("https://studio.datachain.ai:abc", "port"),
    ],
)
def test_malformed_urls(url: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_api_url(url)
    message = str(info.value)
    assert words in message
    assert url.strip() in message  # names what was given
    if words != "port":
        assert "https://studio.datachain.ai" in message  # and shows a good example


def test_malformed_url_fails_resolve() -> None:
    with pytest.raises(ValueError, match="no scheme"):
        resolve(url="localhost:8000")


def test_default_url() -> None:
    assert resolve().url == "https://studio.datachain.ai/api"
    assert DEFAULT_URL == "https://studio.datachain.ai"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://studio.datachain.ai", "wss://studio.datachain.ai/api"),
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/api"),
        ("https://corp.example/studio", "wss://corp.example/studio/api"),
    ],
)
def test_websocket_url(url: str, expected: str) -> None:
    assert resolve(url=url).websocket_url == expected


# ---------------------------------------------------------------------------------------------
# environment fallback
# ---------------------------------------------------------------------------------------------

ENV = {
    "DATACHAIN_STUDIO_TOKEN": "env-token",
    "DATACHAIN_STUDIO_TEAM": "env-team",
    "DATACHAIN_STUDIO_URL": "https://env.example",
}


def test_environment_fills_everything() -> None:
    config = StudioConfig.resolve(environ=ENV)
    assert (config.token, config.team, config.url) == ("env-token", "env-team", "https://env.example/api")


def test_explicit_values_win_over_environment() -> None:
    config = StudioConfig.resolve(token="t", team="x", url="https://mine.example", environ=ENV)
    assert (config.token, config.team, config.url) == ("t", "x", "https://mine.example/api")


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_values_fall_back_to_environment(blank: str | None) -> None:
    config = StudioConfig.resolve(token=blank, team=blank, url=blank, environ=ENV)
    assert (config.token, config.team, config.url) == ("env-token", "env-team", "https://env.example/api")


def test_environment_is_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = StudioConfig.resolve()
    assert (config.token, config.team) == ("env-token", "env-team")


def test_explicit_environ_ignores_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", "from-os")
    with pytest.raises(ValueError, match="token"):
        StudioConfig.resolve(team="x", environ={})


def test_missing_token() -> None:
    with pytest.raises(ValueError) as info:
        StudioConfig.resolve(team="x", environ={}, source="connection 'studio_default'")
    message = str(info.value)
    assert "token" in message
    assert "DATACHAIN_STUDIO_TOKEN" in message
    assert "connection 'studio_default'" in message
    assert "password" in message


def test_missing_team() -> None:
    with pytest.raises(ValueError) as info:
        StudioConfig.resolve(token=TOKEN, environ={"DATACHAIN_STUDIO_TOKEN": "x"})
    message = str(info.value)
    assert "team" in message
    assert "'team'" in message  # the connection extra to set
    assert "DATACHAIN_STUDIO_TEAM" in message
    assert TOKEN not in message


# ---------------------------------------------------------------------------------------------
# extras
# ---------------------------------------------------------------------------------------------


def test_defaults() -> None:
    config = resolve()
    assert (config.auth_scheme, config.timeout, config.verify, config.max_retries) == (
        "Bearer",
        30.0,
        True,
        3,
    )
    assert config.authorization == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("extras", "attr", "expected"),
    [
        ({"timeout": "12.5"}, "timeout", 12.5),
        ({"timeout": 7}, "timeout", 7.0),
        ({"timeout": ""}, "timeout", 30.0),
        ({"verify": "false"}, "verify", False),
        ({"verify": "False"}, "verify", False),
        ({"verify": "0"}, "verify", False),
        ({"verify": "no"}, "verify", False),
        ({"verify": False}, "verify", False),
        ({"verify": "true"}, "verify", True),
        ({"verify": "yes"}, "verify", True),
        ({"max_retries": "0"}, "max_retries", 0),
        ({"max_retries": 5}, "max_retries", 5),
        ({"auth_scheme": "token"}, "auth_scheme", "token"),
        ({"auth_scheme": "bearer"}, "auth_scheme", "Bearer"),
    ],
)
def test_extras(extras: dict[str, Any], attr: str, expected: Any) -> None:
    assert getattr(resolve(extras=extras), attr) == expected


def test_token_scheme_header_value() -> None:
    assert resolve(extras={"auth_scheme": "token"}).authorization == f"token {TOKEN}"


@pytest.mark.parametrize(
    ("extras", "name"),
    [
        ({"timeout": "abc"}, "timeout"),
        ({"timeout": "0"}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"verify": "maybe"}, "verify"),
        ({"max_retries": "-1"}, "max_retries"),
        ({"max_retries": "many"}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"auth_scheme": "Basic"}, "auth_scheme"),
    ],
)
def test_bad_extras(extras: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve(extras=extras, source="connection 'c1'")
    message = str(info.value)
    assert name in message
    assert repr(next(iter(extras.values()))) in message
    assert "connection 'c1'" in message


# ---------------------------------------------------------------------------------------------
# no token in reprs
# ---------------------------------------------------------------------------------------------


def test_config_repr_hides_the_token() -> None:
    config = resolve(extras={"auth_scheme": "token"})
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config)
    assert "team-a" in repr(config)


async def test_client_reprs_hide_the_token() -> None:
    config = resolve()
    with StudioClient(config) as client:
        assert TOKEN not in repr(client)
        assert "team-a" in repr(client)
        assert isinstance(client._transport, SyncTransport)
        assert TOKEN not in repr(client._transport)
        assert TOKEN not in repr(client._transport._client.auth)
    async with AsyncStudioClient(config) as aclient:
        assert TOKEN not in repr(aclient)
        assert isinstance(aclient._transport, AsyncTransport)
        assert TOKEN not in repr(aclient._transport)
    assert repr(TokenAuth("Bearer", TOKEN)) == "TokenAuth(***)"


def test_with_team_keeps_the_rest() -> None:
    config = resolve(extras={"max_retries": 1})
    other = config.with_team("team-b")
    assert other.team == "team-b"
    assert (other.url, other.token, other.max_retries) == (config.url, config.token, 1)
    assert config.team == "team-a"


# ---------------------------------------------------------------------------------------------
# tokens that cannot travel in a header, URLs with credentials, numbers that are not numbers
# ---------------------------------------------------------------------------------------------

BAD_TOKENS = [
    "abcd\nefgh",
    "abcd\refgh",
    "abcd\r\nX-Evil: 1",
    "abcd efgh",
    "abcd\tefgh",
    "abcd\x00efgh",
    "abcd\x7fefgh",
    "abcd\u2028efgh",
    "abcd\u00a0efgh",
    "abcd\u00e9efgh",
]


@pytest.mark.parametrize("token", BAD_TOKENS, ids=[repr(t) for t in BAD_TOKENS])
def test_a_token_with_control_or_whitespace_characters_is_refused(token: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve(token=token, source="Airflow connection 'c1'")
    message = str(info.value)
    assert "token" in message
    assert "Airflow connection 'c1'" in message
    assert "password" in message  # the setting to fix
    assert "abcd" not in message and "efgh" not in message  # never echoes the value


def test_a_token_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ValueError) as info:
        StudioConfig.resolve(team="t", environ={"DATACHAIN_STUDIO_TOKEN": "abcd\nefgh"})
    assert "DATACHAIN_STUDIO_TOKEN" in str(info.value)
    assert "abcd" not in str(info.value)


def test_a_bad_token_is_refused_by_the_config_itself() -> None:
    with pytest.raises(ValueError) as info:
        StudioConfig(url="https://studio.test/api", token="abcd\nefgh", team="t")
    assert "token" in str(info.value)
    assert "abcd" not in str(info.value)


def test_surrounding_whitespace_of_a_token_is_still_stripped() -> None:
    assert resolve(token=f"  {TOKEN}\n").token == TOKEN


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2secret@studio.test",
        "https://:hunter2secret@studio.test/api",
        "https://hunter2secret@studio.test",
        "http://user:hunter2secret@127.0.0.1:8765",
    ],
)
def test_a_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve(url=url, source="Airflow connection 'c1'")
    message = str(info.value)
    assert "hunter2secret" not in message
    assert "credentials" in message
    assert "password" in message  # where the token belongs
    assert "Airflow connection 'c1'" in message or "Studio URL" in message


def test_a_schemeless_url_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ValueError) as info:
        normalize_api_url("user:hunter2secret@studio.test")
    assert "hunter2secret" not in str(info.value)


@pytest.mark.parametrize(
    ("extras", "name"),
    [
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": "nan"}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": "inf"}, "timeout"),
        ({"timeout": "-inf"}, "timeout"),
        ({"max_retries": 2.7}, "max_retries"),
        ({"max_retries": "2.7"}, "max_retries"),
        ({"max_retries": float("nan")}, "max_retries"),
    ],
)
def test_numbers_that_would_misbehave_later_are_refused(extras: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve(extras=extras, source="connection 'c1'")
    assert name in str(info.value)
    assert "connection 'c1'" in str(info.value)


@pytest.mark.parametrize(("value", "expected"), [(2.0, 2), ("4", 4), (" 1 ", 1)])
def test_whole_retry_counts_are_accepted(value: Any, expected: int) -> None:
    assert resolve(extras={"max_retries": value}).max_retries == expected
