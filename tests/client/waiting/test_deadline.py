"""The one deadline: absolute wall-clock time, unbounded or passed, and the error naming what was awaited."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from studio_provider.client import StudioDeadlineExceeded, StudioError
from studio_provider.client.waiting import Deadline


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


def test_the_earliest_of_deadlines_wins_and_an_unbounded_one_never_does() -> None:
    soon, later = Deadline(1_000.0), Deadline(2_000.0)
    assert soon.earliest(later) == later.earliest(soon) == soon
    assert Deadline.never().earliest(later) == later
    assert Deadline.never().earliest(Deadline.never()) == Deadline.never()


async def test_bound_raises_the_deadline_error_when_it_passes_first() -> None:
    with pytest.raises(StudioDeadlineExceeded, match="a slow read"):
        await asyncio.wait_for(Deadline.after(0.1).bound(asyncio.sleep(3600), "a slow read"), timeout=30)
    assert await Deadline.never().bound(asyncio.sleep(0, result="done"), "x") == "done"


def test_a_deadline_past_the_datetime_range_is_still_described() -> None:
    assert "epoch seconds" in Deadline(1e20).describe()
