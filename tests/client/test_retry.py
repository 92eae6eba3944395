"""When the client tries again, how long it waits, and which calls it never repeats blindly.

The ``sleeps`` fixture replaces tenacity's sleeps: nothing waits, each requested wait is recorded.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosedError, InvalidMessage, InvalidStatus
from websockets.http11 import Response

from studio_provider.client import (
    Job,
    Pipeline,
    StudioAuthenticationError,
    StudioClient,
    StudioDeadlineExceeded,
    StudioError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioRateLimitError,
    StudioServerError,
    StudioTLSError,
    StudioTransportError,
    StudioValidationError,
)
from studio_provider.client.retry import RECONNECT_BACKOFF, Backoff, RetryPolicy, is_transient

from .conftest import API, SleepRecorder, async_client, make_config, sync_client

JOBS = f"{API}/datachain/jobs/"
JOB = {"id": "j-1", "status": "CREATED"}
PIPELINE = {"ok": True, "pipeline": {"pipeline_id": "p-1", "status": "PENDING"}}


def answers(*responses: httpx.Response | Exception) -> list[httpx.Response | Exception]:
    return list(responses)


def client_with(router: respx.MockRouter, retries: int) -> StudioClient:
    return sync_client(router, make_config(max_retries=retries))


# ---------------------------------------------------------------------------------------------
# reads
# ---------------------------------------------------------------------------------------------


def test_retry_after_is_honoured(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(
        side_effect=answers(
            httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "2"}),
            httpx.Response(200, json=[JOB]),
        )
    )
    with client_with(router, 3) as client:
        jobs = client.list_jobs()
    assert [job.id for job in jobs] == ["j-1"]
    assert route.call_count == 2
    assert sleeps.waits == [2.0]


async def test_retry_after_is_honoured_async(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(
        side_effect=answers(
            httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json=[JOB])
        )
    )
    async with async_client(router, make_config(max_retries=3)) as client:
        jobs = await client.list_jobs()
    assert jobs[0].id == "j-1"
    assert route.call_count == 2
    assert sleeps.waits == [2.0]


def test_retry_after_is_capped(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    router.get(JOBS).mock(
        side_effect=answers(
            httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(200, json=[])
        )
    )
    with client_with(router, 1) as client:
        assert client.list_jobs() == []
    assert sleeps.waits == [RetryPolicy().max_retry_after]


def test_rate_limit_exhausts_retries(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(429, headers={"Retry-After": "1"}))
    with client_with(router, 2) as client, pytest.raises(StudioRateLimitError) as info:
        client.list_jobs()
    assert route.call_count == 3
    assert sleeps.waits == [1.0, 1.0]
    assert info.value.retry_after == 1.0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_then_raised(
    status: int, router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(status, text="bad gateway"))
    with client_with(router, 2) as client, pytest.raises(StudioServerError) as info:
        client.list_jobs()
    assert route.call_count == 3  # the first attempt and max_retries retries
    assert len(sleeps.waits) == 2
    assert info.value.status == status


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_error_then_success(status: int, router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(
        side_effect=answers(httpx.Response(status), httpx.Response(200, json=[JOB]))
    )
    with client_with(router, 2) as client:
        assert client.list_jobs()[0].id == "j-1"
    assert route.call_count == 2
    assert len(sleeps.waits) == 1


@pytest.mark.parametrize(
    "make_exc",
    [
        lambda: httpx.ConnectError("refused"),
        lambda: httpx.ConnectTimeout("timed out"),
        lambda: httpx.ReadTimeout("timed out"),
        lambda: httpx.RemoteProtocolError("disconnected"),
    ],
    ids=["connect", "connect-timeout", "read-timeout", "protocol"],
)
def test_transport_errors_of_reads_are_retried(
    make_exc: Callable[[], Exception], router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.get(JOBS).mock(side_effect=make_exc())
    with client_with(router, 2) as client, pytest.raises(StudioTransportError):
        client.list_jobs()
    assert route.call_count == 3
    assert len(sleeps.waits) == 2


async def test_connect_errors_are_retried_async(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(side_effect=httpx.ConnectError("refused"))
    async with async_client(router, make_config(max_retries=2)) as client:
        with pytest.raises(StudioTransportError):
            await client.list_jobs()
    assert route.call_count == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, StudioValidationError),
        (401, StudioAuthenticationError),
        (403, StudioAuthenticationError),
        (404, StudioError),
        (422, StudioValidationError),
    ],
)
def test_other_statuses_are_not_retried(
    status: int, cls: type[StudioError], router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(status, json={"message": "no"}))
    with client_with(router, 3) as client, pytest.raises(cls) as info:
        client.list_jobs()
    assert route.call_count == 1
    assert sleeps.waits == []
    assert info.value.status == status


async def test_401_is_not_retried_async(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(401))
    async with async_client(router, make_config(max_retries=3)) as client:
        with pytest.raises(StudioAuthenticationError):
            await client.list_jobs()
    assert route.call_count == 1
    assert sleeps.waits == []


def test_max_retries_zero_disables_retries(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(503))
    with client_with(router, 0) as client, pytest.raises(StudioServerError):
        client.list_jobs()
    assert route.call_count == 1
    assert sleeps.waits == []


def test_malformed_body_is_not_retried(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(200, text="<html>"))
    with client_with(router, 3) as client, pytest.raises(StudioError):
        client.list_jobs()
    assert route.call_count == 1


# ---------------------------------------------------------------------------------------------
# backoff
# ---------------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_bounded_jitter(
    router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    policy = RetryPolicy()
    router.get(JOBS).mock(return_value=httpx.Response(503))
    with client_with(router, 4) as client, pytest.raises(StudioServerError):
        client.list_jobs()
    assert len(sleeps.waits) == 4
    for n, wait in enumerate(sleeps.waits):
        base = policy.backoff.initial * 2**n
        assert base <= wait <= base + policy.backoff.jitter, (n, sleeps.waits)
    assert sleeps.waits == sorted(sleeps.waits)
    assert sleeps.waits[-1] > sleeps.waits[0] * 4


def test_backoff_is_capped(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    router.get(JOBS).mock(side_effect=httpx.ConnectError("refused"))
    with client_with(router, 7) as client, pytest.raises(StudioTransportError):
        client.list_jobs()
    assert len(sleeps.waits) == 7
    assert max(sleeps.waits) <= RetryPolicy().backoff.cap
    assert sleeps.waits[-1] == RetryPolicy().backoff.cap  # 1·2^6 = 64 s would exceed the cap


def test_backoff_jitter_varies(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(502))
    for _ in range(8):
        with client_with(router, 1) as client, pytest.raises(StudioServerError):
            client.list_jobs()
    assert len(sleeps.waits) == 8
    assert all(1.0 <= wait <= 2.0 for wait in sleeps.waits)
    assert len(set(sleeps.waits)) > 1  # 8 identical uniform draws would mean no jitter at all


async def test_backoff_grows_async(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(504))
    async with async_client(router, make_config(max_retries=3)) as client:
        with pytest.raises(StudioServerError):
            await client.list_jobs()
    assert len(sleeps.waits) == 3
    assert all(2**n <= wait <= 2**n + 1 for n, wait in enumerate(sleeps.waits))


# ---------------------------------------------------------------------------------------------
# calls that must not be repeated blindly
# ---------------------------------------------------------------------------------------------


def _create_job(client: Any) -> Any:
    return client.create_job(query="print(1)")


def _trigger_pipeline(client: Any) -> Any:
    return client.trigger_pipeline(datasets=["@ns.proj.cats@v1.0.0"])


def _run_pipeline(client: Any) -> Any:
    return client.run_pipeline(definition_id="def-1")


UNSAFE = [
    pytest.param(_create_job, "POST", JOBS, JOB, Job, id="create_job"),
    pytest.param(
        _trigger_pipeline, "POST", f"{API}/datachain/pipeline/trigger", PIPELINE, Pipeline, id="trigger"
    ),
    pytest.param(_run_pipeline, "POST", f"{API}/datachain/pipeline/run", PIPELINE, Pipeline, id="run"),
]

SENT_THEN_LOST = [
    pytest.param(lambda: httpx.Response(502, text="bad gateway"), id="502"),
    pytest.param(lambda: httpx.Response(503, json={"message": "unavailable"}), id="503"),
    pytest.param(lambda: httpx.Response(504), id="504"),
    pytest.param(lambda: httpx.Response(500), id="500"),
    pytest.param(lambda: httpx.ReadTimeout("timed out"), id="read-timeout"),
    pytest.param(lambda: httpx.RemoteProtocolError("Server disconnected"), id="protocol-error"),
    pytest.param(lambda: httpx.WriteTimeout("timed out"), id="write-timeout"),
    pytest.param(lambda: httpx.ReadError("connection reset"), id="read-error"),
]


@pytest.mark.parametrize(("call", "method", "url", "payload", "model"), UNSAFE)
@pytest.mark.parametrize("failure", SENT_THEN_LOST)
def test_unsafe_call_with_lost_outcome_is_sent_once(
    call: Callable[[Any], Any],
    method: str,
    url: str,
    payload: dict[str, Any],
    model: type,
    failure: Callable[[], Any],
    router: respx.MockRouter,
    sleeps: SleepRecorder,
) -> None:
    outcome = failure()
    route = router.route(method=method, url=url)
    if isinstance(outcome, Exception):
        route.mock(side_effect=outcome)
    else:
        route.mock(return_value=outcome)
    with client_with(router, 3) as client, pytest.raises(StudioOutcomeUnknownError) as info:
        call(client)
    assert route.call_count == 1
    assert sleeps.waits == []
    assert "may or may not" in str(info.value)
    if isinstance(outcome, httpx.Response):
        assert info.value.status == outcome.status_code


@pytest.mark.parametrize(("call", "method", "url", "payload", "model"), UNSAFE)
@pytest.mark.parametrize(
    "not_sent",
    [
        pytest.param(lambda: httpx.ConnectError("[Errno 111] Connection refused"), id="connect-error"),
        pytest.param(lambda: httpx.ConnectTimeout("timed out"), id="connect-timeout"),
        pytest.param(lambda: httpx.PoolTimeout("no connection available"), id="pool-timeout"),
        pytest.param(lambda: httpx.Response(429, headers={"Retry-After": "3"}), id="429"),
    ],
)
def test_unsafe_call_not_sent_is_retried(
    call: Callable[[Any], Any],
    method: str,
    url: str,
    payload: dict[str, Any],
    model: type,
    not_sent: Callable[[], Any],
    router: respx.MockRouter,
    sleeps: SleepRecorder,
) -> None:
    route = router.route(method=method, url=url).mock(
        side_effect=answers(not_sent(), httpx.Response(200, json=payload))
    )
    with client_with(router, 3) as client:
        result = call(client)
    assert isinstance(result, model)
    assert route.call_count == 2
    assert len(sleeps.waits) == 1
    if isinstance(not_sent(), httpx.Response):
        assert sleeps.waits == [3.0]


@pytest.mark.parametrize(("call", "method", "url", "payload", "model"), UNSAFE)
async def test_unsafe_calls_async(
    call: Callable[[Any], Any],
    method: str,
    url: str,
    payload: dict[str, Any],
    model: type,
    router: respx.MockRouter,
    sleeps: SleepRecorder,
) -> None:
    route = router.route(method=method, url=url).mock(
        side_effect=answers(
            httpx.ConnectError("refused"),  # not sent: retried
            httpx.Response(200, json=payload),
            httpx.ReadTimeout("timed out"),  # sent, answer lost: not retried
            httpx.Response(200, json=payload),
        )
    )
    async with async_client(router, make_config(max_retries=3)) as client:
        assert isinstance(await call(client), model)
        assert route.call_count == 2
        with pytest.raises(StudioOutcomeUnknownError):
            await call(client)
    assert route.call_count == 3
    assert len(sleeps.waits) == 1


def test_unsafe_call_connect_errors_exhaust_retries(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.post(JOBS).mock(side_effect=httpx.ConnectError("refused"))
    with client_with(router, 2) as client, pytest.raises(StudioTransportError) as info:
        client.create_job(query="print(1)")
    assert not isinstance(info.value, StudioOutcomeUnknownError)  # it certainly was not sent
    assert route.call_count == 3


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.duplicate_pipeline(name="p"), id="duplicate_pipeline"),
        pytest.param(
            lambda c: c.create_schedule(schedule_name="s", cron_expression="0 3 * * *", pipeline_name="p"),
            id="create_schedule",
        ),
        pytest.param(lambda c: c.create_access_group(name="g"), id="create_access_group"),
        pytest.param(
            lambda c: c.add_access_group_member(group_id="g", user_id=1, role="write"), id="add_member"
        ),
        pytest.param(
            lambda c: c.create_access_rule(
                resource_type="namespace", resource_id="n", permission="read", user_id=1
            ),
            id="create_access_rule",
        ),
    ],
)
def test_other_creating_calls_are_not_repeated(
    call: Callable[[Any], Any], router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.route().mock(return_value=httpx.Response(503))
    with client_with(router, 3) as client, pytest.raises(StudioOutcomeUnknownError):
        call(client)
    assert route.call_count == 1


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.cancel_job(job_id="j-1"), id="cancel_job"),
        pytest.param(lambda c: c.pause_pipeline(name="p"), id="pause_pipeline"),
        pytest.param(lambda c: c.delete_schedule(schedule_id=1), id="delete_schedule"),
        pytest.param(lambda c: c.update_access_rule(rule_id="r", permission="read"), id="update_access_rule"),
        pytest.param(lambda c: c.upload_file(file=b"x", file_name="x.py"), id="upload_file"),
    ],
)
def test_repeatable_writes_are_retried(
    call: Callable[[Any], Any], router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.route().mock(
        side_effect=answers(
            httpx.ReadTimeout("timed out"),
            httpx.Response(503),
            httpx.Response(200, json={"ok": True, "id": 1, "pipeline_id": "p-1"}),
        )
    )
    with client_with(router, 3) as client:
        call(client)
    assert route.call_count == 3
    assert len(sleeps.waits) == 2


# ---------------------------------------------------------------------------------------------
# a plain 500: reads retry it (as the official client does), writes do not
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 501, 505, 599])
def test_reads_retry_every_5xx(status: int, router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(
        side_effect=answers(httpx.Response(status, json={"message": "oops"}), httpx.Response(200, json=[JOB]))
    )
    with client_with(router, 2) as client:
        assert client.list_jobs()[0].id == "j-1"
    assert route.call_count == 2
    assert len(sleeps.waits) == 1


def test_a_read_failing_with_500_every_time_is_raised_after_the_retries(
    router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.get(JOBS).mock(return_value=httpx.Response(500, json={"message": "oops"}))
    with client_with(router, 2) as client, pytest.raises(StudioServerError) as info:
        client.list_jobs()
    assert route.call_count == 3
    assert info.value.status == 500


async def test_reads_retry_a_plain_500_async(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.get(JOBS).mock(side_effect=answers(httpx.Response(500), httpx.Response(200, json=[JOB])))
    async with async_client(router, make_config(max_retries=1)) as client:
        assert (await client.list_jobs())[0].id == "j-1"
    assert route.call_count == 2


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.cancel_job(job_id="j-1"), id="cancel_job"),
        pytest.param(lambda c: c.pause_pipeline(name="p"), id="pause_pipeline"),
        pytest.param(lambda c: c.update_access_rule(rule_id="r", permission="read"), id="update_access_rule"),
    ],
)
def test_writes_do_not_retry_a_plain_500(
    call: Callable[[Any], Any], router: respx.MockRouter, sleeps: SleepRecorder
) -> None:
    route = router.route().mock(return_value=httpx.Response(500, json={"message": "oops"}))
    with client_with(router, 3) as client, pytest.raises(StudioServerError):
        call(client)
    assert route.call_count == 1


def test_unsafe_posts_never_retry_a_plain_500(router: respx.MockRouter, sleeps: SleepRecorder) -> None:
    route = router.post(JOBS).mock(return_value=httpx.Response(500, json={"message": "oops"}))
    with client_with(router, 3) as client, pytest.raises(StudioOutcomeUnknownError):
        client.create_job(query="print(1)")
    assert route.call_count == 1


# ---- the one backoff, and what is worth another attempt -------------------------------------------


def test_the_reconnect_backoff_doubles_up_to_a_minute_with_jitter() -> None:
    delays = RECONNECT_BACKOFF.delays(rng=random.Random(1))
    values = [next(delays) for _ in range(9)]
    floors = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    for value, floor in zip(values, floors, strict=True):
        assert floor <= value < floor + 1
    assert len({value - floor for value, floor in zip(values, floors, strict=True)}) > 1  # really jittered


def test_delays_start_again_when_data_arrived() -> None:
    delays = Backoff(initial=1.0, cap=60.0, jitter=0.0).delays()
    assert [next(delays) for _ in range(4)] == [1, 2, 4, 8]
    delays.reset()
    assert next(delays) == 1
    assert [next(delays) for _ in range(200)][-1] == 60  # endless, and never overflows


def _invalid_status(status: int) -> InvalidStatus:
    return InvalidStatus(Response(status, "x", Headers(), b'{"message": "no"}'))


@pytest.mark.parametrize(
    "exc",
    [
        StudioServerError("boom", status=500),
        StudioServerError("boom", status=503),
        StudioRateLimitError("slow down", retry_after=1),
        StudioTransportError("unreachable"),
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        ConnectionResetError(),
        asyncio.TimeoutError(),
        ConnectionClosedError(None, None),
        InvalidMessage("did not receive a valid HTTP response"),
        _invalid_status(502),
        _invalid_status(429),
        OSError("network is unreachable"),
    ],
    ids=repr,
)
def test_transient_failures(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        StudioAuthenticationError("no", status=401),
        StudioAuthenticationError("no", status=403),
        StudioNotFoundError("gone", status=404),
        StudioValidationError("bad", status=400),
        StudioTLSError("certificate verify failed"),
        StudioOutcomeUnknownError("maybe"),
        StudioDeadlineExceeded("late"),
        _invalid_status(401),
        _invalid_status(403),
        _invalid_status(404),
        ssl.SSLCertVerificationError("certificate verify failed"),
        ValueError("bad input"),
        KeyError("x"),
    ],
    ids=repr,
)
def test_permanent_failures(exc: BaseException) -> None:
    assert not is_transient(exc)
