"""TLS contexts for Studio connections, one per ``verify`` setting, shared by HTTP and WebSocket clients."""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any


@functools.lru_cache(maxsize=16)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def ssl_context(verify: Any) -> ssl.SSLContext:
    """The TLS context for ``verify`` as httpx reads it (``True``: certifi's CAs, ``False``: no checks,
    a path: that CA bundle or directory, an ``SSLContext``: itself). Built once per value: loading CA
    certificates costs milliseconds and memory, so thousands of WebSockets share one context.

    :param verify: the configuration's ``verify`` setting.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, (bool, str)):
        verify = bool(verify)
    return _ssl_context(verify)
