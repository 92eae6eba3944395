"""One shared, reference-counted async client per event loop and configuration."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme

from studio_provider.client import AsyncStudioClient, StudioConfig, shared_client
from studio_provider.client.pool import config_key, shared_client_count
from studio_provider.client.tls import ssl_context
from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM, EMULATOR_TOKEN

TOKEN = "p00l-s3cr3t-T0KEN"


def config(token: str = TOKEN, team: str = "team-a", url: str = "https://studio.test", **extras: object) -> StudioConfig:
    return StudioConfig.resolve(url=url, token=token, team=team, extras=extras, environ={})


def is_closed(client: AsyncStudioClient) -> bool:
    return bool(client._transport._client.is_closed)


async def test_concurrent_users_share_one_client_until_the_last_leaves() -> None:
    both_inside = asyncio.Event()
    first_may_leave = asyncio.Event()
    seen: list[AsyncStudioClient] = []

    async def user(leave_after: asyncio.Event | None) -> None:
        async with shared_client(config()) as client:
            seen.append(client)
            if len(seen) == 2:
                both_inside.set()
            await both_inside.wait()
            if leave_after is not None:
                await leave_after.wait()

    first = asyncio.ensure_future(user(first_may_leave))
    second = asyncio.ensure_future(user(None))
    await asyncio.wait_for(second, 10)

    assert seen[0] is seen[1]
    assert not is_closed(seen[0])  # the first user is still inside
    assert shared_client_count() == 1
    first_may_leave.set()
    await asyncio.wait_for(first, 10)
    assert is_closed(seen[0])
    assert shared_client_count() == 0


async def test_a_user_after_the_last_one_left_gets_a_fresh_client() -> None:
    async with shared_client(config()) as first:
        pass
    async with shared_client(config()) as second:
        assert second is not first
        assert not is_closed(second)
    assert is_closed(first) and is_closed(second)


@pytest.mark.parametrize(
    "other",
    [
        config(token="another-token"),
        config(team="team-b"),
        config(url="https://other.studio.test"),
        config(auth_scheme="token"),
        config(verify=False),
        config(timeout=5),
    ],
    ids=["token", "team", "url", "auth scheme", "verify", "timeout"],
)
async def test_different_settings_never_share(other: StudioConfig) -> None:
    async with shared_client(config()) as mine, shared_client(other) as theirs:
        assert mine is not theirs
        assert theirs.config == other
        assert shared_client_count() == 2


async def test_equal_settings_share_even_as_distinct_objects() -> None:
    async with shared_client(config()) as one, shared_client(config()) as two:
        assert one is two


def test_each_event_loop_has_its_own_client() -> None:
    async def take() -> AsyncStudioClient:
        async with shared_client(config()) as client:
            return client

    assert asyncio.run(take()) is not asyncio.run(take())


async def test_the_token_is_in_no_repr_and_no_key() -> None:
    async with shared_client(config()) as client:
        assert TOKEN not in repr(client)
        assert TOKEN not in repr(client.config)
        assert TOKEN not in repr(client._transport)
        key = config_key(client.config)
        assert TOKEN not in key
        assert key == config_key(config())
        assert key != config_key(config(token="another-token"))


async def test_an_error_inside_still_releases_the_client() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with shared_client(config()) as client:
            raise RuntimeError("boom")
    assert is_closed(client)
    assert shared_client_count() == 0


async def test_the_shared_client_talks_to_studio(fresh_emulator: EmulatorServer) -> None:
    studio = StudioConfig.resolve(url=fresh_emulator.url, token=EMULATOR_TOKEN, team=EMULATOR_TEAM, environ={})
    async with shared_client(studio) as one, shared_client(studio) as two:
        jobs = await asyncio.gather(one.list_jobs(), two.list_clusters())
    assert jobs[0] == []
    assert {cluster.name for cluster in jobs[1]} >= {"default"}


def test_tls_contexts_are_built_once_per_setting() -> None:
    assert ssl_context(True) is ssl_context(True)
    strict = ssl_context(True)
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname
    lax = ssl_context(False)
    assert lax is ssl_context(False)
    assert lax.verify_mode is ssl.CERT_NONE and not lax.check_hostname
    own = ssl.create_default_context()
    assert ssl_context(own) is own


def test_a_ca_bundle_path_is_trusted(tmp_path: Path) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl_context(str(bundle))
    assert context is ssl_context(bundle)  # a Path and its text are one setting
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
