"""The command line: start as a subprocess, print the URL, stop on SIGTERM; safety refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from studio_provider.emulator.__main__ import parse_tokens
from studio_provider.emulator.config import ConfigError, EmulatorConfig
from tests.emulator.helpers import wait_for

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studio_provider.emulator", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )


def test_cli_prints_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "studio_provider.emulator", "--host", "127.0.0.1", "--port", "0",
         "--token", "cli-token", "--team", "cli-team", "--token", "other=t2,t3", "--data-dir", str(tmp_path),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "token cli-token"}
        job = httpx.post(
            f"{url}/api/datachain/jobs/",
            json={"query": "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n", "query_type": "PYTHON",
                  "team_name": "cli-team"},
            headers=headers, timeout=10,
        ).json()
        deadline = time.monotonic() + 15
        while True:
            logs = httpx.get(f"{url}/api/datachain/jobs/{job['id']}/logs", params={"team_name": "cli-team"},
                             headers=headers, timeout=10).json()
            if logs["logs"]:
                break
            assert time.monotonic() < deadline, "the job never printed"
            time.sleep(0.05)
        assert httpx.get(f"{url}/api/datachain/jobs/", params={"team_name": "t3"},
                         headers={"Authorization": "Bearer other"}, timeout=10).status_code == 200
        assert httpx.get(f"{url}/api/datachain/jobs/", params={"team_name": "t3"},
                         headers=headers, timeout=10).status_code == 403
        job_pid = int(logs["logs"][0]["message"])
        assert (tmp_path / "jobs" / job["id"]).is_dir()  # the job ran under --data-dir
        os.kill(job_pid, 0)  # alive

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The job's process went with the emulator (allow init a moment to reap it).
    wait_for(lambda: not _alive(job_pid), timeout=5, what="the job process to exit")
    stderr = process.stderr.read() if process.stderr else ""
    assert "cli-token" not in stderr


def test_cli_requires_a_token() -> None:
    env = {key: value for key, value in os.environ.items() if key != "STUDIO_EMULATOR_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "studio_provider.emulator", "--port", "0"],
        capture_output=True, text=True, timeout=30, env=env, check=False,
    )
    assert result.returncode == 2
    assert "token is required" in result.stderr


def test_cli_refuses_a_non_loopback_bind_with_the_local_executor() -> None:
    result = run_cli("--host", "0.0.0.0", "--port", "0", "--token", "t", "--team", "x")
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr
    assert "t=" not in result.stderr


def test_config_safety_rules() -> None:
    with pytest.raises(ConfigError):
        EmulatorConfig(host="0.0.0.0").validate()
    EmulatorConfig(host="0.0.0.0", allow_remote=True).validate()
    EmulatorConfig(host="0.0.0.0", executor="simulated").validate()
    EmulatorConfig(host="::1").validate()
    EmulatorConfig(host="localhost").validate()
    with pytest.raises(ConfigError):
        EmulatorConfig(tokens={}).validate()


def test_token_syntax() -> None:
    assert parse_tokens(["a", "b=t2,t3"], ["t1"]) == {"a": ["t1"], "b": ["t2", "t3"]}
    assert parse_tokens(["a", "a=t9"], ["t1"]) == {"a": ["t1", "t9"]}
    with pytest.raises(ValueError):
        parse_tokens(["lonely"], [])


# ---- without the `emulator` extra: one line saying how to install it --------------------------------------

# Run the command line as `python -m studio_provider.emulator` does, with the named distributions' modules
# made unimportable (a None entry in sys.modules makes `import` fail as if they were not installed).
_WITHOUT = """
import runpy, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = ["studio-emulator", "--port", "0", "--token", "t", "--team", "x"]
runpy.run_module("studio_provider.emulator", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("blocked", "named"),
    [("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("python_multipart,multipart", "python-multipart")],
)
def test_cli_without_the_extra_says_how_to_install_it(blocked: str, named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT, blocked], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "pip install 'airflow-provider-datachain-studio[emulator]'" in lines[0]


def test_the_package_imports_without_the_extra_and_says_what_is_missing_on_use() -> None:
    code = (
        "import sys\n"
        "sys.modules['fastapi'] = None\n"
        "import studio_provider.emulator as emulator\n"
        "try:\n"
        "    emulator.EmulatorServer\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "the Studio emulator needs fastapi (not installed): pip install 'airflow-provider-datachain-studio[emulator]'"
    )


def test_the_installed_script_starts_the_emulator(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "studio-emulator"
    process = subprocess.Popen(
        [str(script), "--port", "0", "--token", "t", "--team", "x", "--data-dir", str(tmp_path), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.stderr else ""
        response = httpx.get(f"{url}/api/datachain/clusters/", params={"team_name": "x"},
                             headers={"Authorization": "Bearer t"}, timeout=10)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
