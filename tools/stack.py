"""`make up`: Airflow (``airflow standalone``: api-server, scheduler, dag-processor, triggerer) with the
example DAGs, beside a local Studio emulator, the ``datachain_studio_default`` connection pointing at it.

The UI's connection Test button is enabled (``[core] test_connection = Enabled``); the login is
``admin`` / ``admin``. Ctrl-C stops everything. ``make test-ui`` starts the same stack on free ports
through :class:`Stack`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.local_studio import (
    BIN,
    ROOT,
    TEAM,
    TOKEN,
    airflow_env,
    emulator,
    free_port,
    interrupt_on_sigterm,
    stop,
)

USER = "admin"
PASSWORD = "admin"


class Stack:
    """The emulator and ``airflow standalone`` in ``home`` (wiped first), the API on ``port``."""

    def __init__(self, home: Path, port: int | None = None, *, unpause_at_creation: bool = False) -> None:
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.unpause_at_creation = unpause_at_creation
        self.studio_url = ""
        self.log = home / "standalone.log"
        self._exit = ExitStack()
        self._process: subprocess.Popen[Any] | None = None
        self._secrets: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        # One set of secrets for every component: each would otherwise generate its own, and the workers'
        # tokens would fail the API server's signature check.
        if not self._secrets:
            from cryptography.fernet import Fernet

            self._secrets = {
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            }
        return airflow_env(
            self.home,
            self.studio_url,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=str(not self.unpause_at_creation),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="5",
            **self._secrets,
        )

    def start(self, timeout: float = 300) -> Stack:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        # A known login instead of a generated password (the simple auth manager reads this file).
        (self.home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
        self.studio_url = self._exit.enter_context(emulator(self.home / "studio", self.home / "emulator.log"))
        out = self._exit.enter_context(self.log.open("w"))
        self._process = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops every component
        )
        self._exit.callback(stop, self._process, 30, group=True)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until the API answers with a token and the example DAGs are parsed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self._process.returncode}); see {self.log}")
            try:
                with self.client() as api:
                    dags = api.get("/api/v2/dags", params={"limit": 100}).json()
                if {"studio_etl_chain"} <= {dag["dag_id"] for dag in dags.get("dags", [])}:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow was not ready within {timeout:.0f} s; see {self.log}")

    def token(self) -> str:
        answer = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def client(self) -> httpx.Client:
        """An httpx client on Airflow's REST API, logged in."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30)

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def main() -> int:
    interrupt_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the Airflow UI/API port (default 8080)")
    args = parser.parse_args()
    stack = Stack(ROOT / "airflow-home" / "up", args.port)
    print("Starting the Studio emulator and airflow standalone (about a minute) ...", flush=True)
    try:
        with stack:
            print(
                f"\nAirflow UI:       {stack.url}   login {USER} / {PASSWORD}\n"
                f"Studio emulator:  {stack.studio_url}   team {TEAM}, token {TOKEN}\n"
                f"Connection:       datachain_studio_default (Admin > Connections; Test is enabled)\n"
                f"Example DAGs:     {', '.join(sorted(p.stem for p in (ROOT / 'dags_examples').glob('studio_*.py')))}\n"
                f"                  unpause and trigger studio_etl_chain first (the others use its datasets)\n"
                f"Airflow's output: {stack.log}\n\nCtrl-C stops everything.",
                flush=True,
            )
            while stack._process is not None and stack._process.poll() is None:
                time.sleep(1)
            print(f"airflow standalone exited; see {stack.log}", flush=True)
            return 1
    except KeyboardInterrupt:
        print("\nstopped.", flush=True)
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"make up FAILED: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
