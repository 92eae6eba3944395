"""StudioHook and StudioAsyncHook against the local Studio emulator, over real HTTP sockets.

The respx tests in tests/client pin the request shapes; these show that the same calls work end to end
against a server that speaks the protocol, including its faults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from studio_provider.client import (
    API_CALLS,
    Job,
    JobStatus,
    Pipeline,
    PipelineStatus,
    StudioAuthenticationError,
    StudioNotFoundError,
    StudioOutcomeUnknownError,
    StudioValidationError,
)
from studio_provider.emulator import EmulatorServer
from studio_provider.emulator.storage import put_object
from studio_provider.hooks.studio import StudioAsyncHook, StudioHook
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM
from tests.emulator.helpers import gated_query

SIMULATED = {"STUDIO_EMULATOR_EXECUTOR": "simulated"}


R = TypeVar("R", Job, Pipeline)


def wait_terminal(read: Callable[[], R], what: str, timeout: float = 20.0) -> R:
    """Poll ``read`` until its status is terminal; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    item = read()
    while not item.status.is_terminal:
        assert time.monotonic() < deadline, f"{what} still {item.status} after {timeout}s"
        time.sleep(0.1)
        item = read()
    return item


def wait_for_job(hook: StudioHook, job_id: str) -> Job:
    return wait_terminal(lambda: hook.get_job(job_id=job_id), f"job {job_id}")


def wait_for_pipeline(hook: StudioHook, pipeline_id: str) -> Pipeline:
    return wait_terminal(lambda: hook.get_pipeline(pipeline_id=pipeline_id), f"pipeline {pipeline_id}")


@pytest.fixture
def hook(studio_connection: Callable[..., str]) -> StudioHook:
    studio_connection()
    return StudioHook()


def test_real_job_lifecycle(hook: StudioHook, tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_text("alpha\nbeta\n")
    uploaded = hook.upload_file(file=data)
    assert uploaded.filename == "input.txt" and uploaded.size == len("alpha\nbeta\n")

    script = (
        "import os\n"
        "lines = open('input.txt').read().split()\n"
        "print('greeting', os.environ['GREETING'], len(lines))\n"
        "print('::dataset-write hook_words num_objects=2')\n"
    )
    job = hook.create_job(
        query=script,
        query_type="python",
        query_name="words.py",
        environment={"GREETING": "hi"},
        files=[int(uploaded.id)],
        priority=2,
        workers=1,
    )
    assert job.status is not JobStatus.UNKNOWN
    done = wait_for_job(hook, job.id)
    assert done.status is JobStatus.COMPLETE and done.exit_code == 0

    logs = hook.get_job_logs(job_id=job.id)
    ids = [line.id for line in logs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert "greeting hi 2\n" in [line.message for line in logs]

    listed = hook.list_jobs(status=["COMPLETE", "FAILED"], job_id=job.id)
    assert [j.id for j in listed] == [job.id]
    produced = hook.get_dataset_job_versions(job_id=job.id)
    assert [(d.dataset_name, d.version) for d in produced] == [("hook_words", "1.0.0")]
    info = hook.get_dataset_info(namespace="@local", project="default", name="hook_words")
    assert info["versions"][0]["job_id"] == job.id and info["versions"][0]["num_objects"] == 2
    assert "hook_words" in [d["name"] for d in hook.list_datasets(prefix="hook_")]


def test_failing_and_cancelled_jobs(hook: StudioHook) -> None:
    failed = wait_for_job(hook, hook.create_job(query="exit 3", query_type="SHELL").id)
    assert failed.status is JobStatus.FAILED and failed.exit_code == 3
    assert not failed.status.is_success

    sleeper = hook.create_job(query="import time; time.sleep(60)", query_type="PYTHON")
    deadline = time.monotonic() + 15
    while hook.get_job(job_id=sleeper.id).status is not JobStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "cancel" in hook.cancel_job(job_id=sleeper.id)["message"].lower()
    assert wait_for_job(hook, sleeper.id).status is JobStatus.CANCELED


def test_unknown_job_is_not_found(hook: StudioHook) -> None:
    with pytest.raises(StudioNotFoundError, match="no-such-job"):
        hook.get_job(job_id="no-such-job")


def test_clusters_and_ls(hook: StudioHook, studio_emulator: EmulatorServer) -> None:
    clusters = hook.list_clusters()
    assert any(cluster.is_default for cluster in clusters)
    put_object(studio_emulator.state.data_dir, EMULATOR_TEAM, "s3://bucket/hook/a.txt", b"12345")
    entries = hook.ls(source="s3://bucket/hook")
    assert entries is not None
    (entry,) = [e for e in entries if e["name"] == "a.txt"]
    assert entry["size"] == 5 and isinstance(entry["last_modified"], datetime)


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_both_auth_schemes(studio_connection: Callable[..., str], scheme: str) -> None:
    studio_connection(auth_scheme=scheme)
    ok, message = StudioHook().test_connection()
    assert ok, message


def test_bad_token_and_foreign_team(studio_connection: Callable[..., str]) -> None:
    studio_connection(token="not-a-real-token", max_retries=3)
    hook = StudioHook()
    with pytest.raises(StudioAuthenticationError) as info:
        hook.list_jobs()
    assert info.value.status == 401 and "not-a-real-token" not in str(info.value)
    ok, message = StudioHook().test_connection()
    assert not ok and "(401)" in message

    studio_connection(token=EMULATOR_OTHER_TOKEN, team=EMULATOR_TEAM)
    ok, message = StudioHook().test_connection()
    assert not ok and "(403)" in message and EMULATOR_TEAM in message
    studio_connection(token=EMULATOR_OTHER_TOKEN, team=EMULATOR_OTHER_TEAM)
    ok, message = StudioHook().test_connection()
    assert ok, message


def finished_simulated_job(
    hook: StudioHook, duration: float, writes: str, reads: str | None = None, name: str | None = None
) -> Job:
    """A simulated job that wrote ``writes`` (after reading ``reads``), waited for until it finished."""
    env = {**SIMULATED, "STUDIO_EMULATOR_DURATION": str(duration), "STUDIO_EMULATOR_WRITES": writes}
    if reads:
        env["STUDIO_EMULATOR_READS"] = reads
    return wait_for_job(hook, hook.create_job(query="x", query_name=name, environment=env).id)


def test_pipeline_from_datasets(hook: StudioHook) -> None:
    first = finished_simulated_job(hook, 0.1, writes="hook_raw", name="extract.py")
    second = finished_simulated_job(hook, 0.1, writes="hook_clean", reads="hook_raw", name="transform.py")

    definition = hook.trigger_pipeline(datasets=["hook_clean"])
    assert definition.is_definition
    assert {run.job_id for run in definition.job_runs} == {first.id, second.id}

    run = hook.run_pipeline(definition_id=definition.pipeline_id)
    finished = wait_for_pipeline(hook, run.pipeline_id)
    assert finished.status is PipelineStatus.COMPLETED and finished.completed == finished.total == 2
    assert all(r.created_job_id for r in finished.job_runs)
    assert run.pipeline_id in [p.pipeline_id for p in hook.list_pipelines(status=PipelineStatus.COMPLETED)]

    copy = hook.duplicate_pipeline(pipeline_id=run.pipeline_id)
    assert copy.is_definition and copy.pipeline_id not in (run.pipeline_id, definition.pipeline_id)
    assert copy.name
    updated = hook.update_pipeline_settings(pipeline_name=copy.name, workers=2, environment={"A": "1"})
    assert updated.pipeline_id == copy.pipeline_id
    trimmed = hook.remove_job_from_pipeline(pipeline_id=copy.pipeline_id, job_id=first.id)
    assert [r.job_id for r in trimmed.job_runs] == [second.id]

    schedule = hook.create_schedule(
        schedule_name="nightly", pipeline_id=definition.pipeline_id, cron_expression="0 3 * * *"
    )
    assert schedule.id is not None and schedule.next_run
    assert schedule.id in [s.id for s in hook.list_schedules()]
    changed = hook.update_schedule(schedule_id=schedule.id, cron_expression="30 4 * * *")
    assert changed.cron_expression == "30 4 * * *"
    assert hook.get_schedule(schedule_id=schedule.id).cron_expression == "30 4 * * *"
    assert hook.delete_schedule(schedule_id=schedule.id) is True
    with pytest.raises(StudioNotFoundError):
        hook.get_schedule(schedule_id=schedule.id)


def test_pipeline_pause_and_resume(hook: StudioHook, tmp_path: Path) -> None:
    # The first job (a real process) waits for a gate file: the run's re-run of it is surely still at work
    # when the run is paused, whatever the machine's load.
    gate = tmp_path / "gate"
    gate.touch()
    first = wait_for_job(hook, hook.create_job(query=gated_query(gate, "hook_p1"), query_type="PYTHON").id)
    assert first.status is JobStatus.COMPLETE
    second = finished_simulated_job(hook, 0.05, writes="hook_p2", reads="hook_p1")
    gate.unlink()
    definition = hook.trigger_pipeline(datasets=["hook_p2"])
    run = hook.run_pipeline(definition_id=definition.pipeline_id)
    assert hook.pause_pipeline(pipeline_id=run.pipeline_id).status is PipelineStatus.PAUSED
    gate.touch()

    # The running first job finishes; the paused run starts nothing after it.
    deadline = time.monotonic() + 10
    while True:
        runs = {r.job_id: r for r in hook.get_pipeline(pipeline_id=run.pipeline_id).job_runs}
        if runs[first.id].status.is_terminal:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    paused = hook.get_pipeline(pipeline_id=run.pipeline_id)
    assert paused.status is PipelineStatus.PAUSED and not paused.status.is_terminal
    assert {r.job_id: r for r in paused.job_runs}[second.id].created_job_id is None

    assert hook.resume_pipeline(pipeline_id=run.pipeline_id).status is PipelineStatus.RUNNING
    assert wait_for_pipeline(hook, run.pipeline_id).status is PipelineStatus.COMPLETED


def test_access_control(hook: StudioHook) -> None:
    group = hook.create_access_group(name="hook-analysts", description="readers")
    assert group["name"] == "hook-analysts"
    assert group["id"] in [g["id"] for g in hook.list_access_groups()]
    assert hook.update_access_group(group_id=group["id"], description="writers")["description"] == "writers"
    member = hook.add_access_group_member(group_id=group["id"], user_id=7, role="read")
    assert member["user_id"] == 7
    assert hook.update_access_group_member(group_id=group["id"], user_id=7, role="write")["role"] == "write"
    assert [m["user_id"] for m in hook.list_access_group_members(group_id=group["id"])] == [7]
    hook.remove_access_group_member(group_id=group["id"], user_id=7)
    assert hook.list_access_group_members(group_id=group["id"]) == []
    rule = hook.create_access_rule(
        resource_type="namespace", resource_id="@local", permission="read", group_id=group["id"]
    )
    assert hook.update_access_rule(rule_id=rule["id"], permission="write")["permission"] == "write"
    assert rule["id"] in [r["id"] for r in hook.list_access_rules()]
    hook.delete_access_rule(rule_id=rule["id"])
    hook.delete_access_group(group_id=group["id"])
    assert group["id"] not in [g["id"] for g in hook.list_access_groups()]


def test_server_validation_error_carries_the_message(hook: StudioHook) -> None:
    with pytest.raises(StudioValidationError) as info:
        hook.create_job(query="print(1)", compute_cluster_name="no-such-cluster")
    assert info.value.status == 400 and "no-such-cluster" in (info.value.server_message or "")


async def test_async_hook_job_flow(studio_connection: Callable[..., str]) -> None:
    studio_connection()
    hook = StudioAsyncHook()
    job = await hook.create_job(
        query="x",
        environment={**SIMULATED, "STUDIO_EMULATOR_DURATION": "0.2", "STUDIO_EMULATOR_LOG_LINES": "2"},
    )
    deadline = time.monotonic() + 15
    while not (job := await hook.get_job(job_id=job.id)).status.is_terminal:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert job.status is JobStatus.COMPLETE
    assert len(await hook.get_job_logs(job_id=job.id)) == 2
    await hook.aclose()


# ---------------------------------------------------------------------------------------------
# faults: retries and the outcome-unknown rule, against a fresh emulator each
# ---------------------------------------------------------------------------------------------


def test_lost_create_response_is_outcome_unknown_and_not_resubmitted(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    studio_connection(server=fresh_emulator)
    fresh_emulator.injector.add_rule("lose_response", method="POST", path="/api/datachain/jobs/", count=1)
    hook = StudioHook()
    with pytest.raises(StudioOutcomeUnknownError):
        hook.create_job(query="x", query_name="once.py", environment=SIMULATED)
    assert fresh_emulator.injector.count("POST", "/api/datachain/jobs/") == 1
    # Studio did the work: exactly one job exists.
    assert [j.name for j in hook.list_jobs()] == ["once.py"]


def test_rate_limit_is_retried_after_retry_after(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    studio_connection(server=fresh_emulator)
    fresh_emulator.injector.add_rule(
        "error", method="GET", path="/api/datachain/jobs/", status=429, retry_after=1, count=1
    )
    started = time.monotonic()
    assert StudioHook().list_jobs() == []
    assert time.monotonic() - started >= 0.9  # the client waited as told before the second attempt
    assert fresh_emulator.injector.count("GET", "/api/datachain/jobs/") == 2


def test_unavailable_then_ok_and_unauthorized_not_retried(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    studio_connection(server=fresh_emulator)
    fresh_emulator.injector.add_rule(
        "error", method="GET", path="/api/datachain/clusters/", status=503, count=2
    )
    assert StudioHook().list_clusters()
    assert fresh_emulator.injector.count("GET", "/api/datachain/clusters/") == 3

    fresh_emulator.injector.add_rule(
        "error", method="GET", path="/api/datachain/clusters/", status=401, count=5
    )
    with pytest.raises(StudioAuthenticationError):
        StudioHook().list_clusters()
    assert fresh_emulator.injector.count("GET", "/api/datachain/clusters/") == 4


def test_dropped_connection_on_read_is_retried(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    studio_connection(server=fresh_emulator)
    fresh_emulator.injector.add_rule("drop", method="GET", path="/api/datachain/pipeline/list", count=1)
    assert StudioHook().list_pipelines() == []
    assert fresh_emulator.injector.count("GET", "/api/datachain/pipeline/list") == 2


def test_dropped_create_is_outcome_unknown_not_resubmitted(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    # A connection dropped before any response is ambiguous for a POST: the client cannot know whether
    # Studio read it, so it must not send it again.
    studio_connection(server=fresh_emulator)
    fresh_emulator.injector.add_rule("drop", method="POST", path="/api/datachain/jobs/", count=1)
    with pytest.raises(StudioOutcomeUnknownError):
        StudioHook().create_job(query="x", environment=SIMULATED)
    assert fresh_emulator.injector.count("POST", "/api/datachain/jobs/") == 1
    assert StudioHook().list_jobs() == []  # this emulator drops before the route runs


# ---------------------------------------------------------------------------------------------
# contract: every API call of the client is served by the emulator
# ---------------------------------------------------------------------------------------------


def test_every_api_call_is_served_by_the_emulator(
    fresh_emulator: EmulatorServer, studio_connection: Callable[..., str]
) -> None:
    """Each call in API_CALLS, once, in an order that creates what the next needs. A new endpoint in the
    client without an emulator route (or without an entry here) fails this test."""
    studio_connection(server=fresh_emulator)
    hook = StudioHook()
    put_object(fresh_emulator.state.data_dir, fresh_emulator.team, "s3://b/x.txt", b"x")
    ctx: dict[str, Any] = {}
    env = {**SIMULATED, "STUDIO_EMULATOR_DURATION": "0.05", "STUDIO_EMULATOR_WRITES": "contract_ds"}

    def created_job() -> Job:
        ctx["job"] = hook.create_job(query="x", environment=env)
        wait_for_job(hook, ctx["job"].id)
        return ctx["job"]

    def triggered() -> Pipeline:
        ctx["definition"] = hook.trigger_pipeline(datasets=["contract_ds"])
        return ctx["definition"]

    def ran() -> Pipeline:
        ctx["run"] = hook.run_pipeline(definition_id=ctx["definition"].pipeline_id)
        wait_for_pipeline(hook, ctx["run"].pipeline_id)
        return ctx["run"]

    def scheduled() -> Any:
        ctx["schedule"] = hook.create_schedule(
            schedule_name="s", pipeline_id=ctx["definition"].pipeline_id, cron_expression="0 1 * * *"
        )
        return ctx["schedule"]

    def grouped() -> Any:
        ctx["group"] = hook.create_access_group(name="contract")
        return ctx["group"]

    def ruled() -> Any:
        ctx["rule"] = hook.create_access_rule(
            resource_type="namespace", resource_id="@local", permission="read", group_id=ctx["group"]["id"]
        )
        return ctx["rule"]

    calls: dict[str, Callable[[], Any]] = {
        "upload_file": lambda: hook.upload_file(file=b"data", file_name="d.txt"),
        "create_job": created_job,
        "list_jobs": lambda: hook.list_jobs(limit=5),
        "get_job": lambda: hook.get_job(job_id=ctx["job"].id),
        "get_job_logs": lambda: hook.get_job_logs(job_id=ctx["job"].id),
        "cancel_job": lambda: hook.cancel_job(job_id=hook.create_job(query="x", environment=SIMULATED).id),
        "list_clusters": hook.list_clusters,
        "list_datasets": hook.list_datasets,
        "get_dataset_info": lambda: hook.get_dataset_info(
            namespace="@local", project="default", name="contract_ds"
        ),
        "get_dataset_job_versions": lambda: hook.get_dataset_job_versions(job_id=ctx["job"].id),
        "ls": lambda: hook.ls(source="s3://b"),
        "trigger_pipeline": triggered,
        "run_pipeline": ran,
        "get_pipeline": lambda: hook.get_pipeline(pipeline_id=ctx["run"].pipeline_id),
        "list_pipelines": hook.list_pipelines,
        "update_pipeline_settings": lambda: hook.update_pipeline_settings(
            pipeline_name=ctx["definition"].name, workers=2
        ),
        "duplicate_pipeline": lambda: hook.duplicate_pipeline(pipeline_id=ctx["definition"].pipeline_id),
        "pause_pipeline": lambda: hook.pause_pipeline(
            pipeline_id=hook.run_pipeline(definition_id=ctx["definition"].pipeline_id).pipeline_id
        ),
        "resume_pipeline": lambda: hook.resume_pipeline(name=ctx["definition"].name),
        "remove_job_from_pipeline": lambda: hook.remove_job_from_pipeline(
            pipeline_id=hook.duplicate_pipeline(pipeline_id=ctx["definition"].pipeline_id).pipeline_id,
            job_id=ctx["job"].id,
        ),
        "create_schedule": scheduled,
        "get_schedule": lambda: hook.get_schedule(schedule_id=ctx["schedule"].id),
        "list_schedules": hook.list_schedules,
        "update_schedule": lambda: hook.update_schedule(schedule_id=ctx["schedule"].id, pause_pipeline=True),
        "delete_schedule": lambda: hook.delete_schedule(schedule_id=ctx["schedule"].id),
        "create_access_group": grouped,
        "list_access_groups": hook.list_access_groups,
        "update_access_group": lambda: hook.update_access_group(group_id=ctx["group"]["id"], name="renamed"),
        "add_access_group_member": lambda: hook.add_access_group_member(
            group_id=ctx["group"]["id"], user_id=1, role="read"
        ),
        "list_access_group_members": lambda: hook.list_access_group_members(group_id=ctx["group"]["id"]),
        "update_access_group_member": lambda: hook.update_access_group_member(
            group_id=ctx["group"]["id"], user_id=1, role="write"
        ),
        "remove_access_group_member": lambda: hook.remove_access_group_member(
            group_id=ctx["group"]["id"], user_id=1
        ),
        "create_access_rule": ruled,
        "list_access_rules": hook.list_access_rules,
        "update_access_rule": lambda: hook.update_access_rule(rule_id=ctx["rule"]["id"], permission="write"),
        "delete_access_rule": lambda: hook.delete_access_rule(rule_id=ctx["rule"]["id"]),
        "delete_access_group": lambda: hook.delete_access_group(group_id=ctx["group"]["id"]),
    }
    assert set(calls) == set(API_CALLS)
    for name, call in calls.items():
        try:
            call()
        except Exception as exc:  # name the call that failed
            raise AssertionError(f"{name} failed against the emulator: {exc!r}") from exc
    # Every call reached the server over HTTP: the emulator's own request log has a 2xx for each path used.
    statuses = {entry["status"] for entry in fresh_emulator.injector.requests()}
    assert statuses <= {200, 201, 204}, statuses
