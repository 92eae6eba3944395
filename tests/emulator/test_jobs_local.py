"""Jobs that really run in a subprocess (the local executor), over real HTTP."""

from __future__ import annotations

import os
import textwrap
import time

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM
from tests.emulator.helpers import client_for, create_job, get_job, simulated_job, wait_for, wait_job

pytestmark = pytest.mark.integration


def logs_of(client: httpx.Client, job_id: str) -> dict:
    response = client.get(f"/datachain/jobs/{job_id}/logs", params={"team_name": EMULATOR_TEAM})
    assert response.status_code == 200
    return response.json()


def test_python_job_runs_and_logs(emulator_client: httpx.Client) -> None:
    job = create_job(emulator_client, EMULATOR_TEAM, "print('hello')\nprint('world')\n", query_name="hello.py")
    assert job["status"] == "CREATED"
    assert job["url"].endswith(f"/team/{EMULATOR_TEAM}/datasets/jobs/{job['id']}")
    done = wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "COMPLETE"
    assert done["exit_code"] == 0
    assert done["started_at"] and done["finished_at"]
    assert done["name"] == "hello.py"
    logs = logs_of(emulator_client, job["id"])
    assert logs["status"] == "COMPLETE"
    assert [line["message"] for line in logs["logs"]] == ["hello\n", "world\n"]
    assert [line["id"] for line in logs["logs"]] == [1, 2]


def test_shell_job_runs_through_bash(emulator_client: httpx.Client) -> None:
    job = create_job(
        emulator_client, EMULATOR_TEAM, 'for i in 1 2 3; do echo "line $i"; done\necho "$BASH_VERSION" >/dev/null',
        query_type="SHELL",
    )
    done = wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "COMPLETE"
    assert done["query_type"] == "SHELL"
    assert [line["message"] for line in logs_of(emulator_client, job["id"])["logs"]] == [
        "line 1\n",
        "line 2\n",
        "line 3\n",
    ]


def test_failing_job_is_failed_with_exit_code_and_message(emulator_client: httpx.Client) -> None:
    query = "import sys\nprint('about to fail')\nsys.stderr.write('boom: bad input\\n')\nsys.exit(3)\n"
    job = create_job(emulator_client, EMULATOR_TEAM, query)
    done = wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "FAILED"
    assert done["exit_code"] == 3
    assert "boom: bad input" in done["error_message"]
    messages = [line["message"] for line in logs_of(emulator_client, job["id"])["logs"]]
    assert "about to fail\n" in messages and "boom: bad input\n" in messages


def test_environment_and_uploaded_files_reach_the_job(emulator_client: httpx.Client) -> None:
    upload = emulator_client.post(
        "/datachain/jobs/files", params={"team_name": EMULATOR_TEAM}, files={"file": ("input.txt", b"payload-42")}
    )
    assert upload.status_code == 200
    uploaded = upload.json()
    assert uploaded == {"id": uploaded["id"], "filename": "input.txt", "size": 10, "state": "uploaded", "error": None}
    query = textwrap.dedent(
        """
        import os
        print(open("input.txt").read())
        print(os.environ["GREETING"], os.environ["OTHER"])
        print(os.environ["DATACHAIN_JOB_ID"], os.environ["DATACHAIN_IS_STUDIO"])
        """
    )
    job = create_job(
        emulator_client,
        EMULATOR_TEAM,
        query,
        environment="GREETING=hi there\n# a comment\nOTHER='quoted'\n",
        files=[str(uploaded["id"])],
    )
    assert job["environment"] == {"GREETING": "hi there", "OTHER": "quoted"}
    done = wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "COMPLETE", logs_of(emulator_client, job["id"])
    messages = [line["message"] for line in logs_of(emulator_client, job["id"])["logs"]]
    assert messages == ["payload-42\n", "hi there quoted\n", f"{job['id']} true\n"]


def test_unknown_file_id_is_rejected(emulator_client: httpx.Client) -> None:
    response = emulator_client.post(
        "/datachain/jobs/", json={"query": "print(1)", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "files": ["999999"]}
    )
    assert response.status_code == 400


def test_upload_requires_the_file_field(emulator_client: httpx.Client) -> None:
    response = emulator_client.post(
        "/datachain/jobs/files", params={"team_name": EMULATOR_TEAM}, files={"other": ("x.txt", b"x")}
    )
    assert response.status_code == 400
    assert "file" in response.json()["message"]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_cancel_kills_the_process_group(emulator_client: httpx.Client, studio_emulator: EmulatorServer) -> None:
    # The job starts a grandchild in the same process group; both must die.
    query = textwrap.dedent(
        """
        import subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        print("child", child.pid, flush=True)
        time.sleep(60)
        """
    )
    job = create_job(emulator_client, EMULATOR_TEAM, query)

    def child_pid() -> int | None:
        for line in logs_of(emulator_client, job["id"])["logs"]:
            if line["message"].startswith("child "):
                return int(line["message"].split()[1])
        return None

    grandchild = wait_for(child_pid, what="the job to start its child")
    record = studio_emulator.state.jobs[job["id"]]
    assert record.pid is not None
    leader = record.pid
    assert _process_alive(leader) and _process_alive(grandchild)

    response = emulator_client.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_TEAM})
    assert response.status_code == 200
    assert response.json() == {"message": "Successfully canceled"}
    done = wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "CANCELED"
    wait_for(lambda: not _process_alive(leader) and not _process_alive(grandchild), what="processes to exit")

    again = emulator_client.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_TEAM})
    assert again.status_code == 400
    assert "finished" in again.json()["message"]


def test_list_filters_limit_and_order(emulator_client: httpx.Client) -> None:
    first = simulated_job(emulator_client, EMULATOR_TEAM, duration=0.01)
    second = simulated_job(emulator_client, EMULATOR_TEAM, duration=0.01, exit_code=1)
    third = simulated_job(emulator_client, EMULATOR_TEAM, duration=30)
    for job in (first, second):
        wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    wait_job(emulator_client, EMULATOR_TEAM, third["id"], ("RUNNING",))

    newest = emulator_client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": 3}).json()
    assert [job["id"] for job in newest] == [third["id"], second["id"], first["id"]]

    def ids(**params: object) -> set[str]:
        response = emulator_client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": 1000, **params})
        assert response.status_code == 200
        return {job["id"] for job in response.json()}

    ours = {first["id"], second["id"], third["id"]}
    assert ids(status="COMPLETE") & ours == {first["id"]}
    assert ids(status=["COMPLETE", "FAILED"]) & ours == {first["id"], second["id"]}
    assert ids(status="FAILED,RUNNING") & ours == {second["id"], third["id"]}
    assert ids(job_id=second["id"]) == {second["id"]}
    # Without a limit the newest 20 of the team's jobs answer (this emulator is shared: count them first).
    everything = emulator_client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": 1000}).json()
    default_limit = emulator_client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM}).json()
    assert [job["id"] for job in default_limit] == [job["id"] for job in everything[:20]]

    cancel = emulator_client.post(f"/datachain/jobs/{third['id']}/cancel", json={"team_name": EMULATOR_TEAM})
    assert cancel.status_code == 200
    assert wait_job(emulator_client, EMULATOR_TEAM, third["id"])["status"] == "CANCELED"


def test_default_limit_is_the_newest_twenty(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        created = [simulated_job(client, EMULATOR_TEAM, duration=60, log_lines=0)["id"] for _ in range(23)]
        default = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM}).json()
        explicit = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": 23}).json()
    assert [job["id"] for job in default] == created[::-1][:20]
    assert [job["id"] for job in explicit] == created[::-1]


def test_include_steps_and_job_fields(emulator_client: httpx.Client) -> None:
    job = create_job(emulator_client, EMULATOR_TEAM, "print(1)", workers=3, priority=2, compute_cluster_name="large")
    wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    plain = get_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert plain["steps"] is None
    response = emulator_client.get(
        "/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "job_id": job["id"], "include_steps": "true"}
    )
    detailed = response.json()[0]
    assert [step["name"] for step in detailed["steps"]] == ["QUEUED", "RUNNING"]
    assert all(step["started_at"] and step["finished_at"] for step in detailed["steps"])
    for key in ("workers", "priority", "compute_cluster_id", "compute_cluster_name", "environment", "exit_code",
                "error_message", "started_at", "finished_at", "query", "query_type", "created_by", "team"):
        assert key in detailed
    assert (detailed["workers"], detailed["priority"]) == (3, 2)
    assert (detailed["compute_cluster_id"], detailed["compute_cluster_name"]) == (2, "large")


def test_clusters_and_cluster_selection(emulator_client: httpx.Client) -> None:
    clusters = emulator_client.get("/datachain/clusters/", params={"team_name": EMULATOR_TEAM}).json()
    assert any(cluster["default"] for cluster in clusters)
    for key in ("id", "name", "status", "cloud_provider", "cloud_credentials", "is_active", "default", "max_workers",
                "active_workers", "busy_workers", "cloud_region", "instance_type", "compute_class", "disk_size"):
        assert key in clusters[0]
    by_id = create_job(emulator_client, EMULATOR_TEAM, "print(1)", compute_cluster_id=2,
                       environment="STUDIO_EMULATOR_EXECUTOR=simulated")
    assert by_id["compute_cluster_name"] == "large"
    default = create_job(emulator_client, EMULATOR_TEAM, "print(1)", environment="STUDIO_EMULATOR_EXECUTOR=simulated")
    assert default["compute_cluster_name"] == "default"
    for body in ({"compute_cluster_name": "nope"}, {"compute_cluster_id": 99},
                 {"compute_cluster_id": 1, "compute_cluster_name": "default"}):
        response = emulator_client.post("/datachain/jobs/", json={"query": "print(1)", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, **body})
        assert response.status_code == 400, body
        assert response.json()["message"]


def test_busy_workers_count_running_jobs(emulator_client: httpx.Client) -> None:
    job = simulated_job(emulator_client, EMULATOR_TEAM, duration=30)
    wait_job(emulator_client, EMULATOR_TEAM, job["id"], ("RUNNING",))
    clusters = emulator_client.get("/datachain/clusters/", params={"team_name": EMULATOR_TEAM}).json()
    default = next(cluster for cluster in clusters if cluster["default"])
    assert default["busy_workers"] >= 1
    emulator_client.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_TEAM})
    wait_job(emulator_client, EMULATOR_TEAM, job["id"])


def test_stopping_the_server_kills_running_jobs(emulator_factory) -> None:  # type: ignore[no-untyped-def]
    server = emulator_factory()
    with httpx.Client(base_url=server.api_url, headers=server.headers(), timeout=15) as client:
        job = create_job(client, EMULATOR_TEAM, "import time\nprint('up', flush=True)\ntime.sleep(60)\n")
        wait_for(lambda: server.state.jobs[job["id"]].logs, what="the job to print")
    pid = server.state.jobs[job["id"]].pid
    assert pid is not None and _process_alive(pid)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 30  # far below the job's 60 s: the server did not wait for it
    wait_for(lambda: not _process_alive(pid), what="the job process to exit")
    assert server.state.jobs[job["id"]].status == "CANCELED"
