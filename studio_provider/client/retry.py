"""Trying again, written once: which failures are worth another attempt, and how long to wait first.

- :class:`Backoff` is the one backoff policy: exponential with jitter, capped. The transports' request
  retries (:class:`RetryPolicy`, run by tenacity), the log stream's reconnects and the cancel and pause
  that keep trying through an outage all use it.
- :func:`is_transient` says whether waiting may help (5xx, 429, resets, timeouts); the waits use it to
  survive an outage until their deadline, :meth:`RetryPolicy.is_retryable` for a single request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from .errors import (
    StudioDeadlineExceeded,
    StudioError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
)

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

# One generator for every backoff: a Random instance holds 2.5 KB of state, too much per waiting job.
_RNG = random.Random()


@dataclass(frozen=True)
class Backoff:
    """``min(initial * 2**n + uniform(0, jitter), cap)`` seconds before the attempt after the n-th
    consecutive failure (n from 0).

    :param initial: the first delay.
    :param cap: the longest delay.
    :param jitter: the largest random addition (spreads clients that failed together).
    """

    initial: float = 1.0
    cap: float = 60.0
    jitter: float = 1.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The delay after ``failures`` consecutive failures (0: after the first).

        :param failures: failures before this one.
        :param rng: the random source (tests pass a seeded one).
        """
        exponent = min(max(failures, 0), 32)  # 2**32 is far above any cap; keeps the float finite
        return min(self.initial * 2.0**exponent + (rng or _RNG).uniform(0.0, self.jitter), self.cap)

    def delays(self, rng: random.Random | None = None) -> Delays:
        """An endless, resettable iterator of this policy's delays."""
        return Delays(self, rng)


@dataclass
class Delays(Iterator[float]):
    """The delays of a :class:`Backoff` for one sequence of failures; :meth:`reset` when one succeeded.

    :param policy: the backoff.
    :param rng: the random source.
    """

    policy: Backoff
    rng: random.Random | None = field(default=None, repr=False)
    attempts: int = 0

    def __next__(self) -> float:
        delay = self.policy.delay(self.attempts, self.rng)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from the shortest delay (the connection delivered data)."""
        self.attempts = 0


#: A failed request, tried again (within the connection's ``max_retries``).
REQUEST_BACKOFF = Backoff(initial=1.0, cap=30.0, jitter=1.0)
#: A log stream that was cut or refused, reconnected: the official client's ``min(2**n, 60)`` + jitter.
RECONNECT_BACKOFF = Backoff(initial=1.0, cap=60.0, jitter=1.0)


def _http_status(exc: BaseException) -> int | None:
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
    if isinstance(exc, (StudioDeadlineExceeded, StudioError)):
        return False
    status = _http_status(exc)
    if status is not None:
        return status == 429 or status >= 500
    if isinstance(exc, (httpx.TransportError, ConnectionClosed, InvalidHandshake)):
        return True
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError, EOFError)):
        return True
    # Socket-level failures (resets, unreachable hosts), but not certificate errors.
    return isinstance(exc, OSError) and not isinstance(exc, ssl.SSLCertVerificationError)


@dataclass(frozen=True)
class RetryPolicy:
    """A request's retries: :data:`REQUEST_BACKOFF` bounded by ``max_retries``; a 429's ``Retry-After``
    wins.

    :param max_retries: retries after the first attempt (0: never retry).
    :param backoff: the delays between attempts.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    """

    max_retries: int = 3
    backoff: Backoff = REQUEST_BACKOFF
    max_retry_after: float = 120.0

    @staticmethod
    def is_retryable(exc: BaseException) -> bool:
        """Transient failures only. Credentials, validation and TLS errors never change on retry.

        Requests that must not be repeated blindly never reach here with an ambiguous failure: the
        transport has already turned those into ``StudioOutcomeUnknownError``, which is not retryable.
        A read (``GET``) also retries every other 5xx, as the official client does; a write only the
        gateway statuses, which say the request never reached Studio's application.
        """
        if isinstance(exc, StudioTLSError):
            return False
        if isinstance(exc, (StudioRateLimitError, StudioTransportError)):
            return True
        if not isinstance(exc, StudioServerError):
            return False
        return exc.status in RETRYABLE_STATUSES or (exc.method == "GET" and (exc.status or 0) >= 500)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, StudioRateLimitError) and exc.retry_after is not None:
            return max(0.0, min(exc.retry_after, self.max_retry_after))
        return self.backoff.delay(state.attempt_number - 1)

    @staticmethod
    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        where = f"{exc.method} {exc.path}" if isinstance(exc, StudioError) else "request"
        log.warning("Studio %s failed (%s); retry %d in %.1fs", where, exc, state.attempt_number, wait)

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``tenacity.AsyncRetrying``."""
        return {
            "retry": tenacity.retry_if_exception(self.is_retryable),
            "wait": self._wait,
            "stop": tenacity.stop_after_attempt(self.max_retries + 1),
            "before_sleep": self._log_retry,
            "reraise": True,
        }


__all__ = [
    "RECONNECT_BACKOFF",
    "REQUEST_BACKOFF",
    "RETRYABLE_STATUSES",
    "Backoff",
    "Delays",
    "RetryPolicy",
    "is_transient",
]
