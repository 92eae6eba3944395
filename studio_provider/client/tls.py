"""TLS contexts for Studio connections, one per ``verify`` setting, shared by HTTP and WebSocket clients."""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx


@functools.lru_cache(maxsize=16)
def _ssl_context(verify: bool | str, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    # httpx's own choice for True (SSL_CERT_FILE, else SSL_CERT_DIR, else certifi) and False.
    return httpx.create_ssl_context(verify=verify, trust_env=True)


def ssl_context(verify: Any) -> ssl.SSLContext:
    """The TLS context for ``verify`` as httpx reads it: ``True`` trusts the CA bundle ``SSL_CERT_FILE``
    names, else the CA directory ``SSL_CERT_DIR`` names (a company CA set the usual way), else certifi's
    CAs; ``False`` checks nothing; a path is that CA bundle or directory; an ``SSLContext`` is itself.
    Built once per value and environment: loading CA certificates costs milliseconds and memory, so
    thousands of WebSockets share one context.

    :param verify: the configuration's ``verify`` setting.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    if not isinstance(verify, (bool, str)):
        verify = bool(verify)
    return _ssl_context(verify, os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)
