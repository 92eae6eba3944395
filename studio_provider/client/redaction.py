"""Keeping the token out of everything the client shows, and server texts to a readable length.

Servers echo what they were sent in many spellings: as is, percent-encoded (in a URL or a form),
JSON-escaped (inside a JSON string, sometimes with ``\\/`` for ``/``). Each spelling is replaced before
a text is cut, so that a cut can never leave a fragment of the token behind.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus

#: The longest server text (after redaction) that goes into an exception.
MAX_ERROR_TEXT = 1000
#: The longest excerpt of an unreadable response body quoted in an exception.
MAX_EXCERPT = 200
MASK = "***"


def secret_forms(secret: str) -> list[str]:
    """The spellings of ``secret`` a server may echo, longest first (so no form hides inside another)."""
    if not secret:
        return []
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, escaped, escaped.replace("/", "\\/")}
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda match: match.group().lower(), encoded))
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secret: str) -> str:
    """``text`` with every spelling of ``secret`` replaced by ``***``."""
    for form in secret_forms(secret):
        text = text.replace(form, MASK)
    return text


def cap(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` marking a cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def scrub(text: str, secret: str, limit: int = MAX_ERROR_TEXT) -> str:
    """Redact, then cut: the order that cannot leak a piece of the secret."""
    return cap(redact(text, secret), limit)
