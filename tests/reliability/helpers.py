"""Helpers of the reliability suite: a recognisable token, figures for the closing table, a log capture,
token searches, and simulated-job environments."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from studio_provider.emulator import EmulatorServer

#: Recognisable tokens: any occurrence outside the Authorization header is a leak.
TOKEN = "studio-SECRET-reliab1lity-7f3a9c2e"
TEAM = "team-reliability"
OTHER_TOKEN = "studio-SECRET-other-team-4d8b1a"
OTHER_TEAM = "team-other"
TOKENS = (TOKEN, OTHER_TOKEN)

#: Figures measured by the scenarios, printed at the end of the run (and copied into docs/reliability.md).
FIGURES: dict[str, Any] = {}
_FIGURES_LOCK = threading.Lock()


def record(name: str, value: Any) -> None:
    with _FIGURES_LOCK:
        FIGURES[name] = value


def token_occurrences(*texts: object) -> int:
    """How often any of the suite's tokens occurs in ``texts`` (non-strings are JSON-dumped)."""
    count = 0
    for text in texts:
        value = text if isinstance(text, str) else json.dumps(text, default=str)
        count += sum(value.count(token) for token in TOKENS)
    return count


def add_token_count(scenario: str, *texts: object) -> int:
    """Count token occurrences in what a scenario produced, and remember the total for the figures."""
    found = token_occurrences(*texts)
    with _FIGURES_LOCK:
        searched = FIGURES.setdefault("token occurrences by scenario", {})
        searched[scenario] = searched.get(scenario, 0) + found
    return found


def simulated_env(words: Iterable[str], duration: float, **extra: Any) -> dict[str, str]:
    """A job on the simulated executor printing one distinct word per line over ``duration`` seconds."""
    return {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": str(duration),
        "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(words),
        **{f"STUDIO_EMULATOR_{key.upper()}": str(value) for key, value in extra.items()},
    }


def job_words(tag: str, count: int) -> list[str]:
    return [f"{tag}-w{i:02d}" for i in range(1, count + 1)]


class LineCapture(logging.Handler):
    """Collects every formatted log record (the triggers' and operators' own loggers included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._lock_messages = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the test
            text = str(record.msg)
        with self._lock_messages:
            self.messages.append(text)

    @property
    def text(self) -> str:
        with self._lock_messages:
            return "\n".join(self.messages)


@contextmanager
def captured_logs(level: int = logging.INFO) -> Iterator[LineCapture]:
    """Capture every log record at ``level`` and above, from every logger, while the block runs."""
    handler = LineCapture()
    handler.setLevel(level)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, old_level) if old_level else level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def request_log(server: EmulatorServer) -> list[dict[str, Any]]:
    """The emulator's whole request log (what it would show an operator)."""
    return list(server.injector.requests(limit=1_000_000))


def true_status(server: EmulatorServer, job_id: str) -> str:
    """The job's status as the emulator holds it (white-box: the truth, not an API answer)."""
    return str(server.call(lambda: server.state.jobs[job_id].status))
