"""Fault injection and observation, driven over real sockets (uvicorn + httpx + websockets).

A tiny FastAPI app stands in for the emulator: the middleware needs nothing from the real routes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidMessage, InvalidStatus

from studio_provider.emulator.faults import (
    FaultInjector,
    FaultSpecError,
    add_fault_arguments,
    build_rule,
    parse_fault_spec,
)
from studio_provider.emulator.observation import Observations, path_matches, sanitize_query
from tests.emulator._asgi_server import ThreadedServer, serve

SECRET = "s3cr3t-TOKEN-value"
AUTH = {"Authorization": f"Bearer {SECRET}"}


class AppState:
    """What the downstream app really did, so tests can tell "processed" from "answered"."""

    def __init__(self) -> None:
        self.created = 0
        self.ws_started = 0
        self.ws_finished = 0


def make_app(injector: FaultInjector, state: AppState) -> Any:
    app = FastAPI()

    @app.get("/api/items/")
    async def list_items() -> list[int]:
        return list(range(state.created))

    @app.get("/api/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/api/items/")
    async def create_item() -> dict[str, int]:
        state.created += 1
        return {"id": state.created}

    @app.websocket("/ws/frames")
    async def frames(websocket: WebSocket) -> None:
        state.ws_started += 1
        await websocket.accept()
        n = int(websocket.query_params.get("n", "5"))
        for i in range(n):
            await websocket.send_json({"i": i})
            await asyncio.sleep(0.005)
        await websocket.close()
        state.ws_finished += 1

    app.include_router(injector.admin_router(), prefix="/_emulator")
    return injector.middleware(app)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[FaultInjector, AppState, ThreadedServer]]:
    injector = FaultInjector(seed=7)
    state = AppState()
    with serve(make_app(injector, state)) as server:
        yield injector, state, server


@pytest.fixture
def env(
    shared: tuple[FaultInjector, AppState, ThreadedServer],
) -> tuple[FaultInjector, AppState, ThreadedServer]:
    injector, state, server = shared
    injector.reset()
    injector.seed(7)
    state.created = state.ws_started = state.ws_finished = 0
    return injector, state, server


@pytest.fixture
def client(env: tuple[FaultInjector, AppState, ThreadedServer]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env[2].url, timeout=5.0, headers=AUTH) as c:
        yield c


async def read_ws(url: str) -> tuple[list[Any], ConnectionClosed | None]:
    """All frames of one WebSocket session, and how it ended (None for a normal close)."""
    frames: list[Any] = []

    async def session() -> ConnectionClosed | None:
        try:
            async with connect(url, additional_headers=AUTH, open_timeout=5) as ws:
                async for message in ws:
                    frames.append(json.loads(message))
        except ConnectionClosedError as exc:
            return exc
        return None

    ended = await asyncio.wait_for(session(), 30.0)
    return frames, ended


# ---- error rules ------------------------------------------------------------------------------------


def test_error_count_then_spent(env: Any, client: httpx.Client) -> None:
    injector = env[0]
    rule = injector.add_rule("error", method="GET", path="/api/items/", status=500, count=2)
    statuses = [client.get("/api/items/").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    failed = client.get("/_emulator/faults").json()["faults"][0]
    assert failed["id"] == rule.id
    assert failed["remaining"] == 0
    assert failed["spent"] is True
    assert failed["fired"] == 2


def test_error_body_and_retry_after(env: Any, client: httpx.Client) -> None:
    injector = env[0]
    injector.add_rule("error", path="/api/items/", status=429, retry_after=3, count=1)
    injector.add_rule("error", path="/api/items/", status=429, count=1)
    first = client.get("/api/items/")
    assert first.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert first.headers["content-type"] == "application/json"
    assert isinstance(first.json()["message"], str) and first.json()["message"]
    second = client.get("/api/items/")
    assert second.status_code == 429
    assert second.headers["retry-after"] == "1"  # the default for 429
    third = client.get("/api/items/")
    assert third.status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 418])
def test_error_any_status(env: Any, client: httpx.Client, status: int) -> None:
    env[0].add_rule("error", path="/api/items/*", status=status, message="boom")
    response = client.get("/api/items/12")
    assert response.status_code == status
    assert response.json() == {"message": "boom"}
    assert "retry-after" not in response.headers


def test_rate_is_seeded_and_reproducible(env: Any, client: httpx.Client) -> None:
    injector = env[0]

    def run() -> list[bool]:
        injector.clear()
        injector.seed(123)
        injector.add_rule("error", method="GET", path="/api/items/", status=503, rate=0.5)
        return [client.get("/api/items/").status_code == 503 for _ in range(20)]

    first, second = run(), run()
    assert first == second
    rng = random.Random(123)
    assert first == [rng.random() < 0.5 for _ in range(20)]
    assert any(first) and not all(first)


def test_rate_and_count_combined(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("error", path="/api/items/", status=503, rate=1.0, count=2)
    assert [client.get("/api/items/").status_code for _ in range(4)] == [503, 503, 200, 200]


def test_after_skips_the_first_requests(env: Any, client: httpx.Client) -> None:
    # "the 3rd poll fails"
    env[0].add_rule("error", method="GET", path="/api/items/", status=502, after=2, count=1)
    assert [client.get("/api/items/").status_code for _ in range(5)] == [200, 200, 502, 200, 200]


def test_matching_by_method_slash_and_glob(env: Any, client: httpx.Client) -> None:
    injector = env[0]
    injector.add_rule("error", method="POST", path="/api/items", status=500)  # no trailing slash
    # "?*" needs at least one character after the slash, so the list itself is not covered.
    injector.add_rule("error", method="GET", path="/api/items/?*", status=502)
    assert client.post("/api/items/").status_code == 500
    assert client.get("/api/items/").status_code == 200  # GET on the list: neither rule
    assert client.get("/api/items/5").status_code == 502
    assert env[1].created == 0


def test_path_matches_unit() -> None:
    assert path_matches("/api/datachain/jobs/", "/api/datachain/jobs")
    assert path_matches("/api/datachain/jobs", "/api/datachain/jobs/")
    assert path_matches("/api/datachain/jobs/*", "/api/datachain/jobs/7/cancel")
    assert path_matches("/api/datachain/jobs/*", "/api/datachain/jobs/")  # fnmatch: * may be empty
    assert not path_matches("/api/datachain/jobs/?*", "/api/datachain/jobs/")
    assert not path_matches("/api/datachain/jobs/?*", "/api/datachain/jobs")
    assert not path_matches("/api/datachain/jobs/", "/api/datachain/jobs/7")
    assert path_matches("*", "/anything")


# ---- latency ----------------------------------------------------------------------------------------


def test_latency_count_limited(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("latency", path="/api/items/", seconds=0.3, count=1)
    started = time.monotonic()
    assert client.get("/api/items/").status_code == 200
    slow = time.monotonic() - started
    assert client.get("/api/items/").status_code == 200
    assert slow >= 0.3
    # The rule was spent on the first request: the log shows no latency on the second (no timing bound
    # on a fast path, which a loaded machine could break).
    first, second = env[0].requests(path="/api/items/")[:2]
    assert first["latency_s"] == pytest.approx(0.3)
    assert first["duration_ms"] >= 300
    assert "latency_s" not in second and second.get("fault") is None


def test_latency_combines_with_an_error(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("latency", path="*", seconds=0.2, count=1)
    env[0].add_rule("error", path="/api/items/", status=503, count=1)
    started = time.monotonic()
    assert client.get("/api/items/").status_code == 503
    assert time.monotonic() - started >= 0.2
    fault = env[0].requests()[0]["fault"]
    assert fault.startswith("latency#") and ",error#" in fault


# ---- dropped connections ----------------------------------------------------------------------------


@pytest.mark.parametrize("http_impl", ["h11", "httptools"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_drop_is_a_transport_error(http_impl: str, loop: str) -> None:
    injector = FaultInjector()
    state = AppState()
    injector.add_rule("drop", method="POST", path="/api/items/", count=1)
    with (
        serve(make_app(injector, state), http=http_impl, loop=loop) as server,
        httpx.Client(base_url=server.url, timeout=5.0) as c,
    ):
        with pytest.raises(httpx.TransportError):
            c.post("/api/items/", json={"a": 1})
        assert state.created == 0  # dropped before the app saw it
        # The server survived and serves the next request normally.
        assert c.post("/api/items/", json={"a": 1}).status_code == 200
    assert [e["status"] for e in injector.requests()] == ["reset", 200]
    assert injector.requests()[0]["fault"].startswith("drop#")


def test_drop_raises_remote_protocol_error(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("drop", method="GET", path="/api/items/", count=1)
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.get("/api/items/")
    assert client.get("/api/items/").status_code == 200


async def test_drop_fallback_without_a_transport() -> None:
    """Behind a send() that is not uvicorn's, the drop degrades to an unfinished response, not a crash."""
    injector = FaultInjector()
    injector.add_rule("drop", path="*")
    called: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append("app")

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"", "headers": []}
    await injector.middleware(app)(scope, receive, send)
    assert called == []
    assert [m["type"] for m in sent] == ["http.response.start"]
    assert (b"content-length", b"1") in sent[0]["headers"]
    assert injector.requests()[0]["status"] == "reset"


# ---- outage -----------------------------------------------------------------------------------------


def test_outage_window_ends(env: Any, client: httpx.Client) -> None:
    injector = env[0]
    started = time.monotonic()
    injector.add_rule("outage", seconds=0.5)
    first = client.get("/api/items/")
    assert first.status_code == 503
    assert "message" in first.json()
    assert client.post("/api/items/").status_code == 503
    # Admin endpoints are never faulted, even during an outage.
    assert client.get("/_emulator/faults").status_code == 200
    deadline = time.monotonic() + 30.0
    while client.get("/api/items/").status_code == 503:
        assert time.monotonic() < deadline, "the outage did not end"
        time.sleep(0.05)
    assert time.monotonic() - started >= 0.45
    assert env[1].created == 0
    assert injector.rules()[0]["spent"] is True


def test_outage_reset_mode(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("outage", seconds=5, mode="reset")
    with pytest.raises(httpx.TransportError):
        client.get("/api/items/")
    env[0].clear()
    assert client.get("/api/items/").status_code == 200


async def test_outage_refuses_websocket_handshake(env: Any) -> None:
    env[0].add_rule("outage", seconds=5, status=503)
    with pytest.raises(InvalidStatus) as info:
        await read_ws(env[2].ws_url + "/ws/frames?n=2")
    assert info.value.response.status_code == 503
    assert env[1].ws_started == 0


# ---- WebSocket disconnects --------------------------------------------------------------------------


async def test_ws_disconnect_after_k_frames_only_first_connection(env: Any) -> None:
    injector, state, server = env
    injector.add_rule("ws_disconnect", path="/ws/frames", after_frames=2, count=1)
    frames, closed = await read_ws(server.ws_url + "/ws/frames?n=5")
    assert frames == [{"i": 0}, {"i": 1}]
    assert closed is not None and closed.rcvd is not None
    assert closed.rcvd.code == 1011
    # The second connection is not cut.
    frames, closed = await read_ws(server.ws_url + "/ws/frames?n=5")
    assert frames == [{"i": i} for i in range(5)]
    assert closed is None
    # Both app sessions ran to their end: the cut one had its further sends swallowed, without error.
    assert await asyncio.to_thread(wait_until, lambda: state.ws_finished == 2)
    entries = await asyncio.to_thread(lambda: injector.requests(path="/ws/frames"))
    assert sorted(e["frames"] for e in entries) == [2, 5]
    cut = next(e for e in entries if e["fault"])
    assert cut["kind"] == "ws" and cut["close_code"] == 1011 and cut["method"] == "WS"


@pytest.mark.parametrize("ws_impl", ["websockets-sansio", "websockets"])
# uvicorn's legacy "websockets" implementation warns about itself and about websockets.legacy.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*deprecated")
async def test_ws_disconnect_reset_mode(ws_impl: str) -> None:
    injector = FaultInjector()
    state = AppState()
    injector.add_rule("ws_disconnect", method="WS", path="/ws/*", after_frames=3, mode="reset")
    with serve(make_app(injector, state), ws=ws_impl) as server:
        frames, closed = await read_ws(server.ws_url + "/ws/frames?n=6")
        assert frames == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert closed is not None
        assert closed.rcvd is None  # no close frame: an abnormal closure (1006)
        assert await asyncio.to_thread(wait_until, lambda: state.ws_finished == 1)
    assert injector.requests()[0]["status"] == "reset"


async def test_ws_disconnect_zero_frames(env: Any) -> None:
    env[0].add_rule("ws_disconnect", path="/ws/frames", after_frames=0, count=1)
    frames, closed = await read_ws(env[2].ws_url + "/ws/frames?n=3")
    assert frames == []
    assert closed is not None and closed.rcvd is not None and closed.rcvd.code == 1011


async def test_ws_drop_and_error_before_handshake(env: Any) -> None:
    injector, state, server = env
    injector.add_rule("drop", path="/ws/frames", count=1)
    injector.add_rule("error", path="/ws/frames", status=429, retry_after=2, count=1)
    # The socket closes before any HTTP response: the client cannot even read a status line.
    with pytest.raises(InvalidMessage) as dropped:
        await read_ws(server.ws_url + "/ws/frames?n=1")
    assert isinstance(dropped.value.__cause__, EOFError)
    with pytest.raises(InvalidStatus) as refused:
        await read_ws(server.ws_url + "/ws/frames?n=1")
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "2"
    frames, closed = await read_ws(server.ws_url + "/ws/frames?n=1")
    assert frames == [{"i": 0}] and closed is None
    assert state.ws_started == 1


# ---- accepted but response lost ---------------------------------------------------------------------


def test_lose_response_502_after_the_work_is_done(env: Any, client: httpx.Client) -> None:
    injector, state, _ = env
    injector.add_rule("lose_response", method="POST", path="/api/items/", count=1)
    lost = client.post("/api/items/", json={})
    assert lost.status_code == 502
    assert "message" in lost.json()
    assert state.created == 1  # the server really processed it
    assert client.get("/api/items/").json() == [0]
    assert client.post("/api/items/", json={}).json() == {"id": 2}
    entry = injector.requests(method="POST")[0]
    assert entry["status"] == 502 and entry["upstream_status"] == 200
    assert entry["fault"].startswith("lose_response#")


def test_lose_response_reset(env: Any, client: httpx.Client) -> None:
    injector, state, _ = env
    injector.add_rule("lose_response", method="POST", path="/api/items/", mode="reset", count=1)
    with pytest.raises(httpx.TransportError):
        client.post("/api/items/", json={})
    assert state.created == 1
    assert injector.requests(method="POST")[0]["status"] == "reset"


def test_lose_response_does_not_apply_to_other_methods(env: Any, client: httpx.Client) -> None:
    env[0].add_rule("lose_response", method="*", path="/api/items/", status=504)
    assert client.get("/api/items/").status_code == 504
    assert env[0].requests()[0]["upstream_status"] == 200


# ---- observation -----------------------------------------------------------------------------------


def test_counters_and_request_log(env: Any, client: httpx.Client) -> None:
    injector = env[0]
    injector.add_rule("error", method="GET", path="/api/items/", status=503, count=1)
    client.get("/api/items/", params={"status": "RUNNING", "limit": "3"})
    client.get("/api/items/")
    client.post("/api/items/")
    client.get("/api/items/9")
    client.get("/_emulator/counters")  # admin calls are not counted
    counters = client.get("/_emulator/counters").json()
    assert counters["total"] == 4
    assert counters["routes"]["GET /api/items/"] == {"total": 2, "statuses": {"503": 1, "200": 1}}
    assert counters["routes"]["POST /api/items/"]["total"] == 1
    assert counters["routes"]["GET /api/items/9"]["statuses"] == {"200": 1}
    assert injector.count("GET", "/api/items/", 503) == 1
    log = client.get("/_emulator/requests").json()["requests"]
    assert [e["path"] for e in log] == ["/api/items/", "/api/items/", "/api/items/", "/api/items/9"]
    first = log[0]
    assert first["query"] == "status=RUNNING&limit=3"
    assert first["status"] == 503 and first["fault"].startswith("error#")
    assert first["kind"] == "http" and first["duration_ms"] >= 0 and first["ts"] > 0
    assert log[1]["fault"] is None
    filtered = client.get("/_emulator/requests", params={"path": "/api/items/?*"}).json()
    assert [e["path"] for e in filtered["requests"]] == ["/api/items/9"]
    limited = client.get("/_emulator/requests", params={"limit": 2}).json()["requests"]
    assert [e["path"] for e in limited] == ["/api/items/", "/api/items/9"]
    assert client.post("/_emulator/observations/reset").status_code == 200
    assert client.get("/_emulator/counters").json() == {"total": 0, "routes": {}}
    assert client.get("/_emulator/requests").json()["requests"] == []


def test_request_log_is_bounded() -> None:
    observations = Observations(max_entries=3)
    for i in range(5):
        observations.record({"method": "GET", "path": f"/p{i}", "status": 200})
    assert [e["path"] for e in observations.requests()] == ["/p2", "/p3", "/p4"]
    assert observations.counters()["total"] == 5  # counters are not bounded


async def test_token_never_recorded(env: Any) -> None:
    injector, _, server = env
    injector.add_rule("error", method="GET", path="/api/items/9", status=500, count=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as c:
        await c.get("/api/items/", params={"token": SECRET, "x": "1"}, headers=AUTH)
        await c.get(
            "/api/items/9", params={"access_token": SECRET}, headers={"Authorization": f"token {SECRET}"}
        )
        await c.post(f"/api/items/?api_token={SECRET}", headers=AUTH)
        await read_ws(server.ws_url + f"/ws/frames?n=1&token={SECRET}")
        assert await asyncio.to_thread(wait_until, lambda: len(injector.requests()) == 4)
        outputs = [
            (await c.get("/_emulator/requests")).text,
            (await c.get("/_emulator/counters")).text,
            (await c.get("/_emulator/faults")).text,
        ]
    outputs += [json.dumps(injector.requests()), json.dumps(injector.counters()), repr(injector.rules())]
    for text in outputs:
        assert SECRET not in text
    assert [e["query"] for e in injector.requests()] == ["x=1", "", "", "n=1"]


def test_sanitize_query_unit() -> None:
    assert sanitize_query(b"job_id=1&token=abc&team_name=t") == "job_id=1&team_name=t"
    assert sanitize_query("Access_Token=x&password=y&n=2") == "n=2"
    assert sanitize_query(b"") == ""


# ---- admin API -------------------------------------------------------------------------------------


def test_admin_add_list_delete(env: Any, client: httpx.Client) -> None:
    created = client.post(
        "/_emulator/faults",
        json={"kind": "error", "method": "get", "path": "/api/items/", "status": 429, "count": 2},
    )
    assert created.status_code == 201
    rule = created.json()
    assert rule["id"] > 0 and rule["method"] == "GET" and rule["remaining"] == 2 and rule["retry_after"] == 1
    assert client.get("/api/items/").status_code == 429
    listed = client.get("/_emulator/faults").json()["faults"]
    assert [(r["id"], r["remaining"]) for r in listed] == [(rule["id"], 1)]
    assert client.delete(f"/_emulator/faults/{rule['id']}").json() == {"deleted": rule["id"]}
    assert client.get("/api/items/").status_code == 200
    assert client.delete(f"/_emulator/faults/{rule['id']}").status_code == 404
    client.post("/_emulator/faults", json={"kind": "latency", "seconds": 0.01})
    client.post("/_emulator/faults", json={"kind": "outage", "seconds": 0.01})
    assert client.delete("/_emulator/faults").json() == {"deleted": 2}
    assert client.get("/_emulator/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"kind": "explode"}, "'kind'"),
        ({"path": "/x"}, "'kind'"),
        ({"kind": "error", "status": 700}, "'status'"),
        ({"kind": "error", "status": "500"}, "'status'"),
        ({"kind": "error", "rate": 1.5}, "'rate'"),
        ({"kind": "error", "count": 0}, "'count'"),
        ({"kind": "error", "after": -1}, "'after'"),
        ({"kind": "latency"}, "'seconds'"),
        ({"kind": "latency", "seconds": -1}, "'seconds'"),
        ({"kind": "outage", "seconds": 1, "mode": "explode"}, "'mode'"),
        ({"kind": "ws_disconnect", "mode": "error"}, "'mode'"),
        ({"kind": "error", "after_frames": 2}, "after_frames"),
        ({"kind": "error", "retry-after": 2}, "retry-after"),
        ({"kind": "error", "path": "api/x"}, "'path'"),
        ({"kind": "error", "method": "G E T"}, "'method'"),
    ],
)
def test_admin_validation_errors(env: Any, client: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    response = client.post("/_emulator/faults", json=body)
    assert response.status_code == 400
    assert fragment in response.json()["message"]
    assert client.get("/_emulator/faults").json() == {"faults": []}


def test_admin_rejects_non_object_bodies(env: Any, client: httpx.Client) -> None:
    assert client.post("/_emulator/faults", content=b"not json").status_code == 400
    bad = client.post("/_emulator/faults", json=[1, 2])
    assert bad.status_code == 400 and "JSON object" in bad.json()["message"]
    assert client.get("/_emulator/requests", params={"limit": "x"}).status_code == 400
    assert client.delete("/_emulator/faults/abc").status_code == 400


def test_python_api_validation() -> None:
    injector = FaultInjector()
    with pytest.raises(FaultSpecError, match="'rate'"):
        injector.add_rule("error", rate=2)
    assert injector.rules() == []
    rule = build_rule({"kind": "lose_response", "method": "POST", "path": "/api/datachain/jobs/"})
    assert (rule.status, rule.mode) == (502, "error")


# ---- CLI -------------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio-emulator")
    add_fault_arguments(parser)
    return parser


def test_cli_flags_configure_rules() -> None:
    args = make_parser().parse_args(
        [
            "--fault",
            "POST /api/datachain/jobs/=503:rate=0.2",
            "--fault",
            "GET /api/datachain/jobs/=429:retry-after=2:count=3:after=1",
            "--fault",
            "WS /api/logs/follow/=ws_disconnect:after_frames=2:mode=reset",
            "--fault",
            "POST /api/datachain/pipeline/run=lose_response:mode=reset",
            "--fault",
            "/api/datachain/clusters/=drop",
            "--latency",
            "0.05",
            "--outage",
            "2",
            "--fault-seed",
            "42",
        ]
    )
    injector = FaultInjector()
    injector.configure_from_args(args)
    rules = {r["kind"] + " " + r["path"]: r for r in injector.rules()}
    assert rules["latency *"]["seconds"] == 0.05
    assert rules["outage *"]["seconds"] == 2.0 and rules["outage *"]["status"] == 503
    error_503 = next(r for r in injector.rules() if r["kind"] == "error" and r["status"] == 503)
    assert (error_503["method"], error_503["path"], error_503["rate"]) == (
        "POST",
        "/api/datachain/jobs/",
        0.2,
    )
    error_429 = next(r for r in injector.rules() if r["kind"] == "error" and r["status"] == 429)
    assert (error_429["retry_after"], error_429["count"], error_429["after"]) == (2, 3, 1)
    ws = rules["ws_disconnect /api/logs/follow/"]
    assert (ws["method"], ws["after_frames"], ws["mode"]) == ("WS", 2, "reset")
    assert rules["lose_response /api/datachain/pipeline/run"]["mode"] == "reset"
    assert rules["drop /api/datachain/clusters/"]["method"] == "*"


def test_cli_seed_makes_rates_reproducible() -> None:
    def fired(seed: str) -> list[bool]:
        injector = FaultInjector()
        injector.configure_from_args(
            make_parser().parse_args(["--fault", "*=500:rate=0.5", "--fault-seed", seed])
        )
        return [injector._decide("http", "GET", "/x").rule is not None for _ in range(30)]

    assert fired("5") == fired("5")
    assert fired("5") != fired("6")


@pytest.mark.parametrize(
    "argv",
    [
        ["--fault", "no-equals-sign"],
        ["--fault", "GET /x=teapot"],
        ["--fault", "GET /x=503:rate=lots"],
        ["--fault", "GET /x=503:rate=3"],
        ["--fault", "GET /x=503:colour=red"],
        ["--fault", "GET /x=latency"],
        ["--latency", "-1"],
        ["--outage", "soon"],
        ["--fault-seed", "x"],
    ],
)
def test_cli_bad_flags_are_parser_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        make_parser().parse_args(argv)
    assert exited.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize(
    ("namespace", "flag"),
    [
        (argparse.Namespace(fault=["GET /x=999"], latency=None, outage=None, fault_seed=None), "--fault"),
        (argparse.Namespace(fault=[], latency=-2.0, outage=None, fault_seed=None), "--latency"),
        (argparse.Namespace(fault=[], latency=None, outage="x", fault_seed=None), "--outage"),
        (argparse.Namespace(fault=[], latency=None, outage=None, fault_seed="x"), "--fault-seed"),
    ],
)
def test_configure_from_args_value_errors(namespace: argparse.Namespace, flag: str) -> None:
    with pytest.raises(ValueError, match=flag):
        FaultInjector().configure_from_args(namespace)


def test_configure_from_args_tolerates_missing_flags() -> None:
    injector = FaultInjector()
    injector.configure_from_args(argparse.Namespace())
    assert injector.rules() == []


def test_parse_fault_spec_examples() -> None:
    assert parse_fault_spec("POST /api/datachain/jobs/=503:rate=0.2") == {
        "method": "POST",
        "path": "/api/datachain/jobs/",
        "kind": "error",
        "status": 503,
        "rate": 0.2,
    }
    assert parse_fault_spec("/api/*=reset:count=1")["kind"] == "drop"
    assert parse_fault_spec("*=outage:seconds=5:mode=reset") == {
        "method": "*",
        "path": "*",
        "kind": "outage",
        "seconds": 5.0,
        "mode": "reset",
    }


async def test_app_without_response_is_logged_as_no_response() -> None:
    injector = FaultInjector()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing should be sent")

    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"token=t", "headers": []}
    await injector.middleware(app)(scope, receive, send)
    assert injector.requests()[0]["status"] == "no_response"
    assert injector.counters()["routes"]["GET /x"]["statuses"] == {"no_response": 1}


# ---- end to end, through the real emulator ---------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    # Imported here so that the unit tests above do not depend on the rest of the emulator.
    from studio_provider.emulator.config import EmulatorConfig
    from studio_provider.emulator.server import EmulatorServer

    with EmulatorServer(EmulatorConfig(executor="simulated")) as server:
        yield server


@pytest.fixture
def studio(emulator: Any) -> Iterator[tuple[Any, httpx.Client]]:
    emulator.injector.reset()
    with httpx.Client(base_url=emulator.api_url, headers=emulator.headers(), timeout=10.0) as c:
        yield emulator, c


def create_job(c: httpx.Client, team: str, environment: str = "") -> httpx.Response:
    body = {"query": "print(1)", "query_type": "PYTHON", "team_name": team, "environment": environment}
    return c.post("/datachain/jobs/", json=body)


def test_e2e_lose_response_still_creates_the_job(studio: tuple[Any, httpx.Client]) -> None:
    server, c = studio
    server.injector.add_rule("lose_response", method="POST", path="/api/datachain/jobs/", count=1)
    before = {job["id"] for job in c.get("/datachain/jobs/", params={"team_name": server.team}).json()}
    lost = create_job(c, server.team)
    assert lost.status_code == 502
    assert "message" in lost.json()
    after = c.get("/datachain/jobs/", params={"team_name": server.team}).json()
    new = [job for job in after if job["id"] not in before]
    assert len(new) == 1  # the server really created it
    entry = server.injector.requests(method="POST", path="/api/datachain/jobs/")[-1]
    assert (entry["status"], entry["upstream_status"]) == (502, 200)
    assert create_job(c, server.team).status_code == 200


def test_e2e_rate_limited_job_list(studio: tuple[Any, httpx.Client]) -> None:
    server, c = studio
    server.injector.add_rule(
        "error", method="GET", path="/api/datachain/jobs/", status=429, retry_after=2, count=1
    )
    limited = c.get("/datachain/jobs/", params={"team_name": server.team})
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"
    assert c.get("/datachain/jobs/", params={"team_name": server.team}).status_code == 200
    counters = server.injector.counters()["routes"]["GET /api/datachain/jobs/"]["statuses"]
    assert counters == {"429": 1, "200": 1}
    assert server.token not in json.dumps(server.injector.requests())


async def test_e2e_log_follow_is_cut_then_resumes(studio: tuple[Any, httpx.Client]) -> None:
    server, c = studio
    environment = "STUDIO_EMULATOR_DURATION=0.5\nSTUDIO_EMULATOR_LOG_LINES=3"
    created = await asyncio.to_thread(create_job, c, server.team, environment)
    job_id = created.json()["id"]
    server.injector.add_rule("ws_disconnect", path="/api/logs/follow/", after_frames=1, count=1)
    url = f"{server.ws_url}/logs/follow/?job_id={job_id}&team_name={server.team}"

    async def follow() -> tuple[list[Any], ConnectionClosed | None]:
        frames: list[Any] = []

        async def session() -> ConnectionClosed | None:
            try:
                async with connect(url, additional_headers=server.headers(), open_timeout=5) as ws:
                    async for message in ws:
                        frames.append(json.loads(message))
            except ConnectionClosedError as exc:
                return exc
            return None

        return frames, await asyncio.wait_for(session(), 30.0)

    def lines_of(frames: list[Any]) -> list[dict[str, Any]]:
        return [line for frame in frames if "logs" in frame for line in frame["logs"]]

    cut, closed = await follow()
    assert len(cut) == 1
    assert closed is not None and closed.rcvd is not None and closed.rcvd.code == 1011
    # A reconnecting reader gets the whole stream up to the terminal status: every line once, in order.
    frames, closed = await follow()
    assert closed is None
    expected = [{"id": i, "message": f"Simulated log line {i}/3\n"} for i in range(1, 4)]
    assert lines_of(frames) == expected
    # Merged by id with what the cut session delivered, nothing is lost or doubled.
    have = lines_of(cut)
    merged = have + [line for line in lines_of(frames) if line["id"] > max((x["id"] for x in have), default=0)]
    assert merged == expected
    statuses = [f["job"]["status"] for f in frames if "job" in f]
    assert statuses and statuses[-1] == "COMPLETE"
    last_log = max(index for index, frame in enumerate(frames) if "logs" in frame)
    assert last_log < len(frames) - 1 and "job" in frames[-1]  # the terminal status follows every line
    logs = await asyncio.to_thread(
        lambda: c.get(f"/datachain/jobs/{job_id}/logs", params={"team_name": server.team}).json()
    )
    assert logs["logs"] == expected


def test_e2e_dropped_connection(studio: tuple[Any, httpx.Client]) -> None:
    server, c = studio
    server.injector.add_rule("drop", method="GET", path="/api/datachain/clusters/", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        c.get("/datachain/clusters/", params={"team_name": server.team})
    assert c.get("/datachain/clusters/", params={"team_name": server.team}).status_code == 200
