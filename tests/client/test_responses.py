"""What the client accepts from a server: error texts redacted then capped, bodies bounded in size, and
every response it cannot read (or that says ``ok: false``) turned into a ``StudioAPIError``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import msgpack
import pytest
import respx

from studio_provider.client import (
    LogLine,
    StudioAPIError,
    StudioClient,
    StudioConfig,
    StudioError,
    StudioValidationError,
    responses,
)

from .conftest import API, BASE, TEAM, TOKEN, async_client, sync_client

JOBS = f"{API}/datachain/jobs/"


def no_retry(token: str = TOKEN) -> StudioConfig:
    return StudioConfig.resolve(url=BASE, token=token, team=TEAM, extras={"max_retries": 0}, environ={})


def fail(router: respx.MockRouter, call: Any, config: StudioConfig | None = None) -> StudioError:
    with sync_client(router, config or no_retry()) as client, pytest.raises(StudioError) as info:
        call(client)
    return info.value


def fragments(secret: str, size: int = 5) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def assert_no_secret(error: BaseException, secret: str) -> None:
    texts = [str(error), repr(error), str(vars(error))]
    for text in texts:
        for piece in fragments(secret):
            assert piece not in text, f"token fragment {piece!r} leaked"


# ---------------------------------------------------------------------------------------------
# redaction: first redact, then cut; encoded forms too
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pad", [495, 497, 499, 995, 998])
def test_a_token_cut_in_half_by_truncation_does_not_leak(pad: int, router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(500, text="x" * pad + TOKEN + "y" * 50))
    error = fail(router, lambda c: c.list_jobs())
    assert_no_secret(error, TOKEN)


@pytest.mark.parametrize("pad", [495, 995])
def test_a_token_at_the_cut_of_a_json_message_does_not_leak(pad: int, router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(400, json={"message": "x" * pad + TOKEN}))
    error = fail(router, lambda c: c.list_jobs())
    assert_no_secret(error, TOKEN)


ODD_TOKEN = 'tok/en+a=b"c\\d?e&f'


@pytest.mark.parametrize(
    "form",
    [
        ODD_TOKEN,
        quote(ODD_TOKEN, safe=""),
        quote_plus(ODD_TOKEN),
        quote(ODD_TOKEN),
        json.dumps(ODD_TOKEN)[1:-1],
        json.dumps(ODD_TOKEN)[1:-1].replace("/", "\\/"),
    ],
    ids=["raw", "url-encoded", "form-encoded", "url-encoded-keep-slash", "json-escaped", "json-escaped-slash"],
)
def test_encoded_forms_of_the_token_are_redacted(form: str, router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(502, text=f"upstream said: token={form} refused"))
    error = fail(router, lambda c: c.list_jobs(), no_retry(ODD_TOKEN))
    assert form not in str(error)
    assert error.server_message is not None
    assert form not in error.server_message
    assert "***" in error.server_message


def test_a_token_inside_a_structured_detail_is_redacted(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(422, json={"detail": [{"msg": "bad", "input": ODD_TOKEN}]}))
    error = fail(router, lambda c: c.list_jobs(), no_retry(ODD_TOKEN))
    assert error.server_message is not None
    assert json.dumps(ODD_TOKEN)[1:-1] not in error.server_message
    assert ODD_TOKEN not in error.server_message
    assert "***" in error.server_message


# ---------------------------------------------------------------------------------------------
# limits: error texts and bodies
# ---------------------------------------------------------------------------------------------


def test_a_huge_json_error_message_is_capped(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(400, json={"message": "m" * 5_000_000}))
    error = fail(router, lambda c: c.list_jobs())
    assert error.server_message is not None
    assert len(error.server_message) <= responses.MAX_ERROR_TEXT + 1
    assert len(str(error)) < responses.MAX_ERROR_TEXT + 500


def test_a_huge_plain_error_body_is_capped(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(503, text="p" * 5_000_000))
    error = fail(router, lambda c: c.list_jobs())
    assert error.server_message is not None
    assert len(error.server_message) <= responses.MAX_ERROR_TEXT + 1
    assert len(str(error)) < responses.MAX_ERROR_TEXT + 500


class Endless:
    """A response body of ``chunks`` chunks of 1 KiB; records how many were pulled."""

    def __init__(self, chunks: int = 20_000) -> None:
        self.chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * 1024


class AsyncEndless(Endless):
    """The same body for the asyncio client (httpx takes any object with ``__iter__`` as a sync body)."""

    __iter__ = None  # type: ignore[assignment]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * 1024


def test_a_body_over_the_limit_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 64 * 1024)
    body = Endless()
    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with StudioClient(no_retry(), transport=mock) as client, pytest.raises(StudioAPIError) as info:
        client.list_jobs()
    assert info.value.status == 200
    assert "65536" in str(info.value) or "64 KiB" in str(info.value)
    assert body.pulled <= 66  # stopped right after the limit, not after 20,000 chunks


async def test_a_body_over_the_limit_is_refused_async(monkeypatch: pytest.MonkeyPatch) -> None:
    from studio_provider.client import AsyncStudioClient

    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 64 * 1024)
    body = AsyncEndless()

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=body)

    async with AsyncStudioClient(no_retry(), transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(StudioAPIError) as info:
            await client.list_jobs()
    assert info.value.status == 500
    assert body.pulled <= 66


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 64 * 1024)
    body = Endless(100)
    mock = httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"content-length": str(100 * 1024)})
    )
    with StudioClient(no_retry(), transport=mock) as client, pytest.raises(StudioAPIError) as info:
        client.list_jobs()
    assert body.pulled == 0
    assert "larger" in str(info.value)


def test_the_default_body_limit_is_generous() -> None:
    assert responses.MAX_RESPONSE_BYTES >= 64 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# malformed responses and ok: false
# ---------------------------------------------------------------------------------------------

PIPELINE_STATUS = f"{API}/datachain/pipeline/status"
MALFORMED: list[tuple[str, str, str, Any, Any]] = [
    ("jobs-not-objects", "GET", JOBS, [1, "two"], lambda c: c.list_jobs()),
    ("job-null-id", "POST", JOBS, {"id": None, "status": "CREATED"}, lambda c: c.create_job(query="q")),
    ("job-no-id", "POST", JOBS, {"status": "CREATED"}, lambda c: c.create_job(query="q")),
    ("job-object-id", "POST", JOBS, {"id": {"a": 1}, "status": "CREATED"}, lambda c: c.create_job(query="q")),
    ("pipeline-empty", "GET", PIPELINE_STATUS, {}, lambda c: c.get_pipeline(name="p")),
    (
        "pipeline-bool-as-text",
        "GET",
        PIPELINE_STATUS,
        {"ok": True, "pipeline": {"pipeline_id": "p1", "status": "RUNNING", "is_definition": "false"}},
        lambda c: c.get_pipeline(name="p"),
    ),
    (
        "pipeline-job-runs-not-objects",
        "GET",
        PIPELINE_STATUS,
        {"pipeline_id": "p1", "status": "RUNNING", "job_runs": ["j1"]},
        lambda c: c.get_pipeline(name="p"),
    ),
    (
        "clusters-default-as-text",
        "GET",
        f"{API}/datachain/clusters/",
        [{"id": 1, "name": "c", "default": "no"}],
        lambda c: c.list_clusters(),
    ),
    ("clusters-not-objects", "GET", f"{API}/datachain/clusters/", ["c"], lambda c: c.list_clusters()),
    ("datasets-not-objects", "GET", f"{API}/datachain/datasets", [["a", 1]], lambda c: c.list_datasets()),
    (
        "schedules-not-objects",
        "GET",
        f"{API}/datachain/pipeline/schedules",
        {"schedules": [7]},
        lambda c: c.list_schedules(),
    ),
    (
        "upload-null-id",
        "POST",
        f"{API}/datachain/jobs/files",
        {"id": None, "state": "uploaded"},
        lambda c: c.upload_file(file=b"x", file_name="x.py"),
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "payload", "call"),
    [(m, u, p, c) for _, m, u, p, c in MALFORMED],
    ids=[i for i, *_ in MALFORMED],
)
def test_malformed_success_bodies_are_api_errors(
    method: str, url: str, payload: Any, call: Any, router: respx.MockRouter
) -> None:
    router.route(method=method, url=url).mock(return_value=httpx.Response(200, json=payload))
    error = fail(router, call)
    assert type(error) is StudioAPIError
    assert error.status == 200
    assert "200" in str(error)


def test_an_unreadable_body_is_quoted_in_short(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(200, json=[{"status": "RUNNING", "pad": "z" * 10_000}]))
    error = fail(router, lambda c: c.list_jobs())
    assert "RUNNING" in str(error)  # an excerpt of what came back
    assert len(str(error)) < 1000


@pytest.mark.parametrize(
    ("method", "url", "call"),
    [
        ("GET", PIPELINE_STATUS, lambda c: c.get_pipeline(name="p")),
        ("POST", f"{API}/datachain/pipeline/trigger", lambda c: c.trigger_pipeline(datasets=["cats"])),
        ("POST", f"{API}/datachain/pipeline/pause", lambda c: c.pause_pipeline(name="p")),
        ("GET", f"{API}/datachain/pipeline/schedule", lambda c: c.get_schedule(schedule_id=1)),
        ("POST", f"{API}/datachain/pipeline/delete-schedule", lambda c: c.delete_schedule(schedule_id=1)),
        ("GET", f"{API}/datachain/pipeline/list", lambda c: c.list_pipelines()),
    ],
    ids=["status", "trigger", "pause", "schedule", "delete-schedule", "list"],
)
def test_an_ok_false_envelope_is_an_api_error(method: str, url: str, call: Any, router: respx.MockRouter) -> None:
    router.route(method=method, url=url).mock(
        return_value=httpx.Response(200, json={"ok": False, "pipeline": None, "message": "No such pipeline"})
    )
    error = fail(router, call)
    assert isinstance(error, StudioAPIError)
    assert error.status == 200
    assert error.server_message == "No such pipeline"
    assert "No such pipeline" in str(error)


def test_an_ok_false_envelope_without_a_message_is_an_api_error(router: respx.MockRouter) -> None:
    router.get(PIPELINE_STATUS).mock(return_value=httpx.Response(200, json={"ok": False, "pipeline": None}))
    error = fail(router, lambda c: c.get_pipeline(name="p"))
    assert isinstance(error, StudioAPIError)
    assert "ok" in str(error)


@pytest.mark.parametrize("state", ["error", "failed", "ERROR"])
def test_an_upload_in_an_error_state_is_an_api_error(state: str, router: respx.MockRouter) -> None:
    router.post(f"{API}/datachain/jobs/files").mock(
        return_value=httpx.Response(200, json={"id": 4, "state": state, "error": "scanner rejected it"})
    )
    error = fail(router, lambda c: c.upload_file(file=b"x", file_name="x.py"))
    assert isinstance(error, StudioAPIError)
    assert "scanner rejected it" in str(error)


@pytest.mark.parametrize("state", ["uploaded", "pending", None])
def test_an_upload_in_a_good_or_pending_state_is_returned(state: str | None, router: respx.MockRouter) -> None:
    router.post(f"{API}/datachain/jobs/files").mock(
        return_value=httpx.Response(200, json={"id": 4, "state": state, "filename": "x.py"})
    )
    with sync_client(router, no_retry()) as client:
        uploaded = client.upload_file(file=b"x", file_name="x.py")
    assert uploaded.id == "4"
    assert uploaded.state == state


async def test_malformed_bodies_are_api_errors_async(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(200, json=[None]))
    async with async_client(router, no_retry()) as client:
        with pytest.raises(StudioAPIError) as info:
            await client.list_jobs()
    assert info.value.status == 200


# ---------------------------------------------------------------------------------------------
# REST logs: the spec gives no schema, so the realistic variants are read
# ---------------------------------------------------------------------------------------------

LOGS = f"{API}/datachain/jobs/j1/logs"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"logs": [{"id": None, "message": "a\n"}, {"id": "x7", "message": "b\n"}]},
            [LogLine(1, "a\n"), LogLine(2, "b\n")],
        ),
        ({"logs": [{"id": "12", "message": "a"}, {"id": 13.0, "message": "b"}]}, [LogLine(12, "a"), LogLine(13, "b")]),
        (["one\n", "two\n"], [LogLine(1, "one\n"), LogLine(2, "two\n")]),
        ({"logs": ["one\n", {"message": "two\n"}]}, [LogLine(1, "one\n"), LogLine(2, "two\n")]),
        ({"ok": True}, []),
        ({"logs": None}, []),
        ({"logs": [{"id": 3, "message": None}]}, [LogLine(3, "")]),
        ({"logs": [{"id": True, "message": "t"}]}, [LogLine(1, "t")]),
    ],
    ids=["null-and-text-ids", "numeric-text-ids", "bare-strings", "mixed", "no-logs-key", "logs-null",
         "null-message", "bool-id"],
)
def test_rest_log_variants_are_read(payload: Any, expected: list[LogLine], router: respx.MockRouter) -> None:
    router.get(LOGS).mock(return_value=httpx.Response(200, json=payload))
    with sync_client(router, no_retry()) as client:
        assert client.get_job_logs(job_id="j1") == expected


def test_rest_logs_that_are_no_logs_at_all_are_an_api_error(router: respx.MockRouter) -> None:
    router.get(LOGS).mock(return_value=httpx.Response(200, json={"logs": 42}))
    error = fail(router, lambda c: c.get_job_logs(job_id="j1"))
    assert type(error) is StudioAPIError


# ---------------------------------------------------------------------------------------------
# ls errors are msgpack
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["message", "detail"])
def test_an_ls_error_body_in_msgpack_is_decoded(key: str, router: respx.MockRouter) -> None:
    body = msgpack.packb({key: "Invalid source s3:// (no bucket)", "data": None})
    router.post(f"{API}/datachain/ls").mock(
        return_value=httpx.Response(400, content=body, headers={"content-type": "application/msgpack"})
    )
    error = fail(router, lambda c: c.ls(source="s3://"))
    assert isinstance(error, StudioValidationError)
    assert error.server_message == "Invalid source s3:// (no bucket)"
    assert "Invalid source s3:// (no bucket)" in str(error)


def test_an_unreadable_msgpack_error_body_still_gives_a_message(router: respx.MockRouter) -> None:
    router.post(f"{API}/datachain/ls").mock(
        return_value=httpx.Response(500, content=b"\xc1\xc1", headers={"content-type": "application/msgpack"})
    )
    error = fail(router, lambda c: c.ls(source="s3://b"))
    assert error.server_message
    assert error.status == 500


# ---------------------------------------------------------------------------------------------
# message texts: one full stop between the server's sentence and ours; URLs end at a space
# ---------------------------------------------------------------------------------------------


def urls_are_followed_by_a_space_or_the_end(text: str) -> bool:
    """What Airflow's log view needs to link a URL without the punctuation after it."""
    import re

    return all(match.group(0)[-1] not in ".,:;)]'\"" for match in re.finditer(r"https?://\S+", text))


@pytest.mark.parametrize(("status", "said"), [(401, "Invalid token."), (401, "Invalid token"), (403, "Forbidden.")])
def test_the_servers_sentence_and_ours_join_with_one_full_stop(
    status: int, said: str, router: respx.MockRouter
) -> None:
    router.get(JOBS).mock(return_value=httpx.Response(status, json={"message": said}))
    text = str(fail(router, lambda c: c.list_jobs()))
    assert f"{said.rstrip('.')}. Check the connection's" in text, text
    assert ".." not in text
    assert urls_are_followed_by_a_space_or_the_end(text), text


def test_a_transport_error_names_the_request_at_its_end(router: respx.MockRouter) -> None:
    router.get(JOBS).mock(side_effect=httpx.ConnectError("Connection refused."))
    text = str(fail(router, lambda c: c.list_jobs()))
    assert text.endswith(f"Request: GET {JOBS}"), text
    assert "Connection refused. Request:" in text and ".." not in text
    assert urls_are_followed_by_a_space_or_the_end(text), text


def test_sentence() -> None:
    assert responses.sentence("Invalid token.") == "Invalid token."
    assert responses.sentence("Invalid token  ") == "Invalid token."
    assert responses.sentence("Really?") == "Really?"
    assert responses.sentence("") == ""
