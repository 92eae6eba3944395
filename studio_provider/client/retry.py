"""When a failed call is tried again, and how long to wait first.

One policy for both transports: tenacity's ``Retrying`` runs it for the sync client and
``AsyncRetrying`` (which sleeps with ``asyncio.sleep``) for the async one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import tenacity

from .errors import StudioError, StudioRateLimitError, StudioServerError, StudioTLSError, StudioTransportError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_retries``; a 429's ``Retry-After`` wins.

    :param max_retries: retries after the first attempt (0: never retry).
    :param initial_delay: the first backoff in seconds; it doubles on each retry.
    :param max_delay: the longest backoff in seconds.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    """

    max_retries: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
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
        backoff = tenacity.wait_exponential_jitter(
            initial=self.initial_delay, max=self.max_delay, jitter=self.initial_delay
        )
        return float(backoff(state))

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
