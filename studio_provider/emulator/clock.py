"""The emulator clock: real time plus an offset that tests move forward."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


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
        """Move the clock forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of an aware datetime, or None."""
    return value.isoformat() if value is not None else None


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime (``Z`` accepted); naive values are taken as UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    value = datetime.fromisoformat(cleaned)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
