"""msgpack bodies as Studio sends them (``datachain/ls`` and its errors).

Datetimes travel as msgpack extension type 42: 8 bytes ``!d`` (a naive timestamp, taken as UTC) or 12 bytes
``!dl`` (a timestamp and the UTC offset in whole seconds), as the specification's guide and the official
client describe it. Written here rather than borrowed from the provider's client, so that a decoding bug
there is caught by the emulator's encoding instead of mirrored by it.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

import msgpack

DATETIME_EXT_TYPE = 42


def encode_datetime(value: datetime) -> msgpack.ExtType:
    """``value`` as ext type 42: ``!d`` when naive (read as UTC), ``!dl`` with its offset when aware."""
    if value.tzinfo is None:
        return msgpack.ExtType(DATETIME_EXT_TYPE, struct.pack("!d", value.replace(tzinfo=timezone.utc).timestamp()))
    offset = value.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return msgpack.ExtType(DATETIME_EXT_TYPE, struct.pack("!dl", value.timestamp(), seconds))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return encode_datetime(value)
    raise TypeError(f"cannot msgpack-encode {type(value).__name__}")


def packb(obj: Any) -> bytes:
    """``obj`` as a msgpack body (strings as str, bytes as bin, datetimes as ext type 42)."""
    packed: bytes = msgpack.packb(obj, default=_default, use_bin_type=True)
    return packed
