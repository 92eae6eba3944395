"""StudioHook / StudioAsyncHook: connection parsing, environment fallback, secrets, test_connection."""

from __future__ import annotations

import datetime as dt
import http.server
import inspect
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from studio_provider.client import API_CALLS, Job, StudioConfig
from studio_provider.hooks.studio import StudioAsyncHook, StudioHook

TOKEN = "sekrit-token-0123456789"
CONN_ENV = "AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT"

# The names the issue fixes for the user-facing hook API.
HOOK_METHODS = [
    "list_jobs",
    "get_job",
    "create_job",
    "cancel_job",
    "get_job_logs",
    "upload_file",
    "list_clusters",
    "list_datasets",
    "get_dataset_info",
    "ls",
    "get_dataset_job_versions",
    "trigger_pipeline",
    "run_pipeline",
    "get_pipeline",
    "list_pipelines",
    "pause_pipeline",
    "resume_pipeline",
    "duplicate_pipeline",
    "remove_job_from_pipeline",
    "update_pipeline_settings",
    "create_schedule",
    "update_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
]


def set_conn(
    monkeypatch: pytest.MonkeyPatch, conn_id: str = "datachain_studio_default", **fields: object
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "datachain_studio", **fields})
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# settings
# ---------------------------------------------------------------------------------------------


def test_config_from_json_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        host="https://studio.example.com/",
        password=TOKEN,
        extra={"team": "acme", "auth_scheme": "token", "timeout": "12", "verify": "false", "max_retries": 1},
    )
    config = StudioHook().config
    assert config == StudioConfig(
        url="https://studio.example.com/api",
        token=TOKEN,
        team="acme",
        auth_scheme="token",
        timeout=12.0,
        verify=False,
        max_retries=1,
    )


def test_config_from_uri_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_STUDIO_URI", f"datachain-studio://:{TOKEN}@studio.example.com:8443/?team=uri-team"
    )
    config = StudioHook("studio_uri").config
    assert (config.url, config.team, config.token) == (
        "https://studio.example.com:8443/api",
        "uri-team",
        TOKEN,
    )


def test_ui_prefixed_extras_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"extra__datachain_studio__team": "ui-team"})
    assert StudioHook().config.team == "ui-team"


def test_default_url_when_host_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"team": "t"})
    assert StudioHook().config.url == "https://studio.datachain.ai/api"


def test_environment_fills_what_the_connection_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, extra={})
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", TOKEN)
    monkeypatch.setenv("DATACHAIN_STUDIO_TEAM", "env-team")
    monkeypatch.setenv("DATACHAIN_STUDIO_URL", "http://127.0.0.1:9999")
    config = StudioHook().config
    assert (config.token, config.team, config.url) == (TOKEN, "env-team", "http://127.0.0.1:9999/api")


def test_connection_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://conn-host", password=TOKEN, extra={"team": "conn-team"})
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", "env-token-xxxxx")
    monkeypatch.setenv("DATACHAIN_STUDIO_TEAM", "env-team")
    config = StudioHook().config
    assert (config.token, config.team, config.url) == (TOKEN, "conn-team", "http://conn-host/api")


def test_default_connection_may_be_absent_when_environment_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", TOKEN)
    monkeypatch.setenv("DATACHAIN_STUDIO_TEAM", "env-team")
    assert StudioHook().config.team == "env-team"


def test_missing_named_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", TOKEN)  # it does not stand in for a named connection
    with pytest.raises(Exception, match="AIRFLOW_CONN_NOPE") as info:
        _ = StudioHook("nope").config
    text = str(info.value)
    assert "Create a 'datachain_studio' connection with that id" in text
    assert "or set DATACHAIN_STUDIO_TOKEN" not in text
    assert "stand in only for the default connection, 'datachain_studio_default'" in text


def test_missing_default_connection_suggests_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONN_ENV, raising=False)
    with pytest.raises(Exception, match="AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT") as info:
        _ = StudioHook().config
    assert str(info.value).endswith("or set DATACHAIN_STUDIO_TOKEN and DATACHAIN_STUDIO_TEAM.")


def test_missing_team_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN)
    with pytest.raises(ValueError, match=r"extra field 'team'.*DATACHAIN_STUDIO_TEAM"):
        _ = StudioHook().config


def test_missing_token_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, extra={"team": "t"})
    with pytest.raises(ValueError, match=r"password.*DATACHAIN_STUDIO_TOKEN"):
        _ = StudioHook().config


def test_malformed_url_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://", password=TOKEN, extra={"team": "t"})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        with pytest.raises(ValueError, match="malformed"):
            StudioHook().list_jobs()
        assert route.call_count == 0


def test_team_argument_overrides_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"team": "conn-team"})
    assert StudioHook(team="other-team").config.team == "other-team"


# ---------------------------------------------------------------------------------------------
# secrets
# ---------------------------------------------------------------------------------------------


def test_token_is_registered_with_the_secrets_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", "env-only-token-987654")
    set_conn(monkeypatch, extra={"team": "t"})
    _ = StudioHook().config
    assert "env-only-token-987654" not in str(redact("token is env-only-token-987654"))


def test_reprs_never_show_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN, extra={"team": "t"})
    hook = StudioHook()
    texts = [repr(hook), repr(hook.config), str(hook.config), repr(hook.client), repr(StudioAsyncHook())]
    assert all(TOKEN not in text for text in texts), texts


# ---------------------------------------------------------------------------------------------
# API surface
# ---------------------------------------------------------------------------------------------


def test_hooks_offer_every_api_call() -> None:
    assert set(HOOK_METHODS) <= set(API_CALLS)
    for name in API_CALLS:
        assert callable(getattr(StudioHook, name)), name
        assert inspect.iscoroutinefunction(getattr(StudioAsyncHook, name)), name
        sync_params = inspect.signature(getattr(StudioHook, name)).parameters
        async_params = inspect.signature(getattr(StudioAsyncHook, name)).parameters
        assert list(sync_params) == list(async_params), name


def test_hook_calls_studio_with_connection_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch, host="http://studio.test", password=TOKEN, extra={"team": "acme", "auth_scheme": "token"}
    )
    with respx.mock(base_url="http://studio.test/api") as mock:
        route = mock.get("datachain/jobs/").respond(json=[{"id": "j1", "status": "COMPLETE"}])
        job = StudioHook().get_job(job_id="j1")
    assert isinstance(job, Job) and job.status.is_success
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"token {TOKEN}"
    assert request.url.params["team_name"] == "acme"


def test_hook_reuses_one_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://studio.test", password=TOKEN, extra={"team": "acme"})
    hook = StudioHook()
    with respx.mock(base_url="http://studio.test/api") as mock:
        mock.get("datachain/clusters/").respond(json=[])
        hook.list_clusters()
        first = hook.get_conn()
        hook.list_clusters()
        assert hook.get_conn() is first


async def test_async_hook_reads_connection_without_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://studio.test", password=TOKEN, extra={"team": "acme"})
    hook = StudioAsyncHook()
    with respx.mock(base_url="http://studio.test/api") as mock:
        route = mock.get("datachain/pipeline/status").respond(json={"pipeline_id": "p1", "status": "RUNNING"})
        pipeline = await hook.get_pipeline(name="nightly")
        await hook.aclose()
    assert pipeline.pipeline_id == "p1" and not pipeline.status.is_terminal
    assert route.calls.last.request.url.params["name"] == "nightly"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


# ---------------------------------------------------------------------------------------------
# test_connection
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "Authentication failed (401)"), (403, "Access denied (403)"), (500, "answered with an error")],
)
def test_test_connection_reports_server_answers(
    monkeypatch: pytest.MonkeyPatch, status: int, expected: str
) -> None:
    set_conn(monkeypatch, host="http://studio.test", password=TOKEN, extra={"team": "acme", "max_retries": 0})
    with respx.mock(base_url="http://studio.test/api") as mock:
        mock.get("datachain/jobs/").respond(status, json={"message": "server says no"})
        ok, message = StudioHook().test_connection()
    assert not ok
    assert expected in message and "server says no" in message
    assert TOKEN not in message
    if status == 403:
        assert "acme" in message


def test_test_connection_success(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="http://studio.test", password=TOKEN, extra={"team": "acme"})
    with respx.mock(base_url="http://studio.test/api") as mock:
        route = mock.get("datachain/jobs/").respond(json=[])
        ok, message = StudioHook().test_connection()
    assert ok, message
    assert "acme" in message and route.call_count == 1
    assert route.calls.last.request.url.params["limit"] == "1"


def test_test_connection_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    set_conn(
        monkeypatch, host=f"http://127.0.0.1:{port}", password=TOKEN, extra={"team": "t", "max_retries": 0}
    )
    ok, message = StudioHook().test_connection()
    assert not ok
    assert message.startswith("Studio is unreachable") and str(port) in message


def test_test_connection_invalid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, password=TOKEN)
    ok, message = StudioHook().test_connection()
    assert not ok and "team" in message


@pytest.fixture
def self_signed_https_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTPS server on loopback whose certificate no CA vouches for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_test_connection_tls_failure_and_verify_false(
    monkeypatch: pytest.MonkeyPatch, self_signed_https_server: str
) -> None:
    set_conn(
        monkeypatch, host=self_signed_https_server, password=TOKEN, extra={"team": "t", "max_retries": 0}
    )
    ok, message = StudioHook().test_connection()
    assert not ok
    assert message.startswith("TLS error") and "verify" in message

    set_conn(monkeypatch, host=self_signed_https_server, password=TOKEN, extra={"team": "t", "verify": False})
    ok, message = StudioHook().test_connection()
    assert ok, message


def test_verify_may_name_a_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, self_signed_https_server: str, tmp_path: Path
) -> None:
    # A self-hosted Studio with a private CA: trust exactly that certificate, keep verification on.
    bundle = tmp_path / "cert.pem"  # written by the fixture, which shares this test's tmp_path
    set_conn(
        monkeypatch, host=self_signed_https_server, password=TOKEN, extra={"team": "t", "verify": str(bundle)}
    )
    ok, message = StudioHook().test_connection()
    assert ok, message
    set_conn(
        monkeypatch,
        host=self_signed_https_server,
        password=TOKEN,
        extra={"team": "t", "verify": str(tmp_path / "missing.pem")},
    )
    with pytest.raises(ValueError, match=r"verify .*CA bundle"):
        _ = StudioHook().config


def test_real_socket_errors_are_not_mistaken_for_tls() -> None:
    # Guard for the TLS detection: a plain refused connection must stay a transport error.
    port = free_port()
    with pytest.raises(httpx.ConnectError) as info:
        httpx.get(f"http://127.0.0.1:{port}/")
    from studio_provider.client.responses import _is_tls_failure

    assert not _is_tls_failure(info.value)


# ---------------------------------------------------------------------------------------------
# settings that would leak a secret are refused with the connection named (issue 6, items 2 and 4)
# ---------------------------------------------------------------------------------------------


def test_a_connection_url_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="https://admin:hunter2secret@studio.test", password=TOKEN, extra={"team": "t"})
    ok, message = StudioHook().test_connection()
    assert not ok
    assert "credentials" in message and "password" in message
    assert "hunter2secret" not in message
    with pytest.raises(ValueError) as info:
        StudioHook().config  # noqa: B018
    assert "hunter2secret" not in str(info.value)


def test_a_connection_token_with_a_line_break_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, host="https://studio.test", password="abcd1234\nefgh5678", extra={"team": "t"})
    with pytest.raises(ValueError) as info:
        StudioHook().config  # noqa: B018
    message = str(info.value)
    assert "datachain_studio_default" in message and "password" in message
    assert "abcd1234" not in message and "efgh5678" not in message
