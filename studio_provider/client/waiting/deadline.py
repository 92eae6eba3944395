"""The one notion of a deadline: absolute wall-clock time, so it survives a trip through a trigger's
``serialize()`` into another process, a task retry or a triggerer restart."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from ..errors import StudioDeadlineExceeded

T = TypeVar("T")


class Deadline:
    """An absolute deadline (epoch seconds), or none.

    :param at: the deadline as ``time.time()`` seconds; ``None`` means never.
    :raises ValueError: for NaN.
    """

    __slots__ = ("at",)

    def __init__(self, at: float | None) -> None:
        if at is not None:
            at = float(at)
            if math.isnan(at):
                raise ValueError("Deadline at must be epoch seconds or None, not NaN.")
        self.at = at

    @classmethod
    def after(cls, timeout: timedelta | float | None) -> Deadline:
        """The deadline ``timeout`` from now (``None``: never).

        :param timeout: a ``timedelta`` or seconds; a negative one gives an already expired deadline.
        """
        if timeout is None:
            return cls(None)
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        return cls(time.time() + seconds)

    @classmethod
    def never(cls) -> Deadline:
        """A deadline that never expires."""
        return cls(None)

    def earliest(self, *others: Deadline) -> Deadline:
        """The earliest of this deadline and ``others`` (an unbounded one never wins)."""
        bounded = [item.at for item in (self, *others) if item.at is not None]
        return Deadline(min(bounded) if bounded else None)

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
        try:
            return datetime.fromtimestamp(self.at, tz=timezone.utc).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):
            return f"{self.at:.0f} (epoch seconds)"

    def exceeded(self, awaited: str) -> StudioDeadlineExceeded:
        """The error to raise when the deadline passed while waiting for ``awaited``.

        :param awaited: what was awaited, such as ``"Studio job 42"``.
        """
        return StudioDeadlineExceeded(
            f"Deadline {self.describe()} passed while waiting for {awaited}; it may still be running.",
            deadline=self.at,
        )

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the deadline comes first."""
        await asyncio.sleep(max(0.0, self.cap(seconds)))

    async def bound(self, awaitable: Awaitable[T], awaited: str) -> T:
        """Await ``awaitable`` but not past the deadline.

        :raises StudioDeadlineExceeded: when the deadline passes first.
        """
        left = self.remaining()
        if left is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout=max(left, 0.001))
        except asyncio.TimeoutError:
            # The loop's clock and the wall clock may differ by a hair when the timer fires.
            if self.at is not None and time.time() >= self.at - 0.05:
                raise self.exceeded(awaited) from None
            raise

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deadline) and other.at == self.at

    def __hash__(self) -> int:
        return hash(self.at)

    def __repr__(self) -> str:
        return f"Deadline({self.describe()})"


__all__ = ["Deadline"]
