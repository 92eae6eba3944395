"""Deadlines, reconnect backoff, the transient-error rule and the generic poller."""

from __future__ import annotations

import asyncio
import pickle
import random
import ssl
import time
from typing import Any

import httpx
import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidMessage, InvalidStatus
from websockets.http11 import Response

from studio_provider.client import (
    Deadline,
    StudioAuthenticationError,
    StudioDeadlineExceeded,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
    is_transient,
    poll_until,
    reconnect_delays,
)

# ---- Deadline ------------------------------------------------------------------------------------------


def test_no_deadline_never_expires() -> None:
    for deadline in (Deadline(None), Deadline.after(None), Deadline.never()):
        assert deadline.at is None
        assert deadline.remaining() is None
        assert not deadline.expired
        assert deadline.cap(5.0) == 5.0
        assert "no deadline" in repr(deadline)


def test_a_deadline_is_absolute_wall_clock_time() -> None:
    before = time.time()
    deadline = Deadline.after(100)
    assert before + 100 <= deadline.at <= time.time() + 100  # type: ignore[operator]
    left = deadline.remaining()
    assert left is not None and 99 < left <= 100
    assert not deadline.expired
    assert deadline.cap(5.0) == 5.0
    assert deadline.cap(500.0) <= 100
    # Only primitives cross process boundaries (trigger serialize()): the epoch number rebuilds it.
    assert Deadline(deadline.at) == deadline
    assert pickle.loads(pickle.dumps(deadline)) == deadline


def test_a_passed_deadline_is_expired_with_nothing_left() -> None:
    deadline = Deadline.after(-1)
    assert deadline.expired
    assert deadline.remaining() == 0.0
    assert deadline.cap(5.0) == 0.0


def test_nan_is_not_a_deadline() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Deadline(float("nan"))


def test_the_exceeded_error_names_what_was_awaited_and_when() -> None:
    deadline = Deadline(1_700_000_000.0)
    error = deadline.exceeded("Studio job 42")
    assert isinstance(error, StudioDeadlineExceeded)
    assert isinstance(error, StudioError)
    assert "Studio job 42" in str(error)
    assert "2023-11-14T22:13:20+00:00" in str(error)
    assert error.deadline == 1_700_000_000.0


# ---- reconnect backoff ---------------------------------------------------------------------------------


def test_reconnect_delays_double_up_to_a_minute_with_jitter() -> None:
    delays = reconnect_delays(rng=random.Random(1))
    values = [next(delays) for _ in range(9)]
    floors = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    for value, floor in zip(values, floors, strict=True):
        assert floor <= value < floor + 1
    assert len({value - floor for value, floor in zip(values, floors, strict=True)}) > 1  # really jittered


def test_reconnect_delays_reset_when_data_arrived() -> None:
    delays = reconnect_delays(jitter=0.0)
    assert [next(delays) for _ in range(4)] == [1, 2, 4, 8]
    delays.reset()
    assert next(delays) == 1
    assert [next(delays) for _ in range(200)][-1] == 60  # endless, and never overflows


# ---- transient or not ----------------------------------------------------------------------------------


def _invalid_status(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers(), b'{"message": "no"}'))


@pytest.mark.parametrize(
    "exc",
    [
        StudioServerError("boom", status=500),
        StudioServerError("boom", status=503),
        StudioRateLimitError("slow down", retry_after=1),
        StudioTransportError("unreachable"),
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        ConnectionResetError(),
        asyncio.TimeoutError(),
        ConnectionClosedError(None, None),
        InvalidMessage("did not receive a valid HTTP response"),
        _invalid_status(502),
        _invalid_status(429),
        OSError("network is unreachable"),
    ],
    ids=repr,
)
def test_transient_failures(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        StudioAuthenticationError("no", status=401),
        StudioAuthenticationError("no", status=403),
        StudioNotFoundError("gone", status=404),
        StudioValidationError("bad", status=400),
        StudioTLSError("certificate verify failed"),
        StudioOutcomeUnknownError("maybe"),
        StudioDeadlineExceeded("late"),
        _invalid_status(401),
        _invalid_status(403),
        _invalid_status(404),
        ssl.SSLCertVerificationError("certificate verify failed"),
        ValueError("bad input"),
        KeyError("x"),
    ],
    ids=repr,
)
def test_permanent_failures(exc: BaseException) -> None:
    assert not is_transient(exc)


# ---- poll_until ----------------------------------------------------------------------------------------


class Script:
    """A fetch that plays back results and failures, one per call."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        return step


async def test_poll_until_returns_the_first_done_result_and_reports_changes() -> None:
    fetch = Script("PENDING", "RUNNING", "RUNNING", "COMPLETED")
    changes: list[str] = []

    result = await poll_until(
        fetch, lambda s: s == "COMPLETED", interval=0.01, deadline=Deadline.after(10), on_change=changes.append
    )

    assert result == "COMPLETED"
    assert fetch.calls == 4
    assert changes == ["PENDING", "RUNNING", "COMPLETED"]


async def test_poll_until_rides_out_transient_failures() -> None:
    fetch = Script(StudioServerError("boom", status=503), httpx.ReadError("reset"), "RUNNING", "DONE")

    result = await poll_until(fetch, lambda s: s == "DONE", interval=0.01, deadline=Deadline.after(10))

    assert result == "DONE"
    assert fetch.calls == 4


async def test_poll_until_lets_permanent_failures_through_at_once() -> None:
    fetch = Script("RUNNING", StudioNotFoundError("pipeline p-1 was not found", status=404), "DONE")

    with pytest.raises(StudioNotFoundError):
        await poll_until(fetch, lambda s: s == "DONE", interval=0.01, deadline=Deadline.after(10))
    assert fetch.calls == 2


async def test_poll_until_raises_at_the_deadline_naming_what_it_awaited() -> None:
    fetch = Script("RUNNING")
    deadline = Deadline.after(0.3)

    with pytest.raises(StudioDeadlineExceeded) as caught:
        await asyncio.wait_for(
            poll_until(fetch, lambda s: False, interval=10, deadline=deadline, what="Studio pipeline p-1"),
            timeout=30,
        )

    assert deadline.expired  # the long interval was cut short by the deadline, not slept through
    assert "Studio pipeline p-1" in str(caught.value)
    assert fetch.calls == 1


async def test_poll_until_keeps_failing_transiently_until_the_deadline() -> None:
    fetch = Script(StudioServerError("boom", status=502))
    with pytest.raises(StudioDeadlineExceeded):
        await asyncio.wait_for(
            poll_until(fetch, lambda s: True, interval=0.05, deadline=Deadline.after(0.3)), timeout=30
        )
    assert fetch.calls >= 2


async def test_a_slow_read_does_not_outlive_the_deadline() -> None:
    async def hang() -> str:
        await asyncio.sleep(3600)
        return "never"

    with pytest.raises(StudioDeadlineExceeded):
        await asyncio.wait_for(poll_until(hang, bool, interval=1, deadline=Deadline.after(0.2)), timeout=30)


@pytest.mark.parametrize("interval", [0, -1.0])
async def test_poll_until_rejects_a_non_positive_interval(interval: float) -> None:
    fetch = Script("x")
    with pytest.raises(ValueError, match="interval"):
        await poll_until(fetch, bool, interval=interval, deadline=Deadline.never())
    assert fetch.calls == 0
