"""The emulator is as strict as the reference and the guide: team_name where they put it, exact types, known
values only. Each leniency kept for the official ``datachain`` client is pinned here too."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import websockets

from studio_provider.client.msgpack_codec import unpackb
from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM, EMULATOR_TOKEN
from tests.emulator.helpers import client_for, simulated_job

pytestmark = pytest.mark.integration

TEAM = {"team_name": EMULATOR_TEAM}
JOB = {"query": "print(1)", "query_type": "PYTHON", "environment": "STUDIO_EMULATOR_EXECUTOR=simulated"}

# (method, path, query without team_name, JSON body without team_name or None, where team_name belongs)
ROUTES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = [
    ("GET", "/datachain/jobs/", {}, None, "query"),
    ("POST", "/datachain/jobs/", {}, JOB, "body"),
    ("GET", "/datachain/clusters/", {}, None, "query"),
    ("GET", "/datachain/datasets", {}, None, "query"),
    ("GET", "/datachain/datasets/info", {"namespace": "@local", "project": "default", "name": "x"}, None, "query"),
    ("POST", "/datachain/ls", {}, {"source": "s3://bucket"}, "body"),
    ("POST", "/datachain/pipeline/trigger", {}, {"datasets": ["x"]}, "body"),
    ("GET", "/datachain/pipeline/list", {}, None, "query"),
    ("GET", "/datachain/pipeline/status", {"name": "x"}, None, "query"),
    ("POST", "/datachain/pipeline/pause", {}, {"name": "x"}, "body"),
    ("POST", "/datachain/pipeline/delete-schedule", {}, {"schedule_id": 1}, "body"),
    ("GET", "/datachain/pipeline/schedules", {}, None, "query"),
    ("GET", "/datachain/rbac/access-groups/", {}, None, "query"),
    ("POST", "/datachain/rbac/access-groups/", {}, {"name": "g"}, "query"),
]


def _send(client: httpx.Client, method: str, path: str, query: dict[str, Any], body: dict[str, Any] | None) -> httpx.Response:
    return client.request(method, path, params=query, json=body)


def _message(response: httpx.Response) -> str:
    if response.headers["content-type"].startswith("application/msgpack"):  # datachain/ls
        message = unpackb(response.content)["message"]
    else:
        message = response.json()["message"]
    assert isinstance(message, str)
    return message


@pytest.mark.parametrize("method,path,query,body,place", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_team_name_is_required_where_the_guide_puts_it(
    emulator_client: httpx.Client, method: str, path: str, query: dict[str, Any], body: dict[str, Any] | None, place: str
) -> None:
    missing = _send(emulator_client, method, path, query, body)
    assert missing.status_code == 400, missing.text
    assert "team_name is required" in _message(missing)
    # In the other place: still refused (a GET's body is never read; elsewhere the message says where).
    if place == "body":
        moved = _send(emulator_client, method, path, {**query, **TEAM}, body)
    else:
        moved = _send(emulator_client, method, path, query, {**(body or {}), **TEAM})
    assert moved.status_code == 400, moved.text
    assert f"team_name is required in the {'JSON body' if place == 'body' else 'query string'}" in _message(moved)
    if method != "GET":
        assert "belongs in" in _message(moved)


def test_team_name_placement_of_job_paths(emulator_client: httpx.Client) -> None:
    job = simulated_job(emulator_client, EMULATOR_TEAM, duration=0.05)
    logs = emulator_client.get(f"/datachain/jobs/{job['id']}/logs")
    cancel = emulator_client.post(f"/datachain/jobs/{job['id']}/cancel", params=TEAM, json={})
    upload = emulator_client.post("/datachain/jobs/files", files={"file": ("a.txt", b"a")})
    versions = emulator_client.get("/datachain/datasets/dataset_job_versions", params={"job_id": job["id"]})
    for response in (logs, cancel, upload, versions):
        assert response.status_code == 400, response.text
        assert "team_name" in response.json()["message"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"query_type": None}, "query_type"),
        ({"query_type": "python"}, "query_type"),
        ({"query_type": "SQL"}, "query_type"),
        ({"query": ""}, "query"),
        ({"workers": 2.7}, "workers"),
        ({"workers": "2"}, "workers"),
        ({"workers": True}, "workers"),
        ({"workers": 0}, "workers"),
        ({"priority": 6}, "priority"),
        ({"priority": 1.0}, "priority"),
        ({"compute_cluster_id": "1"}, "compute_cluster_id"),
        ({"reset": "false"}, "reset"),
        ({"reset": 0}, "reset"),
        ({"files": "1"}, "files"),
        ({"files": [1]}, "files"),
        ({"environment": {"A": "1"}}, "environment"),
        ({"query_name": 5}, "query_name"),
        ({"team": EMULATOR_TEAM}, "team"),
        ({"cron": "* * * * *"}, "cron"),
    ],
)
def test_create_job_body_is_checked_exactly(emulator_client: httpx.Client, change: dict[str, Any], field: str) -> None:
    body = {key: value for key, value in {**JOB, **TEAM, **change}.items() if value is not None}
    response = emulator_client.post("/datachain/jobs/", json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_the_official_clients_job_body_is_accepted(emulator_client: httpx.Client) -> None:
    """datachain 0.62 sends every JobInput key, null when unset, and ``reset: false``."""
    body = {
        **JOB, **TEAM, "workers": None, "query_name": "hello.py", "rerun_from_job_id": None, "reset": False,
        "files": None, "python_version": None, "requirements": None, "repository": None, "priority": None,
        "compute_cluster_name": None, "start_after": None, "cron_expression": None, "credentials_name": None,
    }
    response = emulator_client.post("/datachain/jobs/", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "hello.py"


@pytest.mark.parametrize(
    "params,field",
    [
        ({"status": "DONE"}, "status"),
        ({"status": "RUNNING,NOPE"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"include_steps": "yes"}, "include_steps"),
        ({"include_steps": "1"}, "include_steps"),
        ({"jobid": "x"}, "jobid"),
    ],
)
def test_job_list_filters_are_checked(emulator_client: httpx.Client, params: dict[str, str], field: str) -> None:
    response = emulator_client.get("/datachain/jobs/", params={**TEAM, **params})
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_job_list_leniencies_for_the_official_client(emulator_client: httpx.Client) -> None:
    job = simulated_job(emulator_client, EMULATOR_TEAM, duration=30)
    # `datachain job ls --status running` sends the user's spelling; requests sends True as "True".
    for params in ({"status": "running", "include_steps": "True"}, {"status": "QUEUED,RUNNING", "limit": "1000"}):
        response = emulator_client.get("/datachain/jobs/", params={**TEAM, **params, "job_id": job["id"]})
        assert response.status_code == 200, response.text
    steps = emulator_client.get("/datachain/jobs/", params={**TEAM, "job_id": job["id"], "include_steps": "True"})
    assert steps.json()[0]["steps"] is not None
    emulator_client.post(f"/datachain/jobs/{job['id']}/cancel", json=TEAM)


@pytest.mark.parametrize(
    "params,field",
    [({"status": "COMPLETE"}, "status"), ({"status": "completed"}, "status"), ({"limit": "0"}, "limit")],
)
def test_pipeline_list_filters_are_checked(emulator_client: httpx.Client, params: dict[str, str], field: str) -> None:
    response = emulator_client.get("/datachain/pipeline/list", params={**TEAM, **params})
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/datachain/pipeline/trigger", {"datasets": "x"}, "datasets"),
        ("/datachain/pipeline/trigger", {"datasets": []}, "datasets"),
        ("/datachain/pipeline/trigger", {"datasets": ["x"], "review": "no"}, "review"),
        ("/datachain/pipeline/run", {"name": "x"}, "name"),
        ("/datachain/pipeline/run", {}, "definition_id"),
        ("/datachain/pipeline/settings", {"workers": 2}, "pipeline_name"),
        ("/datachain/pipeline/settings", {"pipeline_name": "x", "workers": 2.5}, "workers"),
        ("/datachain/pipeline/pause", {}, "pipeline_id"),
        ("/datachain/pipeline/remove-job", {"name": "x"}, "job_id"),
        ("/datachain/pipeline/create-schedule", {"pipeline_name": "x"}, "start_after"),
        ("/datachain/pipeline/update-schedule", {"schedule_id": "1"}, "schedule_id"),
        ("/datachain/pipeline/update-schedule", {"schedule_id": 1, "pause_pipeline": "true"}, "pause_pipeline"),
    ],
)
def test_pipeline_bodies_are_checked(emulator_client: httpx.Client, path: str, body: dict[str, Any], field: str) -> None:
    response = emulator_client.post(path, json={**body, **TEAM})
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


GROUPS = "/datachain/rbac/access-groups/"
RULES = "/datachain/rbac/access-rules/"


def test_rbac_fields_are_typed_as_the_spec_shows_them(emulator_client: httpx.Client) -> None:
    group = emulator_client.post(GROUPS, params=TEAM, json={"name": "strict-group", "description": ""})
    assert group.status_code == 201, group.text
    members = f"{GROUPS}{group.json()['id']}/members/"
    refused = [
        emulator_client.post(members, params=TEAM, json={"user_id": "7", "role": "read"}),
        emulator_client.post(members, params=TEAM, json={"user_id": 7, "role": "owner"}),
        emulator_client.post(members, params=TEAM, json={"user_id": 7}),
        emulator_client.post(members, params=TEAM, json={"user_id": 7.0, "role": "read"}),
        emulator_client.patch(f"{members}x/", params=TEAM, json={"role": "read"}),
        emulator_client.post(GROUPS, params=TEAM, json={"name": 5}),
        emulator_client.post(GROUPS, params=TEAM, json={"name": "g", "members": []}),
        emulator_client.post(RULES, params=TEAM, json={"resource_type": "namespace", "resource_id": 5, "permission": "read", "user_id": 1}),
        emulator_client.post(RULES, params=TEAM, json={"resource_type": "namespace", "resource_id": "@local", "permission": "own", "user_id": 1}),
        emulator_client.post(RULES, params=TEAM, json={"resource_type": "namespace", "resource_id": "@local", "permission": "read"}),
        emulator_client.post(RULES, params=TEAM, json={"resource_type": "namespace", "resource_id": "@local", "permission": "read", "user_id": "1"}),
    ]
    assert [response.status_code for response in refused] == [400] * len(refused), [r.text for r in refused]
    added = emulator_client.post(members, params=TEAM, json={"user_id": 7, "role": "write"})
    assert added.status_code == 201 and added.json()["user_id"] == 7


def test_dataset_info_needs_namespace_project_and_name(emulator_client: httpx.Client) -> None:
    for params in ({"name": "x"}, {"namespace": "@local", "name": "x"}, {"namespace": "@local", "project": "default"}):
        response = emulator_client.get("/datachain/datasets/info", params={**TEAM, **params})
        assert response.status_code == 400, response.text


def test_websocket_needs_team_name(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator, EMULATOR_TOKEN) as client:
        job = simulated_job(client, EMULATOR_TEAM, duration=0.05)

    async def connect(query: str) -> int:
        url = f"{studio_emulator.ws_url}/logs/follow/?{query}"
        try:
            async with websockets.connect(url, additional_headers=studio_emulator.headers()):
                return 101
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(connect(f"job_id={job['id']}")) == 400
    assert asyncio.run(connect(f"job_id={job['id']}&team_name={EMULATOR_TEAM}&token=x")) == 400
    assert asyncio.run(connect(f"job_id={job['id']}&team_name={EMULATOR_TEAM}")) == 101
