"""Emulator keys a job of either executor may set in its ``environment`` to vary what the protocol shows.

- ``STUDIO_EMULATOR_LOG_ID_START`` / ``STUDIO_EMULATOR_LOG_ID_STEP``: log line ids start at N and grow by
  M (default 1 and 1), so a reader that numbers lines by position instead of by ``id`` is caught;
- ``STUDIO_EMULATOR_LOG_BLOB_LINES``: a log WebSocket sends the lines that exist when it connects as
  ``{"log_blobs": [url, ...]}`` (K lines per blob, fetched by plain GET) instead of ``logs`` frames;
- ``STUDIO_EMULATOR_CANCEL_SECONDS``: a cancel takes this long: a SCHEDULED or TASK job shows
  ``CANCELING_SCHEDULED`` (a running simulated job ``CANCELING``) meanwhile, then ``CANCELED``.
"""

from __future__ import annotations

from dataclasses import dataclass

LOG_ID_START = "STUDIO_EMULATOR_LOG_ID_START"
LOG_ID_STEP = "STUDIO_EMULATOR_LOG_ID_STEP"
LOG_BLOB_LINES = "STUDIO_EMULATOR_LOG_BLOB_LINES"
CANCEL_SECONDS = "STUDIO_EMULATOR_CANCEL_SECONDS"


@dataclass(frozen=True)
class JobOptions:
    log_id_start: int = 1
    log_id_step: int = 1
    log_blob_lines: int = 0
    cancel_seconds: float = 0.0


def _int(env: dict[str, str], key: str, default: int, low: int) -> int:
    text = env.get(key, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < low:
        raise ValueError(f"{key} must be an integer >= {low}, got {text!r}")
    return int(text)


def job_options(env: dict[str, str]) -> JobOptions:
    """The options in ``env``; ValueError naming the key when one is malformed."""
    text = env.get(CANCEL_SECONDS, "").strip()
    try:
        cancel_seconds = float(text) if text else 0.0
    except ValueError:
        raise ValueError(f"{CANCEL_SECONDS} must be a number, got {text!r}") from None
    if not 0 <= cancel_seconds < float("inf"):
        raise ValueError(f"{CANCEL_SECONDS} must be a non-negative number, got {text!r}")
    return JobOptions(
        log_id_start=_int(env, LOG_ID_START, 1, 0),
        log_id_step=_int(env, LOG_ID_STEP, 1, 1),
        log_blob_lines=_int(env, LOG_BLOB_LINES, 0, 0),
        cancel_seconds=cancel_seconds,
    )
