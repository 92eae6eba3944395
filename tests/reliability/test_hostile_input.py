"""Scenario 7, hostile and mistaken input.

- From the DAG author: each mistake is a clear error naming the parameter, raised before any request
  (the emulator counts zero).
- From the server: a 413, an HTML page, a malformed JSON body, non-JSON WebSocket frames, a status Studio
  never documented, a redirect to another host. Each ends the task with a clear provider error and no
  retry storm (requests counted); the token never follows the redirect.
- Property-based: whatever bytes come back, response parsing and the WebSocket frame reader raise nothing
  but the provider's own error types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio_provider.client import AsyncStudioClient, StudioConfig, StudioError, endpoints
from studio_provider.client.responses import decode_response
from studio_provider.client.waiting.follower import JobFollower
from studio_provider.client.waiting.frames import read_frame
from studio_provider.emulator import EmulatorServer
from studio_provider.exceptions import StudioDeadlinePassedError, StudioTaskError
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from tests.reliability.helpers import TEAM, TOKEN, add_token_count, record, request_log
from tests.reliability.scripted_studio import html, job_frame, raw_json, redirect, scripted_studio
from tests.studio_tasks import FakeTaskInstance, task_context

pytestmark = [pytest.mark.reliability, pytest.mark.integration]


def job_task(**kwargs: Any) -> StudioRunJobOperator:
    kwargs.setdefault("query", "print(1)")
    kwargs.setdefault("timeout", 30)
    return StudioRunJobOperator(task_id="hostile", poll_interval=0.2, **kwargs)


def execute(operator: Any) -> Any:
    return operator.execute(task_context(FakeTaskInstance(task_id=operator.task_id)))


#: (case, what raises, a word the message must contain)
MISTAKES: list[tuple[str, Callable[[], Any], str]] = [
    ("invalid cron", lambda: execute(job_task(cron_expression="every tuesday")), "cron_expression"),
    ("cluster name and id", lambda: job_task(compute_cluster_name="large", compute_cluster_id=2), "compute_cluster_id"),
    ("priority 6", lambda: job_task(priority=6), "priority"),
    ("priority -1", lambda: job_task(priority=-1), "priority"),
    ("workers 0", lambda: job_task(workers=0), "workers"),
    ("workers -3", lambda: job_task(workers=-3), "workers"),
    ("empty query", lambda: execute(job_task(query="  \n")), "query"),
    ("missing query file", lambda: execute(job_task(query=None, query_file="/nonexistent/etl.py")), "query_file"),
    ("query_type SQL", lambda: job_task(query_type="SQL"), "query_type"),
    (
        "malformed dataset reference",
        lambda: execute(StudioTriggerPipelineOperator(task_id="hostile", datasets=["@ns..name@v1.x"])),
        "dataset",
    ),
    ("pipeline without datasets", lambda: execute(StudioTriggerPipelineOperator(task_id="hostile", datasets=[])), "dataset"),
]


@pytest.mark.parametrize(("case", "action", "named"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_a_clear_error_before_any_request(
    rel_emulator: EmulatorServer, rel_connection: str, case: str, action: Callable[[], Any], named: str
) -> None:
    with pytest.raises(ValueError) as error:
        action()
    assert named in str(error.value), str(error.value)
    assert rel_emulator.injector.counters()["total"] == 0, case
    assert add_token_count("7 hostile input", str(error.value)) == 0


@pytest.mark.parametrize(
    ("case", "connection", "named"),
    [
        ("missing team", {"host": "http://127.0.0.1:9", "password": TOKEN, "extra": {}}, "team"),
        ("token with a newline", {"host": "http://127.0.0.1:9", "password": TOKEN + "\nX-Evil: 1", "extra": {"team": TEAM}}, "token"),
        ("credentials in the host", {"host": f"http://user:{TOKEN}@127.0.0.1:9", "password": TOKEN, "extra": {"team": TEAM}}, "credentials"),
        ("path traversal in the host", {"host": "http://127.0.0.1:9/../../admin", "password": TOKEN, "extra": {"team": TEAM}}, ".."),
        ("encoded path traversal", {"host": "http://127.0.0.1:9/a/%2e%2e/admin", "password": TOKEN, "extra": {"team": TEAM}}, ".."),
    ],
)
def test_a_bad_connection_is_a_clear_error_before_any_request(
    monkeypatch: pytest.MonkeyPatch, case: str, connection: dict[str, Any], named: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STUDIO_BAD", json.dumps({"conn_type": "datachain_studio", **connection}))
    with pytest.raises(ValueError) as error:
        StudioHook("studio_bad").list_jobs(limit=1)  # nothing listens on port 9: no request may be tried
    assert named in str(error.value), str(error.value)
    assert add_token_count("7 hostile input", str(error.value)) == 0


# ---- the server misbehaves -----------------------------------------------------------------------------


def scripted_operator(monkeypatch: pytest.MonkeyPatch, url: str, **kwargs: Any) -> StudioRunJobOperator:
    value = {"conn_type": "datachain_studio", "host": url, "password": TOKEN, "extra": {"team": TEAM}}
    monkeypatch.setenv("AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT", json.dumps(value))
    return job_task(use_websocket=kwargs.pop("use_websocket", False), **kwargs)


SERVER_FAULTS: list[tuple[str, dict[str, Any], str]] = [
    ("413 on create", {"create": raw_json('{"message": "Request body too large"}', 413)}, "413"),
    ("HTML page instead of JSON", {"create": html(200)}, "cannot read"),
    ("HTML error page on reads", {"jobs": html(400)}, "400"),
    ("malformed JSON body", {"jobs": raw_json('[{"id": "job-1", "status": ')}, "cannot read"),
]


@pytest.mark.parametrize(("case", "script", "said"), SERVER_FAULTS, ids=[f[0] for f in SERVER_FAULTS])
def test_server_misbehaviour_ends_the_task_clearly_without_a_retry_storm(
    monkeypatch: pytest.MonkeyPatch, case: str, script: dict[str, Any], said: str
) -> None:
    with scripted_studio() as (studio, url):
        for key, value in script.items():
            setattr(studio, key, value)
        with pytest.raises((StudioError, StudioTaskError)) as error:
            execute(scripted_operator(monkeypatch, url))
        requests = studio.count()
    message = str(error.value)
    record(f"7 server: {case}", {"error": type(error.value).__name__, "requests": requests, "message": message[:160]})
    assert said in message, message
    assert requests <= 12, studio.seen  # a handful of reads, never a storm
    assert add_token_count("7 hostile input", message) == 0


def test_an_undocumented_status_is_waited_on_never_taken_for_an_end(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The one policy for an unknown status (jobs and pipelines alike): the job is still in progress as far
    as the provider can tell, so the wait goes on, polling at its interval, until a known end or the
    deadline, which then names the status Studio sent."""
    with scripted_studio() as (studio, url):
        studio.jobs = raw_json(json.dumps([{"id": "job-1", "status": "EXPLODED"}]))
        with pytest.raises(StudioDeadlinePassedError) as error:
            execute(scripted_operator(monkeypatch, url, timeout=2))
        reads = studio.count("GET")
    record("7 server: undocumented status", {"reads in 2 s at a 0.2 s interval": reads, "message": str(error.value)[:160]})
    assert "last status EXPLODED" in str(error.value)
    # The poll interval's pace: a status list and a job read per round, plus the submission's and the cancel's reads.
    assert reads <= 2 * (2 / 0.2) + 10
    assert sum("EXPLODED" in record.getMessage() and "does not know" in record.getMessage() for record in caplog.records) == 1


def test_non_json_websocket_frames_are_skipped_and_rest_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    with scripted_studio() as (studio, url):
        studio.frames = ["not json", "{broken", "[1, 2]", '"a string"', job_frame("RUNNING")]
        studio.jobs = raw_json(json.dumps([{"id": "job-1", "status": "FAILED", "exit_code": 2, "error_message": "boom"}]))
        with pytest.raises(StudioTaskError) as error:
            execute(scripted_operator(monkeypatch, url, use_websocket=True))
        sockets = studio.count("WS")
    record("7 server: non-JSON WebSocket frames", {"sockets opened": sockets, "message": str(error.value)[:160]})
    assert "FAILED" in str(error.value) and "boom" in str(error.value)
    assert sockets <= 3


def test_a_redirect_to_another_host_is_not_followed_and_the_token_stays_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with scripted_studio() as (elsewhere, other_url), scripted_studio() as (studio, url):
        studio.jobs = redirect(f"{other_url}/api/datachain/jobs/")
        studio.create = redirect(f"{other_url}/api/datachain/jobs/")
        with pytest.raises((StudioError, StudioTaskError)) as error:
            execute(scripted_operator(monkeypatch, url))
        reached = elsewhere.seen
    record("7 server: redirect to another host", {"requests to the other host": len(reached), "message": str(error.value)[:160]})
    assert "302" in str(error.value)
    assert not reached  # neither the request nor, so, the token went there
    assert add_token_count("7 hostile input", str(error.value)) == 0


# ---- property-based ------------------------------------------------------------------------------------

CONFIG = StudioConfig(url="http://127.0.0.1:9/api", token=TOKEN, team=TEAM, max_retries=0)
REQUESTS = [
    endpoints.list_jobs(TEAM, limit=5),
    endpoints.get_job(TEAM, job_id="7"),
    endpoints.create_job(TEAM, query="print(1)"),
    endpoints.cancel_job(TEAM, job_id="7"),
    endpoints.get_job_logs(TEAM, job_id="7"),
    endpoints.trigger_pipeline(TEAM, datasets=["a"]),
    endpoints.get_pipeline(TEAM, pipeline_id="p"),
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
known_keys = st.sampled_from(
    ["id", "status", "logs", "job", "message", "type", "exit_code", "data", "ok", "pipeline", "detail",
     "created_at", "finished_at", "error_message", "job_runs", "pipeline_id", "name", "url"]
)
shaped = st.recursive(
    json_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(known_keys, inner, max_size=6),
    max_leaves=25,
)
bodies = st.one_of(
    st.binary(max_size=200),
    shaped.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=200).map(str.encode),
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_index=st.integers(0, len(REQUESTS) - 1),
    status=st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 599]),
    content_type=st.sampled_from(["application/json", "text/html", "application/msgpack", "text/plain", ""]),
    body=bodies,
    retry_after=st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)),
)
def test_response_parsing_raises_only_studio_errors(
    request_index: int, status: int, content_type: str, body: bytes, retry_after: str | None
) -> None:
    request = REQUESTS[request_index]
    headers = {"content-type": content_type} if content_type else {}
    if retry_after is not None and retry_after.isprintable():
        headers["retry-after"] = retry_after
    sent = httpx.Request(request.method, f"{CONFIG.url}/{request.httpx_kwargs()['url'].lstrip('/')}")
    response = httpx.Response(status, headers=headers, content=body, request=sent)
    try:
        decode_response(CONFIG, request, response)
    except StudioError as exc:
        assert TOKEN not in str(exc)


frames = st.one_of(
    st.text(max_size=100),
    st.binary(max_size=100),
    shaped.map(json.dumps),
    st.dictionaries(
        st.sampled_from(["logs", "job", "type", "status", "message", "id", "detail"]), shaped, max_size=4
    ).map(json.dumps),
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(frames, min_size=1, max_size=5))
def test_the_websocket_frame_reader_raises_only_studio_errors(messages: list[Any]) -> None:
    async def read() -> None:
        client = AsyncStudioClient(CONFIG)
        try:
            follower = JobFollower(client, "7", final_status_read=False)
            for message in messages:
                frame = read_frame(message, "7")
                if frame is None:
                    continue
                frame.blobs = []  # blob URLs are fetched over the network: not here
                [_ async for _ in follower._frame_events(frame)]
        finally:
            await client.aclose()

    with contextlib.suppress(StudioError):
        asyncio.run(read())


def test_the_emulator_request_log_never_holds_the_token(rel_emulator: EmulatorServer, rel_connection: str) -> None:
    hook = StudioHook()
    hook.list_jobs(limit=1)
    with pytest.raises(StudioError):
        hook.get_job(job_id="no-such-job")
    assert request_log(rel_emulator)
    assert add_token_count("7 hostile input", request_log(rel_emulator)) == 0


@pytest.mark.parametrize(
    "hostile",
    ["javascript:alert(document.cookie)", "https://studio.evil.example/phish", "data:text/html,<script>x</script>"],
)
def test_a_url_from_the_server_reaches_xcom_only_on_the_studio_host(
    monkeypatch: pytest.MonkeyPatch, hostile: str
) -> None:
    """The link and XCom get Studio's URL only when it is http(s) on the connection's host; otherwise the
    provider builds the job's URL itself."""
    job = {"id": "job-1", "status": "COMPLETE", "exit_code": 0, "url": hostile, "query_name": "x"}
    with scripted_studio() as (studio, url):
        studio.create = raw_json(json.dumps({**job, "status": "CREATED"}))
        studio.jobs = raw_json(json.dumps([job]))
        ti = FakeTaskInstance(task_id="hostile")
        result = scripted_operator(monkeypatch, url, wait_for_completion=False).execute(task_context(ti))
    expected = f"{url}/team/{TEAM}/datasets/jobs/job-1"
    assert ti.xcom["job_url"] == result["job_url"] == expected
