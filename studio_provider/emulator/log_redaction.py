"""Keep tokens out of the server's logs, at every level.

uvicorn logs request lines with their query strings (access log), the WebSocket handshake with every
header at ``debug`` (``< authorization: token ...``), and whole ASGI scopes, headers included, at
``trace``. A filter on the loggers those records start from rewrites each record before any handler (or a
test's capture) sees it: known tokens, ``Authorization`` header values and query parameters named like
secrets become ``***``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .observation import SENSITIVE_QUERY_WORDS

# Where uvicorn (and the websockets library under it) create their records.
LOGGER_NAMES = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "websockets",
    "websockets.server",
    "websockets.protocol",
)
MASK = "***"

_SECRET_PARAM = re.compile(
    r"([?&;][^=&\s\"']*(?:" + "|".join(SENSITIVE_QUERY_WORDS) + r")[^=&\s\"']*=)[^&\s\"']*", re.IGNORECASE
)
_HEADER_LINE = re.compile(r"(authorization\s*:\s*)[^\r\n]*", re.IGNORECASE)
_HEADER_TUPLE = re.compile(r"""(b?['"]authorization['"]\s*,\s*b?['"])[^'"]*""", re.IGNORECASE)


class TokenRedactor(logging.Filter):
    """Rewrites records so that no token (known or not) survives in their message or arguments."""

    def __init__(self) -> None:
        super().__init__("studio-emulator-redaction")
        self._lock = threading.Lock()
        self._tokens: tuple[str, ...] = ()

    def add_tokens(self, tokens: Iterable[str]) -> None:
        with self._lock:
            known = set(self._tokens)
            for token in tokens:
                known.update({token, quote(token, safe=""), quote(token)})
            # Longest first, so a token that contains another is masked whole.
            self._tokens = tuple(sorted((item for item in known if item), key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for token in self._tokens:
            text = text.replace(token, MASK)
        text = _HEADER_LINE.sub(lambda match: match.group(1) + MASK, text)
        text = _HEADER_TUPLE.sub(lambda match: match.group(1) + MASK, text)
        return _SECRET_PARAM.sub(lambda match: match.group(1) + MASK, text)

    def _scrub_arg(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, (bytes, dict, list, tuple)):
            return self.scrub(str(value))  # an ASGI scope or raw headers (trace level): shown as text
        return value  # numbers keep their type: formats such as %d need them

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.scrub(record.msg)
        if isinstance(record.args, tuple):
            scrubbed: list[Any] = []
            for value in record.args:
                # websockets logs each handshake header as ("< %s: %s", name, value).
                follows_name = bool(scrubbed) and str(scrubbed[-1]).strip().lower() == "authorization"
                scrubbed.append(MASK if follows_name else self._scrub_arg(value))
            record.args = tuple(scrubbed)
        elif isinstance(record.args, dict):
            record.args = {key: self._scrub_arg(value) for key, value in record.args.items()}
        return True


REDACTOR = TokenRedactor()


def install_redaction(tokens: Iterable[str]) -> None:
    """Mask ``tokens`` (and any Authorization value or secret-named query parameter) in uvicorn's logs.

    Call after uvicorn configured its logging; installing twice is harmless.
    """
    REDACTOR.add_tokens(tokens)
    for name in LOGGER_NAMES:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
