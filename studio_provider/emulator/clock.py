"""The emulator clock: real time plus an offset that tests move forward.

The clock is every team's, so it never moves to a time it cannot show: it stays before ``LATEST``
(9000-01-01 UTC), and so must every ``start_after``. That is far beyond any test and a millennium before
the end of Python's calendar (9999), so adding a day or a cron period to any time the emulator holds can
never overflow.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta, timezone

LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class Clock:
    """Wall-clock time shifted by an adjustable offset (never backwards)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current emulator time, timezone-aware UTC."""
        with self._lock:
            offset = self._offset
        return datetime.now(timezone.utc) + offset

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` and return the new time.

        :raises ValueError: (naming ``seconds``) unless it is a finite number >= 0 that keeps the clock
            before ``LATEST``; the clock is then unchanged.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError("seconds must be a number")
        try:
            step = timedelta(seconds=float(seconds))
        except (OverflowError, ValueError):  # NaN, infinities, and numbers too big for a float or a timedelta
            raise ValueError(f"seconds must be a finite number of seconds before {LATEST:%Y-%m-%d}") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a finite number >= 0 (the clock only moves forward)")
        with self._lock:
            offset = self._offset + step
            # Compared as durations: ``now + offset`` itself could overflow.
            if offset >= LATEST - datetime.now(timezone.utc):
                raise ValueError(f"seconds would move the clock past {LATEST:%Y-%m-%d}, where it stops")
            self._offset = offset
        return self.now()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime, or None."""
    return value.isoformat() if value is not None else None


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime (``Z`` accepted); naive values are taken as UTC.

    :raises ValueError: when ``text`` is not a datetime, or is not one in UTC (``9999-12-31T23:59:59-05:00``).
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    value = datetime.fromisoformat(cleaned)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is beyond the calendar in UTC") from None


def parse_start_after(value: object) -> datetime:
    """A ``start_after`` value: an ISO 8601 datetime before ``LATEST``.

    :raises ValueError: naming ``start_after`` when it is anything else.
    """
    try:
        parsed = parse_datetime(str(value))
    except ValueError:
        raise ValueError(f"Invalid start_after datetime {value!r}") from None
    if parsed >= LATEST:
        raise ValueError(f"start_after must be before {LATEST:%Y-%m-%d} (the emulator clock stops there)")
    return parsed
