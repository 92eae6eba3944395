"""The exceptions the Studio client raises.

Every error carries the HTTP status (when there was a response) and the server's own message, so a
failed Airflow task says what Studio said. None of them ever holds the token: messages are built from
the method, the path, the team and the server's text only.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class of every error raised by the Studio client.

    :param message: what went wrong, in words a DAG author can act on.
    :param status: the HTTP status of the response, when there was one.
    :param server_message: the server's own message (``{"message": ...}`` or the raw body text).
    :param method: the HTTP method of the failed request.
    :param path: the API path of the failed request (relative to the API base).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        server_message: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.server_message = server_message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class StudioAPIError(StudioError):
    """Studio answered with an error status."""


class StudioAuthenticationError(StudioAPIError):
    """401 (the token is missing, wrong or expired) or 403 (the token has no access to the team).

    Never retried: repeating the request cannot fix credentials.
    """


class StudioNotFoundError(StudioAPIError):
    """404, or a lookup (such as a job by id) that found nothing."""


class StudioValidationError(StudioAPIError):
    """400, 409 or 422: Studio rejected the request's content."""


class StudioRateLimitError(StudioAPIError):
    """429: too many requests. ``retry_after`` holds the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        server_message: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, status=status, server_message=server_message, method=method, path=path)
        self.retry_after = retry_after


class StudioResponseTooLargeError(StudioAPIError):
    """The answer was larger than the call accepts (a log, a log blob, or anything over 64 MiB); it was
    not read."""


class StudioServerError(StudioAPIError):
    """5xx: Studio failed to handle the request."""


class StudioTransportError(StudioError):
    """No usable response: the host could not be reached, the connection broke, or it timed out."""


class StudioTLSError(StudioTransportError):
    """The TLS handshake failed (for example the certificate could not be verified)."""


class StudioOutcomeUnknownError(StudioError):
    """A request that must not be repeated blindly (create a job, trigger or run a pipeline) was sent,
    but its response was lost: Studio may or may not have done the work.

    The caller has to look before it tries again (for example list the team's recent jobs), which the
    operators do; the client never resubmits such a request on its own.
    """


class StudioDeadlineExceeded(StudioError):
    """The caller's deadline passed before what it awaited (a job, a pipeline run, a dataset) finished.

    The remote work is still running: the caller decides whether to cancel or pause it.

    :param message: names what was awaited and the deadline.
    :param deadline: the deadline, as epoch seconds.
    """

    def __init__(self, message: str, *, deadline: float | None = None) -> None:
        super().__init__(message)
        self.deadline = deadline
