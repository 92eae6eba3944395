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
from studio_provider.emulator.guard import BLOB_PREFIX
from studio_provider.emulator.storage import put_object
from studio_provider.hooks.studio import StudioAsyncHook, StudioHook
from tests.conftest import EMULATOR_BOTH_TOKEN, EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM
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
    """Each call in API_CALLS, once, in an order that creates what the next needs, and each result checked:
    the right team's record with the right fields. The token acts for both teams and the connection names
    the second, so a call that sent ``team_name`` nowhere, or where the emulator does not read it, fails
    here. A new endpoint in the client without an emulator route (or without an entry here) fails too."""
    team = EMULATOR_OTHER_TEAM
    studio_connection(server=fresh_emulator, token=EMULATOR_BOTH_TOKEN, team=team)
    hook = StudioHook()
    state = fresh_emulator.state
    put_object(state.data_dir, team, "s3://b/x.txt", b"x")
    put_object(state.data_dir, EMULATOR_TEAM, "s3://b/other-team.txt", b"y")
    ctx: dict[str, Any] = {}
    env = {**SIMULATED, "STUDIO_EMULATOR_DURATION": "0.05", "STUDIO_EMULATOR_WRITES": "contract_ds"}

    def uploaded() -> None:
        file = hook.upload_file(file=b"data", file_name="d.txt")
        assert (file.filename, file.size, file.state) == ("d.txt", 4, "uploaded")
        assert state.files[int(file.id)].team == team
        ctx["file"] = file

    def created_job() -> None:
        job = hook.create_job(
            query="x", query_name="contract.py", environment=env, files=[int(ctx["file"].id)], priority=1
        )
        record = state.jobs[job.id]
        assert (record.team, record.name, record.priority, record.files) == (team, "contract.py", 1, [ctx["file"].id])
        assert record.environment["STUDIO_EMULATOR_WRITES"] == "contract_ds"
        ctx["job"] = wait_for_job(hook, job.id)
        assert ctx["job"].status is JobStatus.COMPLETE

    def listed_jobs() -> None:
        jobs = hook.list_jobs(limit=5, status=["COMPLETE"])
        assert [job.id for job in jobs] == [ctx["job"].id]
        assert jobs[0].raw["team"] == team

    def got_job() -> None:
        job = hook.get_job(job_id=ctx["job"].id)
        assert (job.id, job.name, job.status, job.raw["team"]) == (ctx["job"].id, "contract.py", JobStatus.COMPLETE, team)

    def got_logs() -> None:
        lines = hook.get_job_logs(job_id=ctx["job"].id)
        assert [(line.id, line.message) for line in lines] == [
            (index, f"Simulated log line {index}/3\n") for index in (1, 2, 3)
        ]

    def got_blob() -> None:
        # A log blob as the emulator's stream publishes it (lines 1-2 of the job's log, fetched by
        # capability URL on the same origin).
        state.log_blobs["contract-blob"] = (ctx["job"].id, 0, 2)
        url = f"{fresh_emulator.url}{BLOB_PREFIX}contract-blob"
        assert hook.get_log_blob(url=url) == "Simulated log line 1/3\nSimulated log line 2/3\n"

    def cancelled() -> None:
        sleeper = hook.create_job(query="x", environment={**SIMULATED, "STUDIO_EMULATOR_DURATION": "60"})
        assert "cancel" in hook.cancel_job(job_id=sleeper.id)["message"].lower()
        assert wait_for_job(hook, sleeper.id).status is JobStatus.CANCELED
        assert state.jobs[sleeper.id].team == team

    def clusters() -> None:
        found = hook.list_clusters()
        assert [(c.id, c.name, c.is_default) for c in found] == [(1, "default", True), (2, "large", False)]

    def datasets() -> None:
        names = [d["name"] for d in hook.list_datasets()]
        assert names == ["contract_ds"]

    def dataset_info() -> None:
        info = hook.get_dataset_info(namespace="@local", project="default", name="contract_ds")
        assert info["name"] == "contract_ds" and info["versions"][0]["job_id"] == ctx["job"].id

    def job_versions() -> None:
        found = hook.get_dataset_job_versions(job_id=ctx["job"].id)
        assert [(d.dataset_name, d.version) for d in found] == [("contract_ds", "1.0.0")]

    def listed_storage() -> None:
        entries = hook.ls(source="s3://b")
        assert entries is not None and [e["name"] for e in entries] == ["x.txt"]

    def triggered() -> None:
        definition = hook.trigger_pipeline(datasets=["contract_ds"])
        assert definition.is_definition and [r.job_id for r in definition.job_runs] == [ctx["job"].id]
        assert state.pipelines[definition.pipeline_id].team == team
        ctx["definition"] = definition

    def ran() -> None:
        run = hook.run_pipeline(definition_id=ctx["definition"].pipeline_id)
        assert not run.is_definition and run.name == ctx["definition"].name
        assert state.pipelines[run.pipeline_id].team == team
        ctx["run"] = wait_for_pipeline(hook, run.pipeline_id)
        assert ctx["run"].status is PipelineStatus.COMPLETED and ctx["run"].completed == 1

    def got_pipeline() -> None:
        pipeline = hook.get_pipeline(pipeline_id=ctx["run"].pipeline_id)
        assert (pipeline.pipeline_id, pipeline.status) == (ctx["run"].pipeline_id, PipelineStatus.COMPLETED)

    def listed_pipelines() -> None:
        found = hook.list_pipelines(status=PipelineStatus.COMPLETED)
        assert [p.pipeline_id for p in found] == [ctx["run"].pipeline_id]

    def settings() -> None:
        # Later runs take 30 s, so the run that pause_pipeline stops is still running when it is paused.
        updated = hook.update_pipeline_settings(
            pipeline_name=ctx["definition"].name, workers=2, environment={"STUDIO_EMULATOR_DURATION": "30"}
        )
        assert updated.pipeline_id == ctx["definition"].pipeline_id and updated.raw["workers"] == 2
        assert updated.raw["environment_variables"] == {"STUDIO_EMULATOR_DURATION": "30"}
        assert state.pipelines[updated.pipeline_id].workers == 2

    def duplicated() -> None:
        copy = hook.duplicate_pipeline(pipeline_id=ctx["definition"].pipeline_id)
        assert copy.is_definition and copy.pipeline_id != ctx["definition"].pipeline_id
        assert state.pipelines[copy.pipeline_id].team == team

    def paused() -> None:
        gated = hook.run_pipeline(definition_id=ctx["definition"].pipeline_id)
        pipeline = hook.pause_pipeline(pipeline_id=gated.pipeline_id)
        assert (pipeline.pipeline_id, pipeline.status) == (gated.pipeline_id, PipelineStatus.PAUSED)
        ctx["paused"] = pipeline

    def resumed() -> None:
        pipeline = hook.resume_pipeline(name=ctx["definition"].name)
        assert (pipeline.pipeline_id, pipeline.status) == (ctx["paused"].pipeline_id, PipelineStatus.RUNNING)

    def removed_job() -> None:
        copy = hook.duplicate_pipeline(pipeline_id=ctx["definition"].pipeline_id)
        trimmed = hook.remove_job_from_pipeline(pipeline_id=copy.pipeline_id, job_id=ctx["job"].id)
        assert trimmed.pipeline_id == copy.pipeline_id and trimmed.job_runs == ()

    def scheduled() -> None:
        schedule = hook.create_schedule(
            schedule_name="s", pipeline_id=ctx["definition"].pipeline_id, cron_expression="0 1 * * *"
        )
        assert (schedule.schedule_name, schedule.cron_expression) == ("s", "0 1 * * *") and schedule.next_run
        assert state.schedules[schedule.id].team == team
        ctx["schedule"] = schedule

    def got_schedule() -> None:
        schedule = hook.get_schedule(schedule_id=ctx["schedule"].id)
        assert (schedule.id, schedule.schedule_name) == (ctx["schedule"].id, "s")

    def listed_schedules() -> None:
        assert [s.id for s in hook.list_schedules()] == [ctx["schedule"].id]

    def updated_schedule() -> None:
        schedule = hook.update_schedule(schedule_id=ctx["schedule"].id, pause_pipeline=True)
        assert schedule.id == ctx["schedule"].id and schedule.next_run is None
        assert state.schedules[schedule.id].paused

    def deleted_schedule() -> None:
        assert hook.delete_schedule(schedule_id=ctx["schedule"].id) is True
        assert ctx["schedule"].id not in state.schedules

    def grouped() -> None:
        group = hook.create_access_group(name="contract", description="d")
        assert (group["name"], group["description"], group["member_count"]) == ("contract", "d", 0)
        assert state.rbac.groups[group["id"]].team == team
        ctx["group"] = group

    def listed_groups() -> None:
        assert [g["id"] for g in hook.list_access_groups()] == [ctx["group"]["id"]]

    def renamed_group() -> None:
        group = hook.update_access_group(group_id=ctx["group"]["id"], name="renamed")
        assert (group["id"], group["name"], group["description"]) == (ctx["group"]["id"], "renamed", "d")

    def added_member() -> None:
        member = hook.add_access_group_member(group_id=ctx["group"]["id"], user_id=1, role="read")
        assert (member["user_id"], member["role"]) == (1, "read")

    def listed_members() -> None:
        found = hook.list_access_group_members(group_id=ctx["group"]["id"])
        assert [(m["user_id"], m["role"]) for m in found] == [(1, "read")]

    def updated_member() -> None:
        member = hook.update_access_group_member(group_id=ctx["group"]["id"], user_id=1, role="write")
        assert (member["user_id"], member["role"]) == (1, "write")

    def removed_member() -> None:
        hook.remove_access_group_member(group_id=ctx["group"]["id"], user_id=1)
        assert state.rbac.groups[ctx["group"]["id"]].members == {}

    def ruled() -> None:
        rule = hook.create_access_rule(
            resource_type="namespace", resource_id="@local", permission="read", group_id=ctx["group"]["id"]
        )
        assert (rule["resource_type"], rule["permission"], rule["group_id"]) == (
            "namespace", "read", ctx["group"]["id"]
        )
        assert state.rbac.rules[rule["id"]].team == team
        ctx["rule"] = rule

    def listed_rules() -> None:
        assert [r["id"] for r in hook.list_access_rules()] == [ctx["rule"]["id"]]

    def updated_rule() -> None:
        rule = hook.update_access_rule(rule_id=ctx["rule"]["id"], permission="write")
        assert (rule["id"], rule["permission"]) == (ctx["rule"]["id"], "write")

    def deleted_rule() -> None:
        hook.delete_access_rule(rule_id=ctx["rule"]["id"])
        assert ctx["rule"]["id"] not in state.rbac.rules

    def deleted_group() -> None:
        hook.delete_access_group(group_id=ctx["group"]["id"])
        assert ctx["group"]["id"] not in state.rbac.groups

    calls: dict[str, Callable[[], None]] = {
        "upload_file": uploaded,
        "create_job": created_job,
        "list_jobs": listed_jobs,
        "get_job": got_job,
        "get_job_logs": got_logs,
        "get_log_blob": got_blob,
        "cancel_job": cancelled,
        "list_clusters": clusters,
        "list_datasets": datasets,
        "get_dataset_info": dataset_info,
        "get_dataset_job_versions": job_versions,
        "ls": listed_storage,
        "trigger_pipeline": triggered,
        "run_pipeline": ran,
        "get_pipeline": got_pipeline,
        "list_pipelines": listed_pipelines,
        "update_pipeline_settings": settings,
        "duplicate_pipeline": duplicated,
        "pause_pipeline": paused,
        "resume_pipeline": resumed,
        "remove_job_from_pipeline": removed_job,
        "create_schedule": scheduled,
        "get_schedule": got_schedule,
        "list_schedules": listed_schedules,
        "update_schedule": updated_schedule,
        "delete_schedule": deleted_schedule,
        "create_access_group": grouped,
        "list_access_groups": listed_groups,
        "update_access_group": renamed_group,
        "add_access_group_member": added_member,
        "list_access_group_members": listed_members,
        "update_access_group_member": updated_member,
        "remove_access_group_member": removed_member,
        "create_access_rule": ruled,
        "list_access_rules": listed_rules,
        "update_access_rule": updated_rule,
        "delete_access_rule": deleted_rule,
        "delete_access_group": deleted_group,
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
    # Nothing landed in the token's first team.
    assert all(job.team == team for job in state.jobs.values())
    assert all(item.team == team for item in state.pipelines.values())


def test_log_lines_keep_the_servers_ids(hook: StudioHook) -> None:
    """The emulator numbers these lines 5, 12, 19: a client that numbered them by position would say 1, 2, 3."""
    environment = {
        **SIMULATED,
        "STUDIO_EMULATOR_DURATION": "0.05",
        "STUDIO_EMULATOR_LOG_TEXT": "alpha\\nbeta\\ngamma",
        "STUDIO_EMULATOR_LOG_ID_START": "5",
        "STUDIO_EMULATOR_LOG_ID_STEP": "7",
    }
    job = wait_for_job(hook, hook.create_job(query="x", environment=environment).id)
    assert job.status is JobStatus.COMPLETE
    lines = hook.get_job_logs(job_id=job.id)
    assert [(line.id, line.message) for line in lines] == [(5, "alpha\n"), (12, "beta\n"), (19, "gamma\n")]
