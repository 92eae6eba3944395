"""msgpack encoding as Studio uses it: datetimes travel as extension type 42."""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

import msgpack

DATETIME_EXT = 42


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            # 8 bytes: a naive timestamp.
            return msgpack.ExtType(
                DATETIME_EXT, struct.pack("!d", value.replace(tzinfo=timezone.utc).timestamp())
            )
        # 12 bytes: the timestamp, then the UTC offset in seconds.
        return msgpack.ExtType(
            DATETIME_EXT, struct.pack("!dl", value.timestamp(), int(offset.total_seconds()))
        )
    raise TypeError(f"cannot encode {type(value).__name__} as msgpack")


def packb(data: Any) -> bytes:
    packed = msgpack.packb(data, default=_default, use_bin_type=True)
    assert isinstance(packed, bytes)
    return packed


def _ext_hook(code: int, data: bytes) -> Any:
    if code != DATETIME_EXT:
        return msgpack.ExtType(code, data)
    if len(data) == 8:
        (timestamp,) = struct.unpack("!d", data)
        return datetime.fromtimestamp(timestamp, timezone.utc).replace(tzinfo=None)
    timestamp, offset = struct.unpack("!dl", data)
    from datetime import timedelta

    return datetime.fromtimestamp(timestamp, timezone(timedelta(seconds=offset)))


def unpackb(data: bytes) -> Any:
    """Decode (used by tests and tools; the emulator itself only encodes)."""
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False)
