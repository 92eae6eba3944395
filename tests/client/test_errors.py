"""How failures become Studio errors: the class, the status, the server's message, and no token."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpcore
import httpx
import pytest
import respx

from studio_provider.client import (
    AsyncStudioClient,
    StudioAPIError,
    StudioAuthenticationError,
    StudioClient,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from studio_provider.client.request import ApiRequest

from .conftest import API, TEAM, TOKEN, SleepRecorder, async_client, make_config, sync_client

JOBS = f"{API}/datachain/jobs/"
NO_RETRY = make_config(max_retries=0)


def fail_list_jobs(router: respx.MockRouter, response: httpx.Response) -> StudioError:
    """Call ``list_jobs`` against a server answering ``response``; return the raised error."""
    router.get(JOBS).mock(return_value=response)
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioError) as info:
        client.list_jobs()
    return info.value


def assert_no_token(error: BaseException) -> None:
    for text in (str(error), repr(error), *(str(arg) for arg in error.args)):
        assert TOKEN not in text
    assert TOKEN not in str(vars(error))


# ---------------------------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_token_echoed_by_the_server_is_scrubbed(status: int, router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(status, json={"message": f"bad token {TOKEN}"}))
    assert_no_token(error)
    assert error.server_message == "bad token ***"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures(status: int, router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(status, json={"message": "Invalid or expired token"}))
    assert type(error) is StudioAuthenticationError
    assert error.status == status
    assert error.server_message == "Invalid or expired token"
    assert repr(TEAM) in str(error)
    assert "https://studio.test/api" in str(error)
    assert "Invalid or expired token" in str(error)
    assert_no_token(error)


def test_403_points_at_the_team_setting(router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(403, json={"detail": "no access"}))
    assert "'team'" in str(error)


async def test_auth_failure_async(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(401, json={"message": "nope"}))
    async with async_client(router, NO_RETRY) as client:
        with pytest.raises(StudioAuthenticationError) as info:
            await client.list_jobs()
    assert info.value.status == 401
    assert TEAM in str(info.value)
    assert_no_token(info.value)


def test_token_absent_from_transport_errors(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(side_effect=httpx.ConnectError("connection refused"))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioTransportError) as info:
        client.list_jobs()
    assert_no_token(info.value)


# ---------------------------------------------------------------------------------------------
# status → class, with the server's message
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, StudioNotFoundError),
        (400, StudioValidationError),
        (409, StudioValidationError),
        (422, StudioValidationError),
        (500, StudioServerError),
        (502, StudioServerError),
        (503, StudioServerError),
        (504, StudioServerError),
        (418, StudioAPIError),
    ],
)
def test_status_classes(status: int, cls: type[StudioAPIError], router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(status, json={"message": f"went wrong {status}"}))
    assert type(error) is cls
    assert error.status == status
    assert error.server_message == f"went wrong {status}"
    assert f"went wrong {status}" in str(error)
    assert str(status) in str(error)
    assert error.method == "GET"
    assert error.path == "datachain/jobs/"
    assert_no_token(error)


def test_server_message_from_detail(router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(422, json={"detail": "limit must be positive"}))
    assert isinstance(error, StudioValidationError)
    assert error.server_message == "limit must be positive"


def test_server_message_from_structured_detail(router: respx.MockRouter) -> None:
    detail = [{"loc": ["query", "limit"], "msg": "bad"}]
    error = fail_list_jobs(router, httpx.Response(422, json={"detail": detail}))
    assert error.server_message is not None
    assert "limit" in error.server_message and "bad" in error.server_message


def test_server_message_from_html_page(router: respx.MockRouter) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = fail_list_jobs(router, httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    assert type(error) is StudioServerError
    assert error.status == 502
    assert error.server_message == page
    assert "502 Bad Gateway" in str(error)


def test_long_text_body_is_cut(router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(500, text="x" * 5000))
    assert error.server_message is not None
    assert 0 < len(error.server_message) <= 1001  # 1,000 characters and the "…" marking the cut


def test_empty_error_body_uses_reason_phrase(router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, httpx.Response(404))
    assert type(error) is StudioNotFoundError
    assert error.server_message == "Not Found"


# ---------------------------------------------------------------------------------------------
# 429 and Retry-After
# ---------------------------------------------------------------------------------------------


def test_rate_limit_retry_after_seconds(router: respx.MockRouter) -> None:
    error = fail_list_jobs(
        router, httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "17"})
    )
    assert type(error) is StudioRateLimitError
    assert error.status == 429
    assert error.server_message == "slow down"
    assert error.retry_after == 17.0


def test_rate_limit_retry_after_http_date(router: respx.MockRouter) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=60)
    error = fail_list_jobs(
        router, httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    )
    assert isinstance(error, StudioRateLimitError)
    assert error.retry_after is not None
    assert 55.0 <= error.retry_after <= 61.0


@pytest.mark.parametrize("header", [None, "soon"])
def test_rate_limit_without_usable_retry_after(header: str | None, router: respx.MockRouter) -> None:
    headers = {} if header is None else {"Retry-After": header}
    error = fail_list_jobs(router, httpx.Response(429, headers=headers))
    assert isinstance(error, StudioRateLimitError)
    assert error.retry_after is None


def test_rate_limit_retry_after_in_the_past_is_zero(router: respx.MockRouter) -> None:
    when = datetime.now(timezone.utc) - timedelta(hours=1)
    error = fail_list_jobs(router, httpx.Response(429, headers={"Retry-After": format_datetime(when, True)}))
    assert isinstance(error, StudioRateLimitError)
    assert error.retry_after == 0.0


# ---------------------------------------------------------------------------------------------
# unreadable success bodies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"unexpected": "shape"}),
        httpx.Response(200, json="a string"),
    ],
    ids=["html", "object-not-list", "string"],
)
def test_malformed_success_body(response: httpx.Response, router: respx.MockRouter) -> None:
    error = fail_list_jobs(router, response)
    assert type(error) is StudioAPIError
    assert error.status == 200
    assert "list_jobs" in str(error)


def test_malformed_msgpack_body(router: respx.MockRouter) -> None:
    router.post(f"{API}/datachain/ls").mock(return_value=httpx.Response(200, content=b"\xc1not msgpack"))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioAPIError) as info:
        client.ls(source="s3://b")
    assert info.value.status == 200


def test_dataset_job_versions_missing_keys(router: respx.MockRouter) -> None:
    router.get(f"{API}/datachain/datasets/dataset_job_versions").mock(
        return_value=httpx.Response(200, json={"dataset_versions": [{"name": "cats"}]})
    )
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioAPIError):
        client.get_dataset_job_versions(job_id="j1")


# ---------------------------------------------------------------------------------------------
# no response at all
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["connect", "connect-timeout", "read-timeout", "protocol"],
)
def test_transport_errors_of_a_read(exc: httpx.HTTPError, router: respx.MockRouter) -> None:
    router.get(JOBS).mock(side_effect=exc)
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioTransportError) as info:
        client.list_jobs()
    assert type(info.value) is StudioTransportError
    assert info.value.status is None
    assert type(exc).__name__ in str(info.value)
    assert "https://studio.test/api/datachain/jobs/" in str(info.value)
    assert info.value.__cause__ is exc


# respx re-raises a side effect ``from`` its own wrapper, which replaces the exception's ``__cause__``; the
# TLS cases therefore use a plain ``httpx.MockTransport`` whose handler raises the chain untouched.


def _tls_error_by_cause(request: httpx.Request) -> httpx.Response:
    """What httpx raises on a failed verification: ConnectError from httpcore's, from the ssl error."""
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
        except ssl.SSLError as exc:
            raise httpcore.ConnectError("handshake failed") from exc
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError("handshake failed", request=request) from exc


def _tls_error_by_context(request: httpx.Request) -> httpx.Response:
    """The ssl error only as the implicit context (raised while handling it, no ``from``)."""
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed")
    except ssl.SSLError:
        raise httpx.ConnectError("handshake failed", request=request)  # noqa: B904


def _tls_error_by_message(request: httpx.Request) -> httpx.Response:
    """No chain at all, only the OpenSSL reason in the message."""
    raise httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
        request=request,
    )


TLS_FAILURES = [_tls_error_by_cause, _tls_error_by_context, _tls_error_by_message]
TLS_IDS = ["cause", "context", "message"]


class CountingHandler:
    def __init__(self, raise_error: Callable[[httpx.Request], httpx.Response]) -> None:
        self.raise_error = raise_error
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.raise_error(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)


@pytest.mark.parametrize("raise_error", TLS_FAILURES, ids=TLS_IDS)
def test_tls_verification_failure(
    raise_error: Callable[[httpx.Request], httpx.Response], sleeps: SleepRecorder
) -> None:
    handler = CountingHandler(raise_error)
    config = make_config(max_retries=3)
    client = StudioClient(config, transport=httpx.MockTransport(handler))
    with client, pytest.raises(StudioTLSError) as info:
        client.list_jobs()
    assert "verify" in str(info.value)  # it says how to fix it
    assert isinstance(info.value, StudioTransportError)
    assert handler.calls == 1  # a certificate does not fix itself: never retried
    assert sleeps.waits == []
    assert_no_token(info.value)


def test_tls_failure_of_an_unsafe_call_is_a_tls_error() -> None:
    handler = CountingHandler(_tls_error_by_cause)
    client = StudioClient(NO_RETRY, transport=httpx.MockTransport(handler))
    with client, pytest.raises(StudioTLSError):
        client.create_job(query="print(1)")
    assert handler.calls == 1


@pytest.mark.parametrize("raise_error", TLS_FAILURES, ids=TLS_IDS)
async def test_tls_failure_async(
    raise_error: Callable[[httpx.Request], httpx.Response], sleeps: SleepRecorder
) -> None:
    handler = CountingHandler(raise_error)
    transport = httpx.MockTransport(handler.handle_async)
    async with AsyncStudioClient(make_config(max_retries=2), transport=transport) as client:
        with pytest.raises(StudioTLSError):
            await client.list_jobs()
    assert handler.calls == 1
    assert sleeps.waits == []


def test_plain_connect_error_is_not_tls(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioTransportError) as info:
        client.list_jobs()
    assert not isinstance(info.value, StudioTLSError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_of_an_unsafe_call_is_outcome_unknown(status: int, router: respx.MockRouter) -> None:
    router.post(JOBS).mock(return_value=httpx.Response(status, json={"message": "boom"}))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioOutcomeUnknownError) as info:
        client.create_job(query="print(1)")
    assert info.value.status == status
    assert info.value.server_message == "boom"
    assert "create_job" in str(info.value)
    assert_no_token(info.value)


@pytest.mark.parametrize("status", [400, 401, 404, 409])
def test_client_errors_of_an_unsafe_call_keep_their_class(status: int, router: respx.MockRouter) -> None:
    router.post(JOBS).mock(return_value=httpx.Response(status, json={"message": "no"}))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioAPIError) as info:
        client.create_job(query="print(1)")
    assert not isinstance(info.value, StudioOutcomeUnknownError)
    assert info.value.status == status


# ---------------------------------------------------------------------------------------------
# the path in an error is the path that was sent
# ---------------------------------------------------------------------------------------------


def _probe(path: str) -> ApiRequest[None]:
    return ApiRequest("probe", "DELETE", path, lambda response: None)


def test_an_error_shows_the_path_actually_sent(router: respx.MockRouter) -> None:
    route = router.delete(f"{API}/datachain/rbac/access-rules/").mock(return_value=httpx.Response(404))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioNotFoundError) as info:
        client.send(_probe("datachain/rbac/access-rules/./"))
    assert route.call_count == 1
    assert "access-rules/./" not in str(info.value)
    assert f"DELETE {API}/datachain/rbac/access-rules/ returned 404" in str(info.value)
    assert info.value.path == "datachain/rbac/access-rules/"


def test_a_transport_error_shows_the_path_actually_sent(router: respx.MockRouter) -> None:
    router.delete(f"{API}/datachain/jobs/").mock(side_effect=httpx.ConnectError("refused"))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioTransportError) as info:
        client.send(_probe("datachain/jobs/x/../"))
    assert "x/../" not in str(info.value)
    assert f"{API}/datachain/jobs/" in str(info.value)
    assert info.value.path == "datachain/jobs/"


# ---------------------------------------------------------------------------------------------
# a request that could not even be written was not sent
# ---------------------------------------------------------------------------------------------


def test_a_local_protocol_error_is_not_an_unknown_outcome(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.post(f"{API}/datachain/jobs/").mock(
        side_effect=httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}\\n'")
    )
    with sync_client(router, make_config(max_retries=3)) as client, pytest.raises(StudioError) as info:
        client.create_job(query="print(1)")
    assert not isinstance(info.value, StudioOutcomeUnknownError)
    assert not isinstance(info.value, StudioTransportError)  # not "could not reach Studio", not retried
    assert route.call_count == 1
    assert sleeps.waits == []
    assert "not sent" in str(info.value)
    assert_no_token(info.value)


def test_transport_error_texts_are_redacted(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(side_effect=httpx.ReadError(f"boom near {TOKEN}"))
    with sync_client(router, NO_RETRY) as client, pytest.raises(StudioTransportError) as info:
        client.list_jobs()
    error = info.value
    assert_no_token(error)
