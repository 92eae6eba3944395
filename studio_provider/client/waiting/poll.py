"""The one polling loop: read, judge, sleep, until done or the deadline, surviving transient failures.

The pipeline and dataset waits, the dataset watcher and the cancel-and-pause retries all run here, so a
deadline, a retry and an outage mean the same thing everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ..retry import Backoff, is_transient
from .deadline import Deadline

log = logging.getLogger(__name__)

T = TypeVar("T")


class Warns(Protocol):
    """Any logger: the standard library's, an adapter, or the one an Airflow task has."""

    def warning(self, msg: str, /, *args: Any) -> Any: ...


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    interval: float,
    deadline: Deadline,
    on_change: Callable[[T], object] | None = None,
    what: str = "the awaited state",
) -> T:
    """Call ``fetch`` every ``interval`` seconds until ``done(result)``; return that result.

    Transient failures (:func:`~..retry.is_transient`) are logged and retried until the deadline; any
    other failure propagates at once.

    :param fetch: reads the current state (for example ``lambda: client.get_pipeline(name=...)``).
    :param done: tells when the state is final.
    :param interval: seconds between reads (> 0).
    :param deadline: when to give up.
    :param on_change: called with each result that differs from the previous one (the first included).
    :param what: what is awaited, for messages (``"Studio pipeline p-1"``).
    :raises StudioDeadlineExceeded: when the deadline passes first.
    :raises ValueError: when ``interval`` is not positive.
    """
    if not interval > 0:
        raise ValueError(f"poll_until interval must be a positive number of seconds, got {interval!r}.")
    missing = object()
    previous: object = missing
    failures = 0
    while True:
        if deadline.expired:
            raise deadline.exceeded(what)
        try:
            result = await deadline.bound(fetch(), what)
        except Exception as exc:
            if not is_transient(exc):
                raise
            failures += 1
            log.warning("Reading %s failed (%s, attempt %d); trying again.", what, exc, failures)
        else:
            failures = 0
            if on_change is not None and (previous is missing or result != previous):
                on_change(result)
            previous = result
            if done(result):
                return result
        if deadline.expired:
            raise deadline.exceeded(what)
        await deadline.sleep(interval)


async def keep_trying(
    action: Callable[[], Awaitable[T]],
    *,
    grace: float,
    backoff: Backoff,
    what: str,
    logger: Warns | None = None,
) -> T:
    """Run ``action`` until it succeeds, retrying transient failures for at most ``grace`` seconds.

    Used where giving up would leave remote work running unseen (a cancel, a pause): Studio may be in
    an outage or a deploy for a few minutes.

    :param action: the attempt (with the client's own request retries inside).
    :param grace: how long to keep trying while Studio is unreachable.
    :param backoff: the delays between attempts.
    :param what: what is attempted, for messages (``"cancel Studio job 42"``).
    :param logger: where to say that it tries again.
    :raises Exception: the last failure, when it is not transient or the grace is spent.
    """
    give_up = Deadline.after(grace)
    delays = backoff.delays()
    sink = logger or log
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_transient(exc) or give_up.expired:
                raise
            pause = min(next(delays), give_up.remaining() or 0.0)
            sink.warning(
                "Studio is unreachable (%s); trying to %s again in %.0fs, until %s.",
                exc,
                what,
                pause,
                give_up.describe(),
            )
            await give_up.sleep(pause)


__all__ = ["keep_trying", "poll_until"]
