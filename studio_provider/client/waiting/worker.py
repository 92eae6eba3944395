"""The worker's side of waiting: the same coroutines a trigger awaits, run to completion in the task.

An operator that does not defer waits here (``asyncio.run`` with the loop's shared client), and cancels
or pauses what it started here too, so the deferred and the worker path run one implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..api import AsyncStudioClient
from ..config import StudioConfig
from ..pool import shared_client

R = TypeVar("R")


def run_on_worker(config: StudioConfig, work: Callable[[AsyncStudioClient], Awaitable[R]]) -> R:
    """Run ``work(client)`` in a fresh event loop with a pooled client of ``config``; return its result.

    It blocks until ``work`` is done. Called while an event loop already runs in this thread (an
    ``on_kill`` interrupting a wait), it runs ``work`` in a helper thread.

    >>> run_on_worker(hook.config, lambda client: wait_for_job(client, "42", deadline=deadline))  # doctest: +SKIP

    :param config: the connection's settings.
    :param work: the coroutine to run, given the client.
    """

    async def main() -> R:
        async with shared_client(config) as client:
            return await work(client)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # A loop runs in this thread already: a task's on_kill (a signal handler) interrupted a wait run
    # here. Run in a thread of its own, whose loop is free.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-worker-wait") as pool:
        return pool.submit(asyncio.run, main()).result()


__all__ = ["run_on_worker"]
