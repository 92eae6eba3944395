"""Log blobs: older chunks of a job's log that the stream names by URL (``{"log_blobs": [url]}``).

A blob URL comes from the server, so it is checked before anything is fetched: only a relative URL or
an absolute ``http``/``https`` URL on Studio's own origin (scheme, host and port of the connection's
URL) is read, with the connection's own client (its token, retries and TLS settings), without following
redirects, at most :data:`~..endpoints.jobs.MAX_BLOB_BYTES`, and within the wait's deadline. A URL
that names another host, another scheme, or cannot be parsed is skipped with a warning.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

from ..api import AsyncStudioApi
from ..config import StudioConfig
from ..errors import StudioDeadlineExceeded, StudioError
from .deadline import Deadline
from .frames import RawLine, blob_lines

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)  # ValueError for a port out of range
    return scheme, (parts.hostname or "").lower(), port


def blob_url(config: StudioConfig, url: str) -> str | None:
    """The absolute URL to read for a blob the stream named, or ``None`` when it must not be read.

    :param config: the connection (its URL is the one origin allowed).
    :param url: the blob's URL as sent: relative to the API base, or absolute.
    """
    try:
        target = urljoin(config.url.rstrip("/") + "/", url.strip())
        scheme, host, port = _origin(target)
        allowed = _origin(config.url)
    except ValueError:
        log.warning("Skipping a log blob with a malformed URL (%.200r).", url)
        return None
    if scheme not in _DEFAULT_PORTS or (scheme, host, port) != allowed:
        log.warning(
            "Skipping a log blob outside Studio's own origin (%.200r); only %s://%s:%d is read.", url, *allowed
        )
        return None
    return target


async def fetch_blob_lines(api: AsyncStudioApi, config: StudioConfig, url: str, deadline: Deadline) -> list[RawLine] | None:
    """The lines of one blob, or ``None`` when it was skipped or could not be read (a warning says why).

    :param api: the wait's client.
    :param config: the connection.
    :param url: the blob's URL as the stream sent it.
    :param deadline: the wait's deadline.
    :raises StudioDeadlineExceeded: when the deadline passes while reading.
    """
    target = blob_url(config, url)
    if target is None:
        return None
    try:
        text = await deadline.bound(api.get_log_blob(url=target), "a log blob")
    except StudioDeadlineExceeded:
        raise
    except (StudioError, OSError, TimeoutError) as exc:
        log.warning("Could not read a log blob (%s): %s", target[:200], exc)
        return None
    return blob_lines(text)


__all__ = ["blob_url", "fetch_blob_lines"]
