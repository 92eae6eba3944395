"""Waiting, written once: absolute deadlines, reconnect backoff, transient-error tolerance and a poller.

The job follower (:mod:`.follow`), the pipeline and dataset waits and the Airflow triggers all use these,
so a deadline, a retry and an outage mean the same thing everywhere. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timezone
from typing import TypeVar

import httpx

from .errors import (
    StudioDeadlineExceeded,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The official client's reconnect backoff: ``min(2**n, 60)`` seconds plus up to this much jitter.
RECONNECT_CAP = 60.0
RECONNECT_JITTER = 1.0

# One generator for every backoff: a Random instance holds 2.5 KB of state, too much per waiting job.
_RNG = random.Random()


class Deadline:
    """An absolute wall-clock deadline (epoch seconds), so it survives a trip through ``serialize()``
    into another process, unlike a monotonic one.

    :param at: the deadline as ``time.time()`` seconds; ``None`` means never.
    """

    __slots__ = ("at",)

    def __init__(self, at: float | None) -> None:
        if at is not None:
            at = float(at)
            if at != at:  # NaN
                raise ValueError("Deadline at must be epoch seconds or None, not NaN.")
        self.at = at

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """The deadline ``seconds`` from now (``None``: never).

        :param seconds: how long from now; a negative number gives an already expired deadline.
        """
        return cls(None if seconds is None else time.time() + float(seconds))

    @classmethod
    def never(cls) -> Deadline:
        """A deadline that never expires."""
        return cls(None)

    def remaining(self) -> float | None:
        """Seconds left (never below 0), or ``None`` when unbounded."""
        if self.at is None:
            return None
        return max(0.0, self.at - time.time())

    @property
    def expired(self) -> bool:
        """The deadline has passed."""
        return self.at is not None and time.time() >= self.at

    def cap(self, seconds: float) -> float:
        """``seconds``, shortened to what is left before the deadline.

        :param seconds: the wait wanted.
        """
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def describe(self) -> str:
        """The deadline in UTC ISO form, for messages (``"no deadline"`` when unbounded)."""
        if self.at is None:
            return "no deadline"
        return datetime.fromtimestamp(self.at, tz=timezone.utc).isoformat(timespec="seconds")

    def exceeded(self, awaited: str) -> StudioDeadlineExceeded:
        """The error to raise when the deadline passed while waiting for ``awaited``.

        :param awaited: what was awaited, such as ``"Studio job 42"``.
        """
        return StudioDeadlineExceeded(
            f"Deadline {self.describe()} passed while waiting for {awaited}; it may still be running.",
            deadline=self.at,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deadline) and other.at == self.at

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"Deadline({self.describe()})"


class ReconnectDelays(Iterator[float]):
    """The official client's reconnect backoff: ``min(2**n, cap) + uniform(0, jitter)`` seconds for the
    n-th consecutive failure (n from 0). Call :meth:`reset` whenever data arrived.

    :param cap: the longest delay before jitter.
    :param jitter: the largest random addition.
    :param rng: the random source (tests pass a seeded one); default one shared by all.
    """

    __slots__ = ("_rng", "attempts", "cap", "jitter")

    def __init__(
        self, *, cap: float = RECONNECT_CAP, jitter: float = RECONNECT_JITTER, rng: random.Random | None = None
    ) -> None:
        self.cap = cap
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or _RNG

    def __next__(self) -> float:
        exponent = min(self.attempts, 32)  # 2**32 is far above any cap; keeps the float finite
        self.attempts += 1
        return min(2.0**exponent, self.cap) + self._rng.uniform(0.0, self.jitter)

    def reset(self) -> None:
        """Start again from the shortest delay (the connection delivered data)."""
        self.attempts = 0


def reconnect_delays(
    *, cap: float = RECONNECT_CAP, jitter: float = RECONNECT_JITTER, rng: random.Random | None = None
) -> ReconnectDelays:
    """An endless, resettable iterator of reconnect delays (see :class:`ReconnectDelays`).

    :param cap: the longest delay before jitter.
    :param jitter: the largest random addition.
    :param rng: the random source.
    """
    return ReconnectDelays(cap=cap, jitter=jitter, rng=rng)


def _websocket_status(exc: BaseException) -> int | None:
    # websockets raises InvalidStatus for a refused handshake; its response carries the HTTP status.
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether waiting and trying again may help: 5xx, 429, transport failures, resets and timeouts.

    Credentials (401/403), a missing resource (404), rejected input and TLS verification failures are
    not transient: repeating cannot fix them.

    :param exc: the failure.
    """
    if isinstance(exc, StudioTLSError):
        return False
    if isinstance(exc, (StudioRateLimitError, StudioServerError, StudioTransportError)):
        return True
    if isinstance(exc, StudioDeadlineExceeded):
        return False
    status = _websocket_status(exc)
    if status is not None:
        return status == 429 or status >= 500
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError, EOFError)):
        return True
    try:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
    except ImportError:  # pragma: no cover - websockets is a dependency
        return isinstance(exc, OSError)
    if isinstance(exc, (ConnectionClosed, InvalidHandshake)):
        return True
    # Socket-level failures (resets, unreachable hosts), but not certificate errors.
    import ssl

    return isinstance(exc, OSError) and not isinstance(exc, ssl.SSLCertVerificationError)


async def sleep_within(seconds: float, deadline: Deadline) -> None:
    """Sleep ``seconds``, or less when the deadline comes first.

    :param seconds: the wanted pause.
    :param deadline: the caller's deadline.
    """
    await asyncio.sleep(max(0.0, deadline.cap(seconds)))


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

    Transient failures (see :func:`is_transient`) are logged and retried until the deadline; any other
    failure propagates at once.

    :param fetch: reads the current state (for example ``lambda: client.get_pipeline(name=...)``).
    :param done: tells when the state is final.
    :param interval: seconds between reads (> 0).
    :param deadline: when to give up.
    :param on_change: called with each result that differs from the previous one (the first included).
    :param what: what is awaited, for the deadline message (``"Studio pipeline p-1"``).
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
            result = await _bounded(fetch(), deadline)
        except asyncio.TimeoutError:
            raise deadline.exceeded(what) from None
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
        await sleep_within(interval, deadline)


async def _bounded(awaitable: Awaitable[T], deadline: Deadline) -> T:
    # One read must not outlive the deadline (a retrying transport can sleep for a while).
    left = deadline.remaining()
    if left is None:
        return await awaitable
    return await asyncio.wait_for(awaitable, timeout=max(left, 0.001))
