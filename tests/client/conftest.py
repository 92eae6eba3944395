"""Fixtures of the client tests: a config pointing at a fake host, respx, and recorded retry waits."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from studio_provider.client import AsyncStudioClient, StudioClient, StudioConfig

BASE = "https://studio.test"
API = f"{BASE}/api"
TOKEN = "s3cr3t-T0KEN-value"
TEAM = "the-team"


def make_config(**extras: Any) -> StudioConfig:
    """A checked config for the fake host; ``extras`` as a connection's extra field would give them."""
    return StudioConfig.resolve(url=BASE, token=TOKEN, team=TEAM, extras=extras, environ={})


def query_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    """The request's query string as (key, value) pairs, repeated keys kept, in order."""
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def json_body(request: httpx.Request) -> Any:
    """The request's JSON body (``None`` when it has none)."""
    if not request.content:
        return None
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx intercepting every httpx request (nothing reaches the network)."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


def sync_client(router: respx.MockRouter, config: StudioConfig | None = None) -> StudioClient:
    """A blocking client whose transport is ``router`` (no TLS context to build, no network)."""
    return StudioClient(config or make_config(), transport=httpx.MockTransport(router.handler))


def async_client(router: respx.MockRouter, config: StudioConfig | None = None) -> AsyncStudioClient:
    """An asyncio client whose transport is ``router``."""
    return AsyncStudioClient(config or make_config(), transport=httpx.MockTransport(router.async_handler))


class SleepRecorder:
    """Stands in for the sleeps of tenacity's retry loops: records each requested wait, never waits.

    Only the test's own thread is recorded: an emulator an earlier test started keeps serving from its
    own thread and loop, and its sleeps are real (and not the client's)."""

    def __init__(self, real_sync: Callable[[float], None], real_coro: Callable[..., Awaitable[Any]]) -> None:
        self.waits: list[float] = []
        self._thread = threading.get_ident()
        self._real_sync = real_sync
        self._real_coro = real_coro

    def sync(self, seconds: float) -> None:
        if threading.get_ident() != self._thread:
            self._real_sync(seconds)
            return
        self.waits.append(seconds)

    async def coro(self, seconds: float, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != self._thread:
            return await self._real_coro(seconds, *args, **kwargs)
        self.waits.append(seconds)
        return args[0] if args else kwargs.get("result")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """Patch the sleeps tenacity uses: ``Retrying`` calls ``tenacity.nap.sleep`` → ``time.sleep`` (looked
    up on the module at call time), ``AsyncRetrying`` calls ``asyncio.sleep`` (imported lazily)."""
    import asyncio

    import tenacity.nap

    recorder = SleepRecorder(tenacity.nap.time.sleep, asyncio.sleep)
    monkeypatch.setattr(tenacity.nap.time, "sleep", recorder.sync)
    monkeypatch.setattr(asyncio, "sleep", recorder.coro)
    return recorder
