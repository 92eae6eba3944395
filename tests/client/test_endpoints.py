"""Request shapes of every API call, checked against the Studio API reference (seed 002, and seed 000 for
datasets and ``ls``): method, exact path, where ``team_name`` goes, body, and how the answer is decoded.

Every case runs through the blocking and the asyncio client.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import respx

import studio_provider
from studio_provider.client import (
    API_CALLS,
    Cluster,
    DatasetVersionRef,
    Job,
    JobStatus,
    LogLine,
    Pipeline,
    PipelineStatus,
    Schedule,
    StudioAPIError,
    StudioConfig,
    StudioNotFoundError,
    UploadedFile,
    msgpack_codec,
)
from studio_provider.emulator.msgpack_wire import packb

from .conftest import TEAM, TOKEN, async_client, json_body, query_pairs, sync_client

# ---------------------------------------------------------------------------------------------
# payloads, as the API reference shows them
# ---------------------------------------------------------------------------------------------

JOB_ID = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
OTHER_JOB_ID = "550e8400-e29b-41d4-a716-446655440000"
PIPELINE_ID = "ec036e81-7903-4e4d-bbfa-ac8516341cf0"
GROUP_ID = "306db4e0-7449-4501-b76f-075576fe2d8f"
RULE_ID = "9b2f3c1e-0000-4000-8000-000000000001"

JOB = {
    "id": JOB_ID,
    "url": f"https://studio.datachain.ai/team/{TEAM}/datasets/jobs/{JOB_ID}",
    "status": "CREATED",
    "created_at": "2021-01-01T00:00:00Z",
    "finished_at": None,
    "name": "QueryName",
    "exit_code": None,
    "error_message": "",
}
PIPELINE = {
    "pipeline_id": PIPELINE_ID,
    "status": "RUNNING",
    "job_runs": [
        {
            "job_id": "453bd7d7-5355-4d6d-a38e-d9e7eb218c3f",
            "status": "COMPLETE",
            "parent_job_ids": [JOB_ID],
            "name": "step",
            "created_job_id": "31f5fe21-b847-420d-8689-ef5a1d3104a4",
        }
    ],
    "completed": 10,
    "total": 16,
    "name": "rathe-kyat",
    "is_definition": False,
}
SCHEDULE = {
    "id": 7,
    "schedule_name": "nightly",
    "cron_expression": "0 3 * * *",
    "next_run": "2019-08-24T14:15:22Z",
    # a full schedule object also carries its pipeline: it must not be taken for an envelope
    "pipeline": PIPELINE,
    "latest_run": PIPELINE,
}
GROUP = {"id": GROUP_ID, "name": "prod", "description": "", "member_count": 0}
MEMBER = {"user_id": 12, "username": "ann", "email": "ann@example.com", "role": "write"}
RULE = {"id": RULE_ID, "resource_type": "namespace", "permission": "write", "user_id": 12}


def check_pipeline(result: Any) -> None:
    assert isinstance(result, Pipeline)
    assert result.pipeline_id == PIPELINE_ID
    assert result.status is PipelineStatus.RUNNING
    assert (result.completed, result.total, result.name) == (10, 16, "rathe-kyat")
    assert result.job_runs[0].created_job_id == "31f5fe21-b847-420d-8689-ef5a1d3104a4"
    assert result.job_runs[0].status is JobStatus.COMPLETE
    assert result.job_runs[0].parent_job_ids == (JOB_ID,)


def check_schedule(result: Any) -> None:
    assert isinstance(result, Schedule)
    assert (result.id, result.schedule_name, result.cron_expression) == (7, "nightly", "0 3 * * *")
    assert result.next_run == "2019-08-24T14:15:22Z"


def check_job(result: Any) -> None:
    assert isinstance(result, Job)
    assert result.id == JOB_ID
    assert result.status is JobStatus.CREATED
    assert result.url == JOB["url"]
    assert result.error_message is None  # an empty message is no message


# ---------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------

Q = [("team_name", TEAM)]  # the query string of a GET / RBAC call that has no other parameter


@dataclass
class Case:
    """One call: its arguments, the request the reference expects, a response, and the decoded result."""

    id: str
    call: str
    kwargs: dict[str, Any]
    method: str
    path: str  # the full URL path, /api included, exact slashes
    query: list[tuple[str, str]]
    body: Any  # the exact JSON body, or None (no body / multipart)
    response: Callable[[], httpx.Response]
    check: Callable[[Any], None]
    check_request: Callable[[httpx.Request], None] | None = None
    accept: str = "application/json"


def ok(payload: Any, status: int = 200) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json=payload)


def no_content() -> httpx.Response:
    return httpx.Response(204)


def check_upload(request: httpx.Request) -> None:
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts = [p for p in request.content.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    assert len(parts) == 1
    head, _, content = parts[0].partition(b"\r\n\r\n")
    assert b'Content-Disposition: form-data; name="file"; filename="job.py"' in head
    assert content.endswith(b"\r\n")  # the delimiter's CRLF belongs to the boundary, not the file
    assert content[:-2] == b"print('hello')\r\n"


def msgpack_ls_response() -> httpx.Response:
    """The ``ls`` answer, encoded with the project's own encoder."""
    payload = {
        "data": [
            {"name": "a.jpg", "size": 3, "last_modified": datetime(2024, 1, 1, 12, 0)},
            {"name": "dir", "size": None, "last_modified": datetime(2024, 1, 1, 13, 0, tzinfo=timezone.utc)},
        ],
        "message": "",
    }
    return httpx.Response(
        200, content=packb(payload), headers={"content-type": "application/msgpack"}
    )


def check_ls(result: Any) -> None:
    assert result == [
        {"name": "a.jpg", "size": 3, "last_modified": datetime(2024, 1, 1, 12, 0)},
        {"name": "dir", "size": None, "last_modified": datetime(2024, 1, 1, 13, 0, tzinfo=timezone.utc)},
    ]
    assert result[0]["last_modified"].tzinfo is None
    assert result[1]["last_modified"].utcoffset() == timedelta(0)


def check_ok_true(result: Any) -> None:
    assert result is True


def check_none(result: Any) -> None:
    assert result is None


def check_dict(expected: dict[str, Any]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result == expected

    return check


def check_list_of(expected: list[dict[str, Any]]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result == expected
        assert all(isinstance(item, dict) for item in result)

    return check


def check_jobs(result: Any) -> None:
    assert isinstance(result, list) and len(result) == 2
    assert all(isinstance(job, Job) for job in result)
    assert [job.id for job in result] == [JOB_ID, OTHER_JOB_ID]
    assert [job.status for job in result] == [JobStatus.RUNNING, JobStatus.QUEUED]


def check_get_job(result: Any) -> None:
    assert isinstance(result, Job)
    # the server ignored the filter: the client picks the job it asked for
    assert result.id == JOB_ID
    assert result.status is JobStatus.RUNNING


def check_logs(result: Any) -> None:
    assert result == [LogLine(id=3, message="first\n"), LogLine(id=4, message="second\n")]


def _assert_equal(result: Any, expected: Any) -> None:
    assert result == expected


def check_text_logs(result: Any) -> None:
    assert result == [LogLine(id=1, message="first\n"), LogLine(id=2, message="second\n")]


def check_upload_result(result: Any) -> None:
    assert isinstance(result, UploadedFile)
    assert (result.id, result.filename, result.size, result.state) == ("1", "job.py", 15, "pending")


def check_clusters(result: Any) -> None:
    assert result == [Cluster(raw={}, id=1, name="ComputeClusterName", status="ACTIVE", is_default=True)]
    assert result[0].is_default is True


def check_versions(result: Any) -> None:
    assert result == [DatasetVersionRef("cats", "1.0.0"), DatasetVersionRef("dogs", "2.1.0")]


def check_pipelines(result: Any) -> None:
    assert isinstance(result, list) and len(result) == 1
    check_pipeline(result[0])


def check_schedules(result: Any) -> None:
    assert isinstance(result, list) and len(result) == 1
    check_schedule(result[0])


START = datetime(2021, 1, 1, 0, 0, tzinfo=timezone.utc)

CREATE_JOB_COMMON = {
    "query": "print('Hello, World!')",
    "query_type": "shell",  # normalized to upper case
    "query_name": "QueryName",
    "environment": {"ENV_NAME": "ENV_VALUE", "OTHER": 2},
    "workers": 3,
    "files": [2, "3"],
    "python_version": "3.13",
    "requirements": ["numpy==1.24.0", "pandas"],
    "repository": "https://github.com/user/repo",
    "priority": 1,
    "start_after": START,
    "cron_expression": "0 0 * * *",
    "credentials_name": "CredentialsName",
    "reset": False,
    "rerun_from_job_id": OTHER_JOB_ID,
}
CREATE_JOB_BODY = {
    "query": "print('Hello, World!')",
    "query_type": "SHELL",
    "team_name": TEAM,
    "query_name": "QueryName",
    "environment": "ENV_NAME=ENV_VALUE\nOTHER=2",
    "workers": 3,
    "files": ["2", "3"],
    "python_version": "3.13",
    "requirements": "numpy==1.24.0\npandas",
    "repository": "https://github.com/user/repo",
    "priority": 1,
    "start_after": "<checked as a datetime>",
    "cron_expression": "0 0 * * *",
    "credentials_name": "CredentialsName",
    "reset": False,
    "rerun_from_job_id": OTHER_JOB_ID,
}


def check_start_after(request: httpx.Request) -> None:
    sent = json_body(request)["start_after"]
    parsed = datetime.fromisoformat(sent.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None, f"start_after {sent!r} must carry its UTC offset"
    assert parsed == START


RBAC_GROUPS = "/api/datachain/rbac/access-groups/"
RBAC_RULES = "/api/datachain/rbac/access-rules/"

CASES: list[Case] = [
    # ---- jobs ----
    Case(
        "list_jobs",
        "list_jobs",
        {"status": ["running", JobStatus.QUEUED], "limit": 5, "include_steps": True},
        "GET",
        "/api/datachain/jobs/",
        [*Q, ("status", "RUNNING"), ("status", "QUEUED"), ("limit", "5"), ("include_steps", "true")],
        None,
        ok([{**JOB, "status": "RUNNING"}, {**JOB, "id": OTHER_JOB_ID, "status": "queued"}]),
        check_jobs,
    ),
    Case(
        "list_jobs-defaults",
        "list_jobs",
        {},
        "GET",
        "/api/datachain/jobs/",
        [*Q, ("limit", "20")],
        None,
        ok({"jobs": [{**JOB, "status": "RUNNING"}, {**JOB, "id": OTHER_JOB_ID, "status": "QUEUED"}]}),
        check_jobs,
    ),
    Case(
        "get_job",
        "get_job",
        {"job_id": JOB_ID},
        "GET",
        "/api/datachain/jobs/",
        [*Q, ("job_id", JOB_ID), ("limit", "20")],
        None,
        ok([{**JOB, "id": OTHER_JOB_ID}, {**JOB, "status": "RUNNING"}]),
        check_get_job,
    ),
    Case(
        "create_job-cluster_name",
        "create_job",
        {**CREATE_JOB_COMMON, "compute_cluster_name": "ComputeClusterName"},
        "POST",
        "/api/datachain/jobs/",
        [],
        {**CREATE_JOB_BODY, "compute_cluster_name": "ComputeClusterName"},
        ok(JOB),
        check_job,
        check_request=check_start_after,
    ),
    Case(
        "create_job-cluster_id",
        "create_job",
        {**CREATE_JOB_COMMON, "start_after": datetime(2021, 1, 1), "compute_cluster_id": 1},
        "POST",
        "/api/datachain/jobs/",
        [],
        {**CREATE_JOB_BODY, "compute_cluster_id": 1},
        ok(JOB),
        check_job,
        check_request=check_start_after,  # a naive datetime is taken as UTC
    ),
    Case(
        "create_job-minimal",
        "create_job",
        {"query": "echo hi", "query_type": "SHELL"},
        "POST",
        "/api/datachain/jobs/",
        [],
        {"query": "echo hi", "query_type": "SHELL", "team_name": TEAM},
        ok(JOB, status=201),
        check_job,
    ),
    Case(
        "cancel_job",
        "cancel_job",
        {"job_id": JOB_ID},
        "POST",
        f"/api/datachain/jobs/{JOB_ID}/cancel",
        [],
        {"team_name": TEAM},
        ok({"message": "Successfully canceled"}),
        check_dict({"message": "Successfully canceled"}),
    ),
    Case(
        "get_job_logs",
        "get_job_logs",
        {"job_id": JOB_ID},
        "GET",
        f"/api/datachain/jobs/{JOB_ID}/logs",
        Q,
        None,
        ok({"logs": [{"id": 3, "message": "first\n"}, {"id": 4, "message": "second\n"}]}),
        check_logs,
    ),
    Case(
        "get_job_logs-text",
        "get_job_logs",
        {"job_id": JOB_ID},
        "GET",
        f"/api/datachain/jobs/{JOB_ID}/logs",
        Q,
        None,
        lambda: httpx.Response(200, text="first\nsecond\n", headers={"content-type": "text/plain"}),
        check_text_logs,
    ),
    Case(
        "get_log_blob",
        "get_log_blob",
        {"url": "https://studio.test/media/logs/blob-1.txt?sig=abc"},
        "GET",
        "/media/logs/blob-1.txt",
        [("sig", "abc")],
        None,
        lambda: httpx.Response(200, text="older line\n", headers={"content-type": "text/plain"}),
        lambda result: _assert_equal(result, "older line\n"),
        accept="*/*",
    ),
    Case(
        "upload_file",
        "upload_file",
        {"file": b"print('hello')\r\n", "file_name": "job.py"},
        "POST",
        "/api/datachain/jobs/files",
        Q,
        None,
        ok({"id": 1, "filename": "job.py", "size": 15, "state": "pending", "error": None}),
        check_upload_result,
        check_request=check_upload,
    ),
    Case(
        "list_clusters",
        "list_clusters",
        {},
        "GET",
        "/api/datachain/clusters/",
        Q,
        None,
        ok([{"id": 1, "name": "ComputeClusterName", "status": "ACTIVE", "default": True, "max_workers": 1}]),
        check_clusters,
    ),
    # ---- datasets (seed 000) ----
    Case(
        "list_datasets",
        "list_datasets",
        {"prefix": "training"},
        "GET",
        "/api/datachain/datasets",
        [*Q, ("prefix", "training")],
        None,
        ok([{"id": 1, "name": "training_images", "versions": []}]),
        check_list_of([{"id": 1, "name": "training_images", "versions": []}]),
    ),
    Case(
        "get_dataset_info",
        "get_dataset_info",
        {"namespace": "default", "project": "cv", "name": "training_images"},
        "GET",
        "/api/datachain/datasets/info",
        [*Q, ("namespace", "default"), ("project", "cv"), ("name", "training_images")],
        None,
        ok({"id": 1974, "name": "training_images", "status": 4, "versions": [{"version": "1.0.0"}]}),
        check_dict({"id": 1974, "name": "training_images", "status": 4, "versions": [{"version": "1.0.0"}]}),
    ),
    Case(
        "get_dataset_job_versions",
        "get_dataset_job_versions",
        {"job_id": JOB_ID},
        "GET",
        "/api/datachain/datasets/dataset_job_versions",
        [*Q, ("job_id", JOB_ID)],
        None,
        ok(
            {
                "dataset_versions": [
                    {"dataset_name": "cats", "version": "1.0.0"},
                    {"dataset_name": "dogs", "version": "2.1.0"},
                ]
            }
        ),
        check_versions,
    ),
    Case(
        "ls",
        "ls",
        {"source": "s3://bucket/prefix"},
        "POST",
        "/api/datachain/ls",
        [],
        {"source": "s3://bucket/prefix", "team_name": TEAM},
        msgpack_ls_response,
        check_ls,
        accept="application/msgpack",
    ),
    Case(
        "ls-indexing",
        "ls",
        {"source": "s3://bucket/prefix"},
        "POST",
        "/api/datachain/ls",
        [],
        {"source": "s3://bucket/prefix", "team_name": TEAM},
        lambda: httpx.Response(200, content=msgpack.packb({"data": None, "message": "indexing"})),
        check_none,
        accept="application/msgpack",
    ),
    # ---- pipelines ----
    Case(
        "trigger_pipeline",
        "trigger_pipeline",
        {
            "datasets": [
                "@amritghimire.project_name.dataset_name@v1.0.0",
                "@amritghimire.project_name.dataset_name",
                "dataset_name",
                "dataset_name@v1.0.0",
            ]
        },
        "POST",
        "/api/datachain/pipeline/trigger",
        [],
        {
            "datasets": [
                "@amritghimire.project_name.dataset_name@v1.0.0",
                "@amritghimire.project_name.dataset_name",
                "dataset_name",
                "dataset_name@v1.0.0",
            ],
            "team_name": TEAM,
        },
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "run_pipeline",
        "run_pipeline",
        {"definition_id": "def-1"},
        "POST",
        "/api/datachain/pipeline/run",
        [],
        {"team_name": TEAM, "definition_id": "def-1"},
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "get_pipeline-by-name",
        "get_pipeline",
        {"name": "rathe-kyat"},
        "GET",
        "/api/datachain/pipeline/status",
        [*Q, ("name", "rathe-kyat")],
        None,
        ok(PIPELINE),  # the reference answers the bare object here
        check_pipeline,
    ),
    Case(
        "get_pipeline-by-id",
        "get_pipeline",
        {"pipeline_id": PIPELINE_ID},
        "GET",
        "/api/datachain/pipeline/status",
        [*Q, ("pipeline_id", PIPELINE_ID)],
        None,
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "list_pipelines",
        "list_pipelines",
        {"status": [PipelineStatus.RUNNING, "paused"], "limit": 10, "search": "nightly"},
        "GET",
        "/api/datachain/pipeline/list",
        [*Q, ("status", "RUNNING"), ("status", "PAUSED"), ("limit", "10"), ("search", "nightly")],
        None,
        ok([PIPELINE]),
        check_pipelines,
    ),
    Case(
        "pause_pipeline",
        "pause_pipeline",
        {"pipeline_id": PIPELINE_ID},
        "POST",
        "/api/datachain/pipeline/pause",
        [],
        {"team_name": TEAM, "pipeline_id": PIPELINE_ID},
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "resume_pipeline",
        "resume_pipeline",
        {"name": "rathe-kyat"},
        "POST",
        "/api/datachain/pipeline/resume",
        [],
        {"team_name": TEAM, "name": "rathe-kyat"},
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "duplicate_pipeline",
        "duplicate_pipeline",
        {"pipeline_id": PIPELINE_ID, "name": "rathe-kyat"},
        "POST",
        "/api/datachain/pipeline/duplicate",
        [],
        {"team_name": TEAM, "pipeline_id": PIPELINE_ID, "name": "rathe-kyat"},
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "remove_job_from_pipeline",
        "remove_job_from_pipeline",
        {"pipeline_id": PIPELINE_ID, "job_id": JOB_ID},
        "POST",
        "/api/datachain/pipeline/remove-job",
        [],
        {"team_name": TEAM, "pipeline_id": PIPELINE_ID, "job_id": JOB_ID},
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    Case(
        "update_pipeline_settings",
        "update_pipeline_settings",
        {
            "pipeline_name": "rathy-kyat",
            "python_version": "3.12",
            "requirements": "pandas==2.0.0",
            "repository": "git@github.com:user/repo.git",
            "workers": 4,
            "priority": 5,
            "environment": {"TEST_ENV": "1"},
            "files": ["file_id_1", "file_id_2"],
            "credentials_names": ("cred_name_1",),
        },
        "POST",
        "/api/datachain/pipeline/settings",
        [],
        {
            "team_name": TEAM,
            "pipeline_name": "rathy-kyat",
            "python_version": "3.12",
            "requirements": "pandas==2.0.0",
            "repository": "git@github.com:user/repo.git",
            "workers": 4,
            "priority": 5,
            "environment": "TEST_ENV=1",
            "files": ["file_id_1", "file_id_2"],
            "credentials_names": ["cred_name_1"],
        },
        ok({"ok": True, "pipeline": PIPELINE}),
        check_pipeline,
    ),
    # ---- schedules ----
    Case(
        "create_schedule",
        "create_schedule",
        {
            "schedule_name": "nightly",
            "cron_expression": "0 3 * * *",
            "pipeline_name": "rathy-kyat",
            "start_after": "2019-08-24T14:15:22Z",
        },
        "POST",
        "/api/datachain/pipeline/create-schedule",
        [],
        {
            "schedule_name": "nightly",
            "team_name": TEAM,
            "pipeline_name": "rathy-kyat",
            "start_after": "2019-08-24T14:15:22Z",
            "cron_expression": "0 3 * * *",
        },
        ok({"ok": True, "schedule": SCHEDULE}),
        check_schedule,
    ),
    Case(
        "update_schedule",
        "update_schedule",
        {
            "schedule_id": 7,
            "schedule_name": "nightly",
            "cron_expression": "0 3 * * *",
            "pause_pipeline": True,
        },
        "POST",
        "/api/datachain/pipeline/update-schedule",
        [],
        {
            "schedule_name": "nightly",
            "team_name": TEAM,
            "schedule_id": 7,
            "cron_expression": "0 3 * * *",
            "pause_pipeline": True,
        },
        ok({"ok": True, "schedule": SCHEDULE}),
        check_schedule,
    ),
    Case(
        "delete_schedule",
        "delete_schedule",
        {"schedule_id": 7},
        "POST",
        "/api/datachain/pipeline/delete-schedule",
        [],
        {"team_name": TEAM, "schedule_id": 7},
        ok({"ok": True}),
        check_ok_true,
    ),
    Case(
        "get_schedule",
        "get_schedule",
        {"schedule_id": 7},
        "GET",
        "/api/datachain/pipeline/schedule",
        [*Q, ("schedule_id", "7")],
        None,
        ok(SCHEDULE),  # bare PipelineScheduleOutput, which holds a "pipeline" object of its own
        check_schedule,
    ),
    Case(
        "list_schedules",
        "list_schedules",
        {},
        "GET",
        "/api/datachain/pipeline/schedules",
        Q,
        None,
        ok([SCHEDULE]),
        check_schedules,
    ),
    # ---- RBAC: team_name always in the query, never in the body ----
    Case(
        "list_access_groups",
        "list_access_groups",
        {},
        "GET",
        RBAC_GROUPS,
        Q,
        None,
        ok([GROUP]),
        check_list_of([GROUP]),
    ),
    Case(
        "create_access_group",
        "create_access_group",
        {"name": "prod"},
        "POST",
        RBAC_GROUPS,
        Q,
        {"name": "prod", "description": ""},
        ok(GROUP, status=201),
        check_dict(GROUP),
    ),
    Case(
        "update_access_group",
        "update_access_group",
        {"group_id": GROUP_ID, "name": "prod2", "description": "d"},
        "PATCH",
        f"{RBAC_GROUPS}{GROUP_ID}/",
        Q,
        {"name": "prod2", "description": "d"},
        ok(GROUP),
        check_dict(GROUP),
    ),
    Case(
        "delete_access_group",
        "delete_access_group",
        {"group_id": GROUP_ID},
        "DELETE",
        f"{RBAC_GROUPS}{GROUP_ID}/",
        Q,
        None,
        no_content,
        check_none,
    ),
    Case(
        "list_access_group_members",
        "list_access_group_members",
        {"group_id": GROUP_ID},
        "GET",
        f"{RBAC_GROUPS}{GROUP_ID}/members/",
        Q,
        None,
        ok([MEMBER]),
        check_list_of([MEMBER]),
    ),
    Case(
        "add_access_group_member",
        "add_access_group_member",
        {"group_id": GROUP_ID, "user_id": 12, "role": "write"},
        "POST",
        f"{RBAC_GROUPS}{GROUP_ID}/members/",
        Q,
        {"user_id": 12, "role": "write"},
        ok(MEMBER, status=201),
        check_dict(MEMBER),
    ),
    Case(
        "update_access_group_member",
        "update_access_group_member",
        {"group_id": GROUP_ID, "user_id": 12, "role": "read"},
        "PATCH",
        f"{RBAC_GROUPS}{GROUP_ID}/members/12/",
        Q,
        {"role": "read"},
        ok(MEMBER),
        check_dict(MEMBER),
    ),
    Case(
        "remove_access_group_member",
        "remove_access_group_member",
        {"group_id": GROUP_ID, "user_id": 12},
        "DELETE",
        f"{RBAC_GROUPS}{GROUP_ID}/members/12/",
        Q,
        None,
        no_content,
        check_none,
    ),
    Case(
        "list_access_rules",
        "list_access_rules",
        {},
        "GET",
        RBAC_RULES,
        Q,
        None,
        ok([RULE]),
        check_list_of([RULE]),
    ),
    Case(
        "create_access_rule-user",
        "create_access_rule",
        {"resource_type": "namespace", "resource_id": "ns1", "permission": "write", "user_id": 12},
        "POST",
        RBAC_RULES,
        Q,
        {"resource_type": "namespace", "resource_id": "ns1", "permission": "write", "user_id": 12},
        ok(RULE, status=201),
        check_dict(RULE),
    ),
    Case(
        "create_access_rule-group",
        "create_access_rule",
        {"resource_type": "namespace", "resource_id": "ns1", "permission": "read", "group_id": GROUP_ID},
        "POST",
        RBAC_RULES,
        Q,
        {"resource_type": "namespace", "resource_id": "ns1", "permission": "read", "group_id": GROUP_ID},
        ok(RULE, status=201),
        check_dict(RULE),
    ),
    Case(
        "update_access_rule",
        "update_access_rule",
        {"rule_id": RULE_ID, "permission": "read"},
        "PATCH",
        f"{RBAC_RULES}{RULE_ID}/",
        Q,
        {"permission": "read"},
        ok(RULE),
        check_dict(RULE),
    ),
    Case(
        "delete_access_rule",
        "delete_access_rule",
        {"rule_id": RULE_ID},
        "DELETE",
        f"{RBAC_RULES}{RULE_ID}/",
        Q,
        None,
        no_content,
        check_none,
    ),
]


def test_every_api_call_has_a_shape_case() -> None:
    covered = {case.call for case in CASES}
    assert covered == set(API_CALLS), (
        f"calls without a shape case: {sorted(set(API_CALLS) - covered)}; "
        f"cases for unknown calls: {sorted(covered - set(API_CALLS))}"
    )
    assert len({case.id for case in CASES}) == len(CASES)


def check_sent(case: Case, route: respx.Route) -> None:
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == case.method
    assert request.url.scheme == "https" and request.url.host == "studio.test"
    assert request.url.path == case.path
    # order-insensitive, but every repeated key counted (status=RUNNING&status=QUEUED)
    assert sorted(query_pairs(request)) == sorted(case.query)
    if case.body is None:
        assert request.headers.get("content-type", "").startswith("multipart/") or not request.content
    else:
        body = json_body(request)
        if case.check_request is check_start_after:
            assert set(body) == set(case.body)
            body = {**body, "start_after": case.body["start_after"]}
        assert body == case.body
    if case.check_request is not None:
        case.check_request(request)
    assert request.headers["accept"] == case.accept
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_request_shape_sync(case: Case, router: respx.MockRouter) -> None:
    route = router.route().mock(side_effect=lambda request: case.response())
    with sync_client(router) as client:
        result = getattr(client, case.call)(**case.kwargs)
    check_sent(case, route)
    case.check(result)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_request_shape_async(case: Case, router: respx.MockRouter) -> None:
    route = router.route().mock(side_effect=lambda request: case.response())
    async with async_client(router) as client:
        result = await getattr(client, case.call)(**case.kwargs)
    check_sent(case, route)
    case.check(result)


# ---------------------------------------------------------------------------------------------
# details beyond the table
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [[], [{**JOB, "id": OTHER_JOB_ID}]], ids=["empty", "other-job"])
def test_get_job_not_found(payload: list[dict[str, Any]], router: respx.MockRouter) -> None:
    router.get("https://studio.test/api/datachain/jobs/").mock(return_value=httpx.Response(200, json=payload))
    with sync_client(router) as client, pytest.raises(StudioNotFoundError) as info:
        client.get_job(job_id=JOB_ID)
    assert JOB_ID in str(info.value)
    assert TEAM in str(info.value)
    assert info.value.status == 404


async def test_get_job_not_found_async(router: respx.MockRouter) -> None:
    router.get("https://studio.test/api/datachain/jobs/").mock(return_value=httpx.Response(200, json=[]))
    async with async_client(router) as client:
        with pytest.raises(StudioNotFoundError):
            await client.get_job(job_id=JOB_ID)


def _ls_body_from_raw_ext_types() -> bytes:
    """An ``ls`` answer built directly from the wire format (not with the project's encoder)."""
    naive_ts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc).timestamp()
    aware_ts = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc).timestamp()
    payload = {
        "data": [
            {"name": "naive", "last_modified": msgpack.ExtType(42, struct.pack("!d", naive_ts))},
            {"name": "aware", "last_modified": msgpack.ExtType(42, struct.pack("!dl", aware_ts, 7200))},
            {"name": "other-ext", "blob": msgpack.ExtType(7, b"\x01\x02")},
        ],
        "message": None,
    }
    return msgpack.packb(payload, use_bin_type=True)


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_ls_decodes_wire_format_datetimes(mode: str, router: respx.MockRouter) -> None:
    router.post("https://studio.test/api/datachain/ls").mock(
        return_value=httpx.Response(
            200, content=_ls_body_from_raw_ext_types(), headers={"content-type": "application/msgpack"}
        )
    )
    if mode == "sync":
        with sync_client(router) as client:
            result = client.ls(source="s3://b/p")
    else:
        async with async_client(router) as client:
            result = await client.ls(source="s3://b/p")
    assert result is not None
    naive, aware, other = result
    assert naive["last_modified"] == datetime(2024, 5, 6, 7, 8, 9)
    assert naive["last_modified"].tzinfo is None
    assert aware["last_modified"].utcoffset() == timedelta(hours=2)
    assert aware["last_modified"] == datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert aware["last_modified"].replace(tzinfo=None) == datetime(2024, 5, 6, 9, 8, 9)
    assert other["blob"] == msgpack.ExtType(7, b"\x01\x02")  # unknown ext types are left alone


def test_the_client_decodes_what_the_emulator_encodes_in_the_wire_format() -> None:
    """The project's encoder writes what the wire format says (so the emulator speaks real Studio)."""
    aware = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=-3)))
    naive = datetime(2024, 5, 6, 7, 8, 9)
    packed = packb({"a": aware, "n": naive})
    raw = msgpack.unpackb(packed, raw=False)
    assert raw["n"] == msgpack.ExtType(42, struct.pack("!d", naive.replace(tzinfo=timezone.utc).timestamp()))
    assert raw["a"] == msgpack.ExtType(42, struct.pack("!dl", aware.timestamp(), -3 * 3600))
    assert msgpack_codec.unpackb(packed) == {"a": aware, "n": naive}


def test_ls_sends_json_and_asks_for_msgpack(router: respx.MockRouter) -> None:
    route = router.post("https://studio.test/api/datachain/ls").mock(
        return_value=httpx.Response(200, content=msgpack.packb({"data": []}))
    )
    with sync_client(router) as client:
        assert client.ls(source="gs://b") == []
    request = route.calls.last.request
    assert request.headers["accept"] == "application/msgpack"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", ["path", "file-object"])
def test_upload_file_from_path_and_file_object(kind: str, tmp_path: Path, router: respx.MockRouter) -> None:
    script = tmp_path / "job.py"
    script.write_bytes(b"print('hello')\r\n")
    route = router.post("https://studio.test/api/datachain/jobs/files").mock(
        return_value=httpx.Response(200, json={"id": 1, "filename": "job.py", "size": 15, "state": "pending"})
    )
    with sync_client(router) as client:
        if kind == "path":
            result = client.upload_file(file=str(script))
        else:
            with script.open("rb") as handle:
                result = client.upload_file(file=handle)
    check_upload_result(result)
    check_upload(route.calls.last.request)
    assert query_pairs(route.calls.last.request) == Q


def test_path_segments_are_percent_encoded(router: respx.MockRouter) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json={"message": "ok"}))
    with sync_client(router) as client:
        client.cancel_job(job_id="../a b")
    assert route.calls.last.request.url.raw_path == b"/api/datachain/jobs/..%2Fa%20b/cancel"


def test_delete_schedule_refused_with_ok_false_is_an_error(router: respx.MockRouter) -> None:
    # Issue 6, finding 7: every {"ok": false} is a StudioAPIError (it used to return False).
    router.post("https://studio.test/api/datachain/pipeline/delete-schedule").mock(
        return_value=httpx.Response(200, json={"ok": False, "message": "No such schedule"})
    )
    with sync_client(router) as client, pytest.raises(StudioAPIError, match="No such schedule"):
        client.delete_schedule(schedule_id=3)


def test_string_start_after_is_sent_as_given(router: respx.MockRouter) -> None:
    route = router.post("https://studio.test/api/datachain/jobs/").mock(
        return_value=httpx.Response(200, json=JOB)
    )
    with sync_client(router) as client:
        client.create_job(query="print(1)", start_after="2021-01-01T00:00:00Z")
    assert json_body(route.calls.last.request)["start_after"] == "2021-01-01T00:00:00Z"


def test_url_with_path_prefix(router: respx.MockRouter) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json=[]))
    config = StudioConfig.resolve(url="https://corp.example/studio/", token=TOKEN, team=TEAM, environ={})
    with sync_client(router, config) as client:
        client.list_clusters()
    assert (
        str(route.calls.last.request.url)
        == f"https://corp.example/studio/api/datachain/clusters/?team_name={TEAM}"
    )


# ---------------------------------------------------------------------------------------------
# headers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        ({}, f"Bearer {TOKEN}"),
        ({"auth_scheme": "token"}, f"token {TOKEN}"),
        ({"auth_scheme": "TOKEN"}, f"token {TOKEN}"),
    ],
    ids=["default-bearer", "token", "token-any-case"],
)
async def test_authorization_header(extras: dict[str, str], expected: str, router: respx.MockRouter) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json=[]))
    config = StudioConfig.resolve(
        url="https://studio.test", token=TOKEN, team=TEAM, extras=extras, environ={}
    )
    with sync_client(router, config) as client:
        client.list_jobs()
    async with async_client(router, config) as aclient:
        await aclient.list_jobs()
    assert route.call_count == 2
    assert [call.request.headers["authorization"] for call in route.calls] == [expected, expected]


async def test_user_agent_names_the_provider_and_version(router: respx.MockRouter) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json=[]))
    with sync_client(router) as client:
        client.list_clusters()
    async with async_client(router) as aclient:
        await aclient.list_clusters()
    pattern = rf"^airflow-provider-datachain-studio/{re.escape(studio_provider.__version__)}(\s|$)"
    for call in route.calls:
        assert re.match(pattern, call.request.headers["user-agent"]), call.request.headers["user-agent"]
