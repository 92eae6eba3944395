"""The one polling loop, and keep_trying (what cancel and pause retry through an outage with)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from studio_provider.client import StudioDeadlineExceeded, StudioNotFoundError, StudioServerError
from studio_provider.client.retry import Backoff
from studio_provider.client.waiting import Deadline, keep_trying, poll_until


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


QUICK = Backoff(initial=0.01, cap=0.02, jitter=0.0)


async def test_keep_trying_rides_out_an_outage_within_its_grace() -> None:
    action = Script(StudioServerError("down", status=503), httpx.ConnectError("refused"), "cancelled")
    assert await keep_trying(action, grace=10, backoff=QUICK, what="cancel job 1") == "cancelled"
    assert action.calls == 3


async def test_keep_trying_gives_up_after_its_grace_with_the_last_error() -> None:
    action = Script(StudioServerError("still down", status=503))
    with pytest.raises(StudioServerError, match="still down"):
        await asyncio.wait_for(keep_trying(action, grace=0.2, backoff=QUICK, what="x"), timeout=30)
    assert action.calls >= 2


async def test_keep_trying_lets_a_refusal_through_at_once() -> None:
    action = Script(StudioNotFoundError("no such job", status=404), "never")
    with pytest.raises(StudioNotFoundError):
        await keep_trying(action, grace=10, backoff=QUICK, what="x")
    assert action.calls == 1
