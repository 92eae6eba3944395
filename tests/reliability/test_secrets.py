"""Scenario 6, secrets and transport safety (the token searches of the other scenarios are counted in
the figures; the real Airflow's logs and database are searched in ``test_worker_crash.py``).

- Nothing a task or trigger shows holds the token: operator reprs, trigger kwargs, XCom, exceptions.
- TLS verification is on by default; plain ``http://`` to a non-loopback host logs a warning.
- WebSocket query values are URL-encoded: a team named with spaces, ``&`` and unicode works end to end.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable

import pytest

from studio_provider.client import StudioClient, StudioConfig
from studio_provider.client.transport import client_kwargs
from studio_provider.client.waiting import JobWaitResult, WaitEnd
from studio_provider.client.waiting.follower import websocket_url
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioAsyncHook, StudioHook
from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.triggers.job import StudioJobTrigger
from tests.reliability.helpers import TOKEN, add_token_count, record, request_log, simulated_env
from tests.studio_tasks import FakeTaskInstance, run_deferred, studio_lines, task_context

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

ODD_TEAM = "data team & co ü/ß?#=+"


def test_tls_verification_is_on_by_default() -> None:
    config = StudioConfig.resolve(url="https://studio.example.com", token=TOKEN, team="t", environ={})
    context = client_kwargs(config)["verify"]
    assert config.verify is True
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://studio.example.com", True),
        ("http://10.1.2.3:8000/", True),
        ("https://studio.example.com", False),
        ("http://127.0.0.1:8765", False),
        ("http://localhost:8765", False),
        ("http://[::1]:8765", False),
    ],
)
def test_plain_http_to_another_host_logs_a_warning(
    caplog: pytest.LogCaptureFixture, url: str, warned: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="studio_provider.client.config")
    config = StudioConfig.resolve(url=url, token=TOKEN, team="t", environ={})
    StudioConfig.resolve(url=url, token=TOKEN, team="t", environ={})  # warned once per URL, not per hook
    messages = [r.getMessage() for r in caplog.records if r.name == "studio_provider.client.config"]
    assert len(messages) == (1 if warned else 0), messages
    if warned:
        assert "unencrypted" in messages[0] and "https://" in messages[0]
    assert TOKEN not in " ".join(messages) and TOKEN not in repr(config)


def test_a_team_with_spaces_ampersand_and_unicode_works_end_to_end(
    emulator_factory: Callable[..., EmulatorServer],
    studio_connection: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = emulator_factory(executor="simulated", tokens={TOKEN: [ODD_TEAM]}, ws_ping_interval=1.0)
    studio_connection(server, token=TOKEN, team=ODD_TEAM)
    config = StudioHook().config
    url = websocket_url(config, "7")
    assert "team_name=data+team+%26+co+%C3%BC%2F%C3%9F%3F%23%3D%2B" in url, url
    words = [f"odd-w{i}" for i in range(1, 6)]
    operator = StudioRunJobOperator(
        task_id="odd_team", query="print(1)", environment=simulated_env(words, 1.0), deferrable=True,
        poll_interval=0.5, timeout=60,
    )
    ti = FakeTaskInstance(task_id="odd_team")
    result = run_deferred(operator, task_context(ti))
    output = capsys.readouterr().out
    follows = [e for e in request_log(server) if e["kind"] == "ws"]
    record("6 team with spaces, & and unicode", {"job": result["status"], "log stream sessions": len(follows)})
    assert result["status"] == "COMPLETE"
    assert studio_lines(output, result["job_id"]) == words
    assert follows and all("team_name=data+team+%26+co+%C3%BC" in e["query"] for e in follows)
    assert all(e["status"] not in (400, 401, 403, 404) for e in follows), follows
    assert any(e["frames"] for e in follows)  # the lines came over the socket, not only REST
    assert add_token_count("6 secrets", output, request_log(server), ti.xcom, result) == 0


def test_reprs_trigger_kwargs_and_exceptions_hold_no_token(
    rel_emulator: EmulatorServer, rel_connection: str
) -> None:
    hook = StudioHook()
    trigger = StudioJobTrigger("42", deadline=1e10)
    shown = [repr(hook), repr(hook.config), repr(StudioClient(hook.config)), repr(StudioAsyncHook()),
             json.dumps(trigger.serialize()[1]), repr(trigger)]
    operator = StudioRunJobOperator(task_id="secret", query="print(1)", environment=simulated_env(["s"], 30),
                                    deferrable=False, poll_interval=0.3, timeout=0.5)
    ti = FakeTaskInstance(task_id="secret")
    with pytest.raises(Exception) as failure:  # the deadline passes: the job is cancelled, the task fails
        operator.execute(task_context(ti))
    shown += [str(failure.value), repr(failure.value), json.dumps(ti.xcom)]
    assert add_token_count("6 secrets", *shown, request_log(rel_emulator)) == 0
    assert JobWaitResult(end=WaitEnd.ERROR, job_id="1").to_dict()  # the payload type holds no config


def test_the_demo_output_and_files_hold_no_token() -> None:
    """``make demo`` (tools/demo.py: the emulator, ``airflow dags test`` of the example DAG): its output and
    every file it leaves (task logs, Airflow's database, the emulator's log) hold its token zero times."""
    import subprocess
    import sys
    from pathlib import Path

    from tools.local_studio import ROOT
    from tools.local_studio import TOKEN as DEMO_TOKEN

    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py")], capture_output=True, text=True, timeout=400, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    home = Path(ROOT / "airflow-home" / "demo")
    files = [path for path in home.rglob("*") if path.is_file()]
    found = output.count(DEMO_TOKEN) + sum(path.read_bytes().count(DEMO_TOKEN.encode()) for path in files)
    record("6 demo", {"output lines": output.count("\n"), "files searched": len(files), "occurrences": found})
    assert len(files) > 3 and "dags-test.log" in {path.name for path in files}
    assert found == 0
