"""A job's log lines on their way into the task log: escaped, split, prefixed and capped.

What a Studio job prints is untrusted: a line may imitate Airflow's own ("Marking task as SUCCESS"),
carry ANSI or OSC escape sequences (OSC 52 writes the reader's clipboard), a carriage return or
backspaces that hide the ``[studio <id>]`` prefix in the UI, or a right-to-left override. So every
control and bidirectional-formatting character is written as an escape (``\\x1b``, ``\\u202e``), an
embedded newline starts a new line that carries the prefix again, and a job writes at most
:class:`LogLimits` lines and bytes to the task log; the rest is counted and named in one closing note.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x00, 0x20), *range(0x7F, 0xA0)):
        if code != 0x09:  # a tab is harmless
            table[code] = f"\\x{code:02x}"
    # Bidirectional controls and invisible separators: they reorder or hide what a reader sees.
    for code in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF):
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()


def escape(text: str) -> str:
    """``text`` with every control and bidirectional-formatting character written as an escape.

    :param text: one line (its newlines are escaped too; :func:`split_lines` first to keep them).
    """
    escaped = text.translate(_ESCAPES)
    if escaped.isascii() or escaped.isprintable():  # the common case: nothing more to look at
        return escaped
    # Rarer format characters (category Cf) not in the table: escape them as well.
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) == "Cf" and char != "\t" else char for char in escaped
    )


def split_lines(message: str) -> list[str]:
    """The lines of one log message: split at ``\\n`` and ``\\r\\n``; one trailing newline ends the
    message rather than adding an empty line. A lone ``\\r`` stays (and is escaped)."""
    if message.endswith("\n"):
        message = message[:-1]
        if message.endswith("\r"):
            message = message[:-1]
    return [part[:-1] if part.endswith("\r") else part for part in message.split("\n")]


@dataclass(frozen=True)
class LogLimits:
    """How much of one job's log goes to the task log.

    :param max_lines: lines written at most (later ones are counted, not written).
    :param max_bytes: UTF-8 bytes written at most.
    :param max_line_chars: characters of one line kept; the rest is cut with a note.
    """

    max_lines: int = 100_000
    max_bytes: int = 20 * 2**20
    max_line_chars: int = 16 * 1024

    def __post_init__(self) -> None:
        for name in ("max_lines", "max_bytes", "max_line_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")


class LogWriter:
    """Writes one job's log lines to ``sink`` as ``<prefix><escaped line>``, within :class:`LogLimits`.

    :param sink: receives each finished task-log line (``task.log.info``, for example).
    :param prefix: put before every line, such as ``"[studio 42] "``.
    :param limits: how much to write.
    """

    def __init__(self, sink: Callable[[str], object], *, prefix: str, limits: LogLimits | None = None) -> None:
        self.sink = sink
        self.prefix = prefix
        self.limits = limits or LogLimits()
        #: Lines and bytes written, and lines left out.
        self.lines = 0
        self.bytes = 0
        self.skipped = 0

    def write(self, message: str) -> int:
        """Write one log message (it may hold several lines); returns how many lines it held.

        :param message: the text as Studio sent it.
        """
        parts = split_lines(message)
        limits = self.limits
        for part in parts:
            if self.lines >= limits.max_lines or self.bytes >= limits.max_bytes:
                self.skipped += 1
                continue
            if len(part) > limits.max_line_chars:
                part = f"{part[: limits.max_line_chars]}… ({len(part) - limits.max_line_chars} characters not shown)"
            line = self.prefix + escape(part)
            self.lines += 1
            self.bytes += len(line.encode("utf-8", "replace"))
            self.sink(line)
        return len(parts)

    def close(self, where: str | None) -> None:
        """Say how many lines were left out, if any.

        :param where: where the whole log is (the job's URL).
        """
        if self.skipped:
            self.sink(
                f"{self.prefix}… {self.skipped} more lines not shown (the task log keeps at most "
                f"{self.limits.max_lines} lines and {self.limits.max_bytes} bytes of a job); see {where or 'Studio'}"
            )
            self.skipped = 0


__all__ = ["LogLimits", "LogWriter", "escape", "split_lines"]
