"""The emulator as an attacker or a careless client would use it: cross-team files, unauthenticated and
oversized bodies, bad input that used to be a 500, and tokens in the server's own logs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from studio_provider.emulator import EmulatorConfig, EmulatorServer
from studio_provider.emulator.__main__ import build_parser
from studio_provider.emulator.app import create_app
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM, EMULATOR_TOKEN
from tests.emulator.helpers import client_for, simulated_job, wait_job

pytestmark = pytest.mark.integration


def _upload(client: httpx.Client, team: str, name: str = "a.txt", content: bytes = b"data") -> httpx.Response:
    return client.post("/datachain/jobs/files", params={"team_name": team}, files={"file": (name, content)})


def _definition(client: httpx.Client, team: str, dataset: str) -> dict[str, Any]:
    """A pipeline definition of ``team``, from a finished simulated job that wrote ``dataset``."""
    job = simulated_job(client, team, duration=0.05, writes=dataset)
    wait_job(client, team, job["id"])
    response = client.post("/datachain/pipeline/trigger", json={"datasets": [dataset], "team_name": team})
    assert response.status_code == 200, response.text
    pipeline = response.json()["pipeline"]
    assert isinstance(pipeline, dict)
    return pipeline


# ---- 13: files of another team, and ids that are not ids ---------------------------------------------


def test_pipeline_settings_refuse_another_teams_file(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as a, client_for(fresh_emulator, EMULATOR_OTHER_TOKEN) as b:
        secret = _upload(a, EMULATOR_TEAM, "secret.txt", b"team A only").json()
        definition = _definition(b, EMULATOR_OTHER_TEAM, "b_ds")
        response = b.post(
            "/datachain/pipeline/settings",
            json={"team_name": EMULATOR_OTHER_TEAM, "pipeline_id": definition["pipeline_id"], "files": [str(secret["id"])]},
        )
        assert response.status_code == 400, response.text
        assert f"File '{secret['id']}' not found" in response.json()["message"]
        # The definition is unchanged: a later run cannot copy the file either.
        stored = fresh_emulator.state.pipelines[definition["pipeline_id"]]
        assert stored.files == []
        own = _upload(b, EMULATOR_OTHER_TEAM, "own.txt").json()
        ok = b.post(
            "/datachain/pipeline/settings",
            json={"team_name": EMULATOR_OTHER_TEAM, "pipeline_id": definition["pipeline_id"], "files": [str(own["id"])]},
        )
        assert ok.status_code == 200, ok.text
        assert stored.files == [str(own["id"])]


@pytest.mark.parametrize("file_id", ["abc", "²", "-1", "", "1.5"])
def test_malformed_file_ids_are_400(fresh_emulator: EmulatorServer, file_id: str) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        definition = _definition(client, EMULATOR_TEAM, "files_ds")
        settings = client.post(
            "/datachain/pipeline/settings",
            json={"team_name": EMULATOR_TEAM, "pipeline_id": definition["pipeline_id"], "files": [file_id]},
        )
        job = client.post(
            "/datachain/jobs/",
            json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "files": [file_id]},
        )
    for response in (settings, job):
        assert response.status_code == 400, response.text
        assert "file" in response.json()["message"].lower()


# ---- 14: authenticate before reading any body; bounded bodies ---------------------------------------


def _asgi_request(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, int]:
    """Drive the ASGI app directly; answer (status, how many body chunks the app pulled from the client)."""
    pulled = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= len(chunks):
            await asyncio.sleep(3600)  # the client would wait for the server: the app must not hang on it
        pulled += 1
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"team_name=team-a",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return status[0], pulled


@pytest.fixture
def emulator_app(tmp_path: Path) -> Any:
    config = EmulatorConfig(tokens={"tok-a": ["team-a"]}, executor="simulated", data_dir=tmp_path, max_body_bytes=1000)
    return create_app(config)


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/api/datachain/jobs/"),
        ("POST", "/api/datachain/jobs/files"),
        ("POST", "/api/datachain/pipeline/trigger"),
        ("PATCH", "/api/datachain/rbac/access-groups/x/"),
        ("POST", "/_emulator/storage"),
        ("POST", "/_emulator/faults"),
        ("POST", "/api/no/such/route"),
    ],
)
@pytest.mark.parametrize("authorization", [None, b"Bearer wrong", b"Basic tok-a"])
def test_unauthenticated_bodies_are_never_read(
    emulator_app: Any, method: str, path: str, authorization: bytes | None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"300000000")]
    if authorization is not None:
        headers.append((b"authorization", authorization))
    status, pulled = _asgi_request(emulator_app, method, path, headers, [b"{" * 100] * 5)
    assert (status, pulled) == (401, 0)


def test_an_oversized_body_is_refused_before_it_is_read(emulator_app: Any) -> None:
    headers = [(b"authorization", b"Bearer tok-a"), (b"content-type", b"application/json"), (b"content-length", b"5000")]
    status, pulled = _asgi_request(emulator_app, "POST", "/api/datachain/jobs/", headers, [b" " * 1000] * 5)
    assert (status, pulled) == (413, 0)


def test_an_oversized_chunked_body_is_cut_at_the_limit(emulator_app: Any) -> None:
    # No Content-Length (chunked): the limit is enforced while reading, never buffering past it.
    headers = [(b"authorization", b"Bearer tok-a"), (b"content-type", b"application/json")]
    status, pulled = _asgi_request(emulator_app, "POST", "/api/datachain/jobs/", headers, [b" " * 400] * 50)
    assert status == 413 and pulled <= 3


@pytest.fixture
def small_limit(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    return emulator_factory(executor="simulated", max_body_bytes=2000)


def test_body_limit_over_real_http(small_limit: EmulatorServer) -> None:
    with client_for(small_limit, EMULATOR_TOKEN) as client:
        big = {"query": "x" * 5000, "query_type": "PYTHON", "team_name": EMULATOR_TEAM}
        response = client.post("/datachain/jobs/", json=big)
        assert response.status_code == 413
        assert "2000" in response.json()["message"]

        def chunks() -> Iterator[bytes]:
            yield b'{"query": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'", "query_type": "PYTHON", "team_name": "team-a"}'

        chunked = client.post("/datachain/jobs/", content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413, chunked.text

        upload = _upload(client, EMULATOR_TEAM, "big.bin", b"x" * 5000)
        assert upload.status_code == 413, upload.text
        assert not (small_limit.state.data_dir / "uploads").exists() or not any(
            (small_limit.state.data_dir / "uploads").iterdir()
        )
        assert small_limit.state.files == {}
        small = _upload(client, EMULATOR_TEAM, "small.bin", b"x" * 100)
        assert small.status_code == 200, small.text
        assert client.post("/datachain/jobs/", json={**big, "query": "x"}).status_code == 200


def test_max_body_bytes_flag() -> None:
    parser = build_parser()
    assert parser.parse_args([]).max_body_bytes == 64 * 1024 * 1024
    assert parser.parse_args(["--max-body-bytes", "1024"]).max_body_bytes == 1024
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-body-bytes", "0"])


# ---- 16: bad input is a 4xx with a message, never a 500 ---------------------------------------------


def test_long_upload_filename_is_400_and_leaves_nothing(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        response = _upload(client, EMULATOR_TEAM, "a" * 300 + ".txt")
    assert response.status_code == 400, response.text
    assert "name" in response.json()["message"]
    uploads = fresh_emulator.state.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())
    assert fresh_emulator.state.files == {}


def _admin(server: EmulatorServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/_emulator{path}", json=body, headers=server.headers(), timeout=10)


@pytest.mark.parametrize(
    "body",
    [
        {"source": "s3://bucket/key", "content_base64": "not base64!!"},
        {"source": "s3://bucket/k\x00ey", "content": "x"},
        {"source": "s3://", "content": "x"},
        {"source": "s3://bucket", "content": "x"},
        {"source": "s3:///", "content": "x"},
        {"source": "s3://bucket/key", "content": 5},
    ],
)
def test_bad_storage_objects_are_400(fresh_emulator: EmulatorServer, body: dict[str, Any]) -> None:
    response = _admin(fresh_emulator, "/storage", {**body, "team_name": EMULATOR_TEAM})
    assert response.status_code == 400, response.text
    assert response.json()["message"]
    # The team's store still works afterwards.
    ok = _admin(fresh_emulator, "/storage", {"source": "s3://bucket/dir/key", "content": "x", "team_name": EMULATOR_TEAM})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("source", ["s3://bucket/k\x00ey", "\x00", "s3://../../x"])
def test_bad_ls_sources_are_4xx(fresh_emulator: EmulatorServer, source: str) -> None:
    with client_for(fresh_emulator, EMULATOR_TOKEN) as client:
        response = client.post("/datachain/ls", json={"source": source, "team_name": EMULATOR_TEAM})
    assert 400 <= response.status_code < 500, response.status_code


# ---- 15: tokens never in any log --------------------------------------------------------------------


SECRET = "tok-SECRET-4711"
WRONG = "tok-WRONG-0815"


async def _log_worthy_traffic(url: str) -> None:
    api = f"{url}/api"
    auth = {"Authorization": f"token {SECRET}"}
    async with httpx.AsyncClient(timeout=10) as client:
        await client.get(f"{api}/datachain/jobs/", params={"team_name": "t"}, headers=auth)
        await client.get(f"{api}/datachain/jobs/", params={"team_name": "t", "token": SECRET, "api_key": SECRET})
        await client.get(f"{api}/datachain/jobs/", params={"team_name": "t"}, headers={"Authorization": f"Bearer {WRONG}"})
        created = await client.post(
            f"{api}/datachain/jobs/",
            json={"query": "x", "query_type": "PYTHON", "team_name": "t", "environment": "STUDIO_EMULATOR_DURATION=0.05"},
            headers=auth,
        )
        job_id = created.json()["id"]
    ws = url.replace("http://", "ws://") + f"/api/logs/follow/?job_id={job_id}&team_name=t"
    async with websockets.connect(ws, additional_headers=auth) as socket:
        async for _ in socket:
            pass
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(ws + f"&token={SECRET}", additional_headers={"Authorization": f"token {WRONG}"}):
            pass


@pytest.mark.parametrize("level", ["debug", "trace"])
def test_tokens_never_reach_the_log(tmp_path: Path, level: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "studio_provider.emulator", "--port", "0", "--token", SECRET, "--team", "t",
         "--executor", "simulated", "--data-dir", str(tmp_path), "--log-level", level],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        asyncio.run(_log_worthy_traffic(url))
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    log = out + err
    assert "GET /api/datachain/jobs/" in log  # the access log is on, so the check below means something
    assert "logs/follow" in log
    for secret in (SECRET, WRONG):
        assert secret not in log
        assert secret.replace("-", "%2D") not in log


def test_in_process_server_at_debug_keeps_tokens_out(tmp_path: Path) -> None:
    """The same through EmulatorServer, capturing every record that uvicorn's loggers emit."""
    import logging

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    config = EmulatorConfig(tokens={SECRET: ["t"]}, executor="simulated", data_dir=tmp_path)
    handler = Keep()
    server = EmulatorServer(config, log_level="debug", access_log=True)
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access", "uvicorn.error")]
    with server:  # uvicorn configures its loggers on start: attach the capture after that
        for item in loggers:
            item.addHandler(handler)
        try:
            asyncio.run(_log_worthy_traffic(server.url))
        finally:
            for item in loggers:
                item.removeHandler(handler)
    text = "\n".join(records)
    assert "logs/follow" in text and "datachain/jobs" in text
    assert SECRET not in text and WRONG not in text


def test_token_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# comment\n{SECRET}\n\nother=t2,t3\n")
    os.chmod(tokens, 0o600)
    process = subprocess.Popen(
        [sys.executable, "-m", "studio_provider.emulator", "--port", "0", "--token-file", str(tokens), "--team", "t",
         "--executor", "simulated", "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        ok = httpx.get(f"{url}/api/datachain/jobs/", params={"team_name": "t"}, headers={"Authorization": f"Bearer {SECRET}"})
        other = httpx.get(f"{url}/api/datachain/jobs/", params={"team_name": "t3"}, headers={"Authorization": "Bearer other"})
        refused = httpx.get(f"{url}/api/datachain/jobs/", params={"team_name": "t"}, headers={"Authorization": "Bearer other"})
        assert (ok.status_code, other.status_code, refused.status_code) == (200, 200, 403)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_token_file_errors_name_the_flag(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n")
    for path in (empty, tmp_path / "missing"):
        result = subprocess.run(
            [sys.executable, "-m", "studio_provider.emulator", "--token-file", str(path), "--team", "t"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        assert result.returncode == 2 and "--token-file" in result.stderr


# ---- 19: the documents agree with the code ----------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_cli_flag_and_emulator_key_is_documented() -> None:
    import re

    import studio_provider.emulator as package

    text = (DOCS / "emulator.md").read_text() + (DOCS / "emulator-faults.md").read_text()
    flags = [option for action in build_parser()._actions for option in action.option_strings if option.startswith("--")]
    assert "--token-file" in flags and "--max-body-bytes" in flags
    assert [flag for flag in flags if f"`{flag}" not in text and flag != "--help"] == []
    source = "".join(path.read_text() for path in Path(package.__file__).parent.glob("*.py"))
    keys = set(re.findall(r'"(STUDIO_EMULATOR_[A-Z_]+)"', source)) - {"STUDIO_EMULATOR_TOKEN"}
    assert len(keys) > 10 and sorted(key for key in keys if key not in text) == []


def test_docs_do_not_promise_unauthenticated_admin_endpoints(fresh_emulator: EmulatorServer) -> None:
    text = (DOCS / "emulator.md").read_text() + (DOCS / "emulator-faults.md").read_text()
    assert "no auth" not in text.lower() and "excepted" not in text
    # They say what each team may change (its own fault rules and upload outcomes) and what stays shared.
    assert "Fault rules set over HTTP are their team's" in text and "## Teams and bounds" in text
    assert "What stays shared: the clock" in text
    admin = [
        ("GET", "/faults"), ("POST", "/faults"), ("DELETE", "/faults"), ("DELETE", "/faults/1"),
        ("GET", "/requests"), ("GET", "/counters"), ("POST", "/observations/reset"), ("GET", "/clock"),
        ("POST", "/clock/advance"), ("POST", "/datasets"), ("POST", "/storage"), ("POST", "/uploads"),
        ("GET", "/state"),
    ]
    for method, path in admin:
        response = httpx.request(method, f"{fresh_emulator.url}/_emulator{path}", json={}, timeout=10)
        assert response.status_code == 401, (method, path, response.status_code)
