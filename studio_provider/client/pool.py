"""Shared, reference-counted async clients: one httpx connection pool per event loop and configuration.

A triggerer runs many triggers of one connection in one event loop. Each takes the loop's client for
its configuration with :func:`shared_client` instead of opening its own, so 1,000 waiting jobs mean
one connection pool (and one TLS context), not 1,000. The registry is keyed by the running loop and a
digest of the configuration: two tokens, teams or URLs never share a client, and the token itself is
never kept in a key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from .api import AsyncStudioClient
from .config import StudioConfig
from .tls import ssl_context

# A per-process salt: the digests identify configurations inside this process only, and cannot be
# checked against a guessed token elsewhere.
_SALT = os.urandom(16)


def config_key(config: StudioConfig) -> str:
    """A digest that is equal for equal configurations (token included) and reveals none of them.

    :param config: the client configuration.
    """
    verify: Any = config.verify
    verify_part = repr(verify) if isinstance(verify, (bool, str, os.PathLike)) else f"object:{id(verify)}"
    parts = (
        config.url,
        config.team,
        config.auth_scheme,
        config.token,
        repr(config.timeout),
        verify_part,
        repr(config.max_retries),
    )
    digest = hashlib.blake2b(key=_SALT, digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


#: The shared client's connection pool. Idle connections stay open across a polling interval (httpx's
#: default of 5 s would pay a TLS handshake per round) but below the 60 s idle timeout of common load
#: balancers.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=55.0)


def _pooled_client(config: StudioConfig) -> AsyncStudioClient:
    transport = httpx.AsyncHTTPTransport(verify=ssl_context(config.verify), limits=POOL_LIMITS)
    return AsyncStudioClient(config, transport=transport)


@dataclass
class _Entry:
    client: AsyncStudioClient
    users: int = 0


# loop -> {config digest -> entry}; a loop that is garbage collected takes its entries with it.
_REGISTRY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def shared_client(config: StudioConfig) -> AsyncIterator[AsyncStudioClient]:
    """Use the running loop's shared client for ``config``; it is closed when its last user leaves.

    >>> async with shared_client(config) as client:  # doctest: +SKIP
    ...     job = await client.get_job(job_id="42")

    Do not close the yielded client yourself.

    :param config: where and as whom; equal configurations share one client.
    """
    loop = asyncio.get_running_loop()
    key = config_key(config)
    entries = _REGISTRY.setdefault(loop, {})
    entry = entries.get(key)
    if entry is None:
        entry = _Entry(_pooled_client(config))
        entries[key] = entry
    entry.users += 1
    try:
        yield entry.client
    finally:
        entry.users -= 1
        if entry.users == 0:
            # Unregister before awaiting, so a user arriving during aclose() gets a fresh client.
            if entries.get(key) is entry:
                del entries[key]
            await entry.client.aclose()


def shared_client_count(loop: asyncio.AbstractEventLoop | None = None) -> int:
    """How many shared clients are open in ``loop`` (default: the running loop); for tests and benchmarks.

    :param loop: the event loop to look at.
    """
    loop = loop or asyncio.get_running_loop()
    return len(_REGISTRY.get(loop, {}))
