"""Decoding of Studio's msgpack responses (used by ``ls``).

Studio encodes datetimes as msgpack extension type 42: 8 bytes (``!d``, a naive UTC timestamp) or
12 bytes (``!dl``, a timestamp and the UTC offset in seconds).
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack

DATETIME_EXT_TYPE = 42


def _ext_hook(code: int, data: bytes) -> Any:
    if code != DATETIME_EXT_TYPE:
        return msgpack.ExtType(code, data)
    try:
        if len(data) == 8:
            (timestamp,) = struct.unpack("!d", data)
            return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)
        (timestamp, offset) = struct.unpack("!dl", data)
        tz = timezone(timedelta(seconds=offset))
        return datetime.fromtimestamp(timestamp, tz=tz)
    except (struct.error, OverflowError, OSError) as exc:
        # A malformed datetime is a malformed body: callers treat ValueError as "cannot read".
        raise ValueError(f"invalid msgpack datetime ({len(data)} bytes): {exc}") from exc


def unpackb(payload: bytes) -> Any:
    """Decode a Studio msgpack body, turning ext type 42 into ``datetime``."""
    return msgpack.unpackb(payload, ext_hook=_ext_hook, raw=False, strict_map_key=False)
