"""Bad input fails while the request is built: a ``ValueError`` naming the parameter, nothing sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import respx

from studio_provider.client import endpoints

from .conftest import TEAM, async_client, sync_client

Call = Callable[[Any], Any]

# (id, call, words every one of which the message must contain)
BAD_INPUT: list[tuple[str, Call, tuple[str, ...]]] = [
    (
        "cluster-name-and-id",
        lambda c: c.create_job(query="q", compute_cluster_name="big", compute_cluster_id=3),
        ("compute_cluster_name", "compute_cluster_id", "exclusive"),
    ),
    ("query-type", lambda c: c.create_job(query="q", query_type="RUBY"), ("query_type", "RUBY")),
    ("empty-query", lambda c: c.create_job(query="  "), ("query",)),
    ("priority-7", lambda c: c.create_job(query="q", priority=7), ("priority", "7")),
    ("priority-negative", lambda c: c.create_job(query="q", priority=-1), ("priority",)),
    ("priority-not-int", lambda c: c.create_job(query="q", priority="high"), ("priority", "high")),
    ("workers-0", lambda c: c.create_job(query="q", workers=0), ("workers", "0")),
    ("workers-bool", lambda c: c.create_job(query="q", workers=True), ("workers",)),
    (
        "job-cron",
        lambda c: c.create_job(query="q", cron_expression="every day"),
        ("cron_expression", "every day"),
    ),
    ("job-cron-4-fields", lambda c: c.create_job(query="q", cron_expression="* * * *"), ("cron_expression",)),
    (
        "start-after-text",
        lambda c: c.create_job(query="q", start_after="tomorrow"),
        ("start_after", "tomorrow"),
    ),
    ("start-after-date", lambda c: c.create_job(query="q", start_after="2024-13-40"), ("start_after",)),
    ("start-after-type", lambda c: c.create_job(query="q", start_after=1700000000), ("start_after",)),
    ("environment-key", lambda c: c.create_job(query="q", environment={"A=B": "1"}), ("environment", "A=B")),
    (
        "environment-newline",
        lambda c: c.create_job(query="q", environment={"A": "1\n2"}),
        ("environment", "A"),
    ),
    ("files-string", lambda c: c.create_job(query="q", files="12"), ("files",)),
    ("files-empty-id", lambda c: c.create_job(query="q", files=["1", ""]), ("files",)),
    ("requirements-type", lambda c: c.create_job(query="q", requirements=[1, 2]), ("requirements",)),
    ("get-job-empty-id", lambda c: c.get_job(job_id=""), ("job_id",)),
    ("cancel-job-empty-id", lambda c: c.cancel_job(job_id=" "), ("job_id",)),
    ("logs-empty-id", lambda c: c.get_job_logs(job_id=""), ("job_id",)),
    ("dataset-versions-empty-id", lambda c: c.get_dataset_job_versions(job_id=""), ("job_id",)),
    ("list-jobs-limit", lambda c: c.list_jobs(limit=0), ("limit",)),
    ("list-pipelines-limit", lambda c: c.list_pipelines(limit=-5), ("limit",)),
    ("dataset-info-name", lambda c: c.get_dataset_info(namespace="n", project="p", name=""), ("name",)),
    ("ls-source", lambda c: c.ls(source=""), ("source",)),
    ("datasets-empty", lambda c: c.trigger_pipeline(datasets=[]), ("datasets",)),
    ("datasets-string", lambda c: c.trigger_pipeline(datasets="cats"), ("datasets",)),
    ("datasets-space", lambda c: c.trigger_pipeline(datasets=["my cats"]), ("datasets", "my cats")),
    (
        "datasets-version",
        lambda c: c.trigger_pipeline(datasets=["cats@v1.x"]),
        ("datasets", "cats@v1.x", "@vX.Y.Z"),
    ),
    (
        "datasets-at-short",
        lambda c: c.trigger_pipeline(datasets=["@ns.cats"]),
        ("datasets", "@ns.cats", "@namespace"),
    ),
    ("run-definition", lambda c: c.run_pipeline(definition_id=""), ("definition_id",)),
    ("get-pipeline-neither", lambda c: c.get_pipeline(), ("pipeline_id", "name")),
    ("pause-neither", lambda c: c.pause_pipeline(pipeline_id="", name=None), ("pipeline_id", "name")),
    ("resume-neither", lambda c: c.resume_pipeline(), ("pipeline_id", "name")),
    ("duplicate-neither", lambda c: c.duplicate_pipeline(), ("pipeline_id", "name")),
    ("remove-job-no-job", lambda c: c.remove_job_from_pipeline(job_id="", name="p"), ("job_id",)),
    ("remove-job-no-pipeline", lambda c: c.remove_job_from_pipeline(job_id="j"), ("pipeline_id", "name")),
    ("settings-name", lambda c: c.update_pipeline_settings(pipeline_name=""), ("pipeline_name",)),
    ("settings-priority", lambda c: c.update_pipeline_settings(pipeline_name="p", priority=9), ("priority",)),
    (
        "schedule-cron",
        lambda c: c.create_schedule(schedule_name="s", cron_expression="61 * * * *", pipeline_name="p"),
        ("cron_expression", "61 * * * *"),
    ),
    (
        "schedule-no-pipeline",
        lambda c: c.create_schedule(schedule_name="s", cron_expression="0 3 * * *"),
        ("pipeline_id", "pipeline_name"),
    ),
    (
        "schedule-start-after",
        lambda c: c.create_schedule(
            schedule_name="s", cron_expression="0 3 * * *", pipeline_id="p", start_after="x"
        ),
        ("start_after",),
    ),
    ("update-schedule-id", lambda c: c.update_schedule(schedule_id="seven"), ("schedule_id",)),
    (
        "update-schedule-cron",
        lambda c: c.update_schedule(schedule_id=1, cron_expression="nope"),
        ("cron_expression",),
    ),
    ("delete-schedule-id", lambda c: c.delete_schedule(schedule_id=-1), ("schedule_id",)),
    ("get-schedule-id", lambda c: c.get_schedule(schedule_id=None), ("schedule_id",)),
    ("group-name", lambda c: c.create_access_group(name=""), ("name",)),
    ("group-id", lambda c: c.update_access_group(group_id="", name="x"), ("group_id",)),
    (
        "member-user",
        lambda c: c.add_access_group_member(group_id="g", user_id="12", role="write"),
        ("user_id",),
    ),
    ("member-role", lambda c: c.update_access_group_member(group_id="g", user_id=1, role=""), ("role",)),
    ("member-path-user", lambda c: c.remove_access_group_member(group_id="g", user_id=None), ("user_id",)),
    (
        "rule-no-grantee",
        lambda c: c.create_access_rule(resource_type="namespace", resource_id="n", permission="read"),
        ("user_id", "group_id"),
    ),
    (
        "rule-permission",
        lambda c: c.create_access_rule(resource_type="namespace", resource_id="n", permission="", user_id=1),
        ("permission",),
    ),
    ("rule-id", lambda c: c.delete_access_rule(rule_id=""), ("rule_id",)),
    ("upload-bytes-no-name", lambda c: c.upload_file(file=b"print(1)"), ("file_name",)),
    ("upload-wrong-type", lambda c: c.upload_file(file=42), ("file",)),
]


@pytest.mark.parametrize(
    ("call", "words"), [(c, w) for _, c, w in BAD_INPUT], ids=[i for i, _, _ in BAD_INPUT]
)
def test_bad_input_is_refused_before_sending(
    call: Call, words: tuple[str, ...], router: respx.MockRouter
) -> None:
    route = router.route()  # any request at all would be recorded here
    with sync_client(router) as client, pytest.raises(ValueError) as info:
        call(client)
    assert route.call_count == 0
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (c, w)
        for i, c, w in BAD_INPUT
        if i in ("cluster-name-and-id", "priority-7", "get-pipeline-neither", "datasets-empty")
    ],
)
async def test_bad_input_is_refused_before_sending_async(
    call: Call, words: tuple[str, ...], router: respx.MockRouter
) -> None:
    route = router.route()
    async with async_client(router) as client:
        with pytest.raises(ValueError) as info:
            await call(client)
    assert route.call_count == 0
    assert all(word in str(info.value) for word in words)


def test_upload_missing_path(tmp_path: Path, router: respx.MockRouter) -> None:
    route = router.route()
    missing = tmp_path / "nowhere.py"
    with sync_client(router) as client, pytest.raises(ValueError) as info:
        client.upload_file(file=missing)
    assert route.call_count == 0
    assert "file" in str(info.value)
    assert str(missing) in str(info.value)


def test_upload_directory_is_refused(tmp_path: Path, router: respx.MockRouter) -> None:
    route = router.route()
    with sync_client(router) as client, pytest.raises(ValueError, match="not a regular file"):
        client.upload_file(file=str(tmp_path))
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({"start_after": "2021-01-01T00:00:00Z"}, "2021-01-01T00:00:00Z"),
        ({"start_after": " 2021-01-01T05:30:00+05:30 "}, "2021-01-01T05:30:00+05:30"),
        ({"start_after": "2021-01-01"}, "2021-01-01"),
    ],
)
def test_valid_iso_strings_are_accepted(kwargs: dict[str, str], sent: str) -> None:
    request = endpoints.create_job(TEAM, query="q", **kwargs)
    assert request.json is not None
    assert request.json["start_after"] == sent


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/5 * * * *", "0 0 1 1 *", "0 3 * * 1-5"])
def test_valid_cron_expressions_are_accepted(cron: str) -> None:
    request = endpoints.create_schedule(TEAM, schedule_name="s", cron_expression=cron, pipeline_id="p")
    assert request.json is not None
    assert request.json["cron_expression"] == cron


@pytest.mark.parametrize(
    "ref",
    [
        "@amritghimire.project_name.dataset_name@v1.0.0",
        "@amritghimire.project_name.dataset_name",
        "dataset_name",
        "dataset_name@v1.0.0",
        "dataset_name@v3",
    ],
)
def test_valid_dataset_refs_are_accepted(ref: str) -> None:
    request = endpoints.trigger_pipeline(TEAM, datasets=[ref])
    assert request.json == {"datasets": [ref], "team_name": TEAM}


@pytest.mark.parametrize("priority", [0, 5])
def test_priority_bounds_are_inclusive(priority: int) -> None:
    request = endpoints.create_job(TEAM, query="q", priority=priority)
    assert request.json is not None
    assert request.json["priority"] == priority


# ---------------------------------------------------------------------------------------------
# ids in paths: no dot segments (httpx would resolve them and send another request)
# ---------------------------------------------------------------------------------------------

DOT_IDS: list[tuple[str, Call, str]] = [
    ("delete-rule-dot", lambda c: c.delete_access_rule(rule_id="."), "rule_id"),
    ("update-rule-dotdot", lambda c: c.update_access_rule(rule_id="..", permission="read"), "rule_id"),
    ("cancel-dot", lambda c: c.cancel_job(job_id="."), "job_id"),
    ("cancel-dotdot", lambda c: c.cancel_job(job_id=".."), "job_id"),
    ("logs-dotdot", lambda c: c.get_job_logs(job_id=".."), "job_id"),
    ("update-group-dotdot", lambda c: c.update_access_group(group_id="..", name="x"), "group_id"),
    ("delete-group-dot", lambda c: c.delete_access_group(group_id="."), "group_id"),
    ("members-dot", lambda c: c.list_access_group_members(group_id="."), "group_id"),
    ("remove-member-dotdot", lambda c: c.remove_access_group_member(group_id="..", user_id=1), "group_id"),
    ("empty-rule", lambda c: c.delete_access_rule(rule_id=""), "rule_id"),
]


@pytest.mark.parametrize(("call", "name"), [(c, n) for _, c, n in DOT_IDS], ids=[i for i, _, _ in DOT_IDS])
def test_dot_segment_ids_are_refused_before_sending(call: Call, name: str, router: respx.MockRouter) -> None:
    route = router.route()
    with sync_client(router) as client, pytest.raises(ValueError) as info:
        call(client)
    assert route.call_count == 0
    assert name in str(info.value)


def test_ids_with_dots_inside_are_kept() -> None:
    request = endpoints.cancel_job(TEAM, job_id="a.b..c")
    assert request.path == "datachain/jobs/a.b..c/cancel"


# ---------------------------------------------------------------------------------------------
# arguments that used to pass here and fail later
# ---------------------------------------------------------------------------------------------

LATE_FAILURES: list[tuple[str, Call, tuple[str, ...]]] = [
    (
        "cron-7-fields",
        lambda c: c.create_job(query="q", cron_expression="0 0 1 1 * 0 2030"),
        ("cron_expression", "0 0 1 1 * 0 2030"),
    ),
    (
        "schedule-cron-7-fields",
        lambda c: c.create_schedule(schedule_name="s", cron_expression="* * * * * * *", pipeline_id="p"),
        ("cron_expression",),
    ),
    ("list-jobs-unknown-status", lambda c: c.list_jobs(status="DONE"), ("status", "DONE", "COMPLETE")),
    ("list-jobs-unknown-in-list", lambda c: c.list_jobs(status=["RUNNING", "bogus"]), ("status", "bogus")),
    ("list-jobs-unknown-member", lambda c: c.list_jobs(status="UNKNOWN"), ("status", "UNKNOWN")),
    ("list-pipelines-unknown-status", lambda c: c.list_pipelines(status="COMPLETE"), ("status", "COMPLETED")),
    (
        "schedule-neither-cron-nor-start",
        lambda c: c.create_schedule(schedule_name="s", pipeline_id="p"),
        ("cron_expression", "start_after"),
    ),
]


@pytest.mark.parametrize(
    ("call", "words"), [(c, w) for _, c, w in LATE_FAILURES], ids=[i for i, _, _ in LATE_FAILURES]
)
def test_input_that_would_fail_later_is_refused_now(
    call: Call, words: tuple[str, ...], router: respx.MockRouter
) -> None:
    route = router.route()
    with sync_client(router) as client, pytest.raises(ValueError) as info:
        call(client)
    assert route.call_count == 0
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


def test_six_field_cron_is_still_accepted() -> None:
    request = endpoints.create_job(TEAM, query="q", cron_expression="0 3 * * * 30")
    assert request.json is not None
    assert request.json["cron_expression"] == "0 3 * * * 30"


def test_a_schedule_may_have_only_start_after() -> None:
    request = endpoints.create_schedule(
        TEAM, schedule_name="once", pipeline_id="p", start_after="2030-01-01T00:00:00Z"
    )
    assert request.json == {
        "schedule_name": "once",
        "team_name": TEAM,
        "pipeline_id": "p",
        "start_after": "2030-01-01T00:00:00Z",
    }


def test_status_filters_accept_any_case_of_known_names() -> None:
    request = endpoints.list_jobs(TEAM, status=["running", "Complete"])
    assert ("status", "RUNNING") in request.params
    assert ("status", "COMPLETE") in request.params
