"""Auth, team isolation, error bodies and path handling, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import (
    EMULATOR_BOTH_TOKEN,
    EMULATOR_OTHER_TEAM,
    EMULATOR_OTHER_TOKEN,
    EMULATOR_TEAM,
    EMULATOR_TOKEN,
)
from tests.emulator.helpers import client_for, create_job, simulated_job, wait_job

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("scheme", ["Bearer", "token", "bearer"])
def test_both_auth_schemes_are_accepted(studio_emulator: EmulatorServer, scheme: str) -> None:
    with client_for(studio_emulator, EMULATOR_TOKEN, scheme) as client:
        response = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM})
    assert response.status_code == 200
    assert isinstance(response.json(), list)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}],
)
def test_missing_or_unknown_token_is_401_with_message(studio_emulator: EmulatorServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{studio_emulator.api_url}/datachain/jobs/", params={"team_name": EMULATOR_TEAM}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"message"}
    assert "wrong" not in body["message"]


@pytest.mark.parametrize("scheme", ["Basic", "Digest", "JWT", "Bearer:", "tokens"])
def test_a_valid_token_under_another_scheme_is_401(studio_emulator: EmulatorServer, scheme: str) -> None:
    """Only ``Bearer`` and ``token`` carry a token: a valid one under any other scheme is refused."""
    response = httpx.get(
        f"{studio_emulator.api_url}/datachain/jobs/",
        params={"team_name": EMULATOR_TEAM},
        headers={"Authorization": f"{scheme} {EMULATOR_TOKEN}"},
    )
    assert response.status_code == 401, response.text
    assert set(response.json()) == {"message"}
    assert EMULATOR_TOKEN not in response.text


@pytest.mark.parametrize(
    "token",
    [
        "emu",  # a prefix of every configured token
        EMULATOR_TOKEN[:-1],  # all but the last character
        EMULATOR_TOKEN + "x",  # the valid token with a suffix
        EMULATOR_TOKEN.upper(),
    ],
)
@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_only_the_exact_token_is_accepted(studio_emulator: EmulatorServer, scheme: str, token: str) -> None:
    with client_for(studio_emulator, token, scheme) as client:
        response = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM})
    assert response.status_code == 401, response.text
    assert set(response.json()) == {"message"}
    assert token not in response.json()["message"]


def test_team_not_bound_to_token_is_403(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator, EMULATOR_TOKEN) as client:
        get = client.get("/datachain/jobs/", params={"team_name": EMULATOR_OTHER_TEAM})
        post = client.post("/datachain/jobs/", json={"query": "print(1)", "query_type": "PYTHON", "team_name": EMULATOR_OTHER_TEAM})
    assert get.status_code == 403
    assert post.status_code == 403
    assert "message" in get.json()


def test_team_isolation(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator, EMULATOR_TOKEN) as team_a, client_for(studio_emulator, EMULATOR_OTHER_TOKEN) as team_b:
        job = simulated_job(team_a, EMULATOR_TEAM, duration=0.05)
        listed_b = team_b.get("/datachain/jobs/", params={"team_name": EMULATOR_OTHER_TEAM, "limit": 1000}).json()
        assert job["id"] not in {item["id"] for item in listed_b}
        # Team B cannot read, follow or cancel team A's job even when naming its own team.
        logs = team_b.get(f"/datachain/jobs/{job['id']}/logs", params={"team_name": EMULATOR_OTHER_TEAM})
        cancel = team_b.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": EMULATOR_OTHER_TEAM})
        assert logs.status_code == 404
        assert cancel.status_code == 404
    # A token bound to both teams sees the job only under its own team.
    with client_for(studio_emulator, EMULATOR_BOTH_TOKEN) as both:
        as_a = both.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "job_id": job["id"]}).json()
        as_b = both.get("/datachain/jobs/", params={"team_name": EMULATOR_OTHER_TEAM, "job_id": job["id"]}).json()
    assert [item["id"] for item in as_a] == [job["id"]]
    assert as_b == []


def test_each_team_sees_its_own_clusters_load(fresh_emulator: EmulatorServer) -> None:
    """Clusters show the answering team's busy workers: with a token bound to two teams, the named team
    answers, never the token's first one by default; the API refuses to guess when no team is named."""
    with client_for(fresh_emulator, EMULATOR_BOTH_TOKEN) as both:  # bound to team A first, then team B
        for team, workers, cluster in ((EMULATOR_TEAM, 2, "default"), (EMULATOR_OTHER_TEAM, 3, "large")):
            job = create_job(
                both, team, "ignored", workers=workers, compute_cluster_name=cluster,
                environment="STUDIO_EMULATOR_DURATION=60",
            )
            wait_job(both, team, job["id"], ("RUNNING",))

        def busy(team: str) -> dict[str, int]:
            response = both.get("/datachain/clusters/", params={"team_name": team})
            assert response.status_code == 200, response.text
            return {cluster["name"]: cluster["busy_workers"] for cluster in response.json()}

        assert busy(EMULATOR_TEAM) == {"default": 2, "large": 0}
        assert busy(EMULATOR_OTHER_TEAM) == {"default": 0, "large": 3}
        unnamed = both.get("/datachain/clusters/")
    assert unnamed.status_code == 400
    assert "team_name" in unnamed.json()["message"]


def test_admin_endpoints_default_to_the_tokens_first_team(fresh_emulator: EmulatorServer) -> None:
    """Admin endpoints (not Studio's) need no team_name: they act for the token's first team."""
    headers = fresh_emulator.headers(EMULATOR_BOTH_TOKEN)  # bound to team A first, then team B
    seeded = httpx.post(f"{fresh_emulator.url}/_emulator/datasets", json={"name": "seeded-ds"}, headers=headers)
    assert seeded.status_code in (200, 201), seeded.text
    with client_for(fresh_emulator, EMULATOR_BOTH_TOKEN) as both:

        def names(team: str) -> set[str]:
            response = both.get("/datachain/datasets", params={"team_name": team})
            assert response.status_code == 200, response.text
            return {dataset["name"] for dataset in response.json()}

        assert "seeded-ds" in names(EMULATOR_TEAM)
        assert "seeded-ds" not in names(EMULATOR_OTHER_TEAM)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datachain/jobs/"),
        ("GET", "/datachain/jobs"),
        ("GET", "/datachain/clusters/"),
        ("GET", "/datachain/clusters"),
        ("GET", "/datachain/pipeline/list"),
        ("GET", "/datachain/pipeline/list/"),
        ("GET", "/datachain/pipeline/schedules"),
        ("GET", "/datachain/datasets"),
        ("GET", "/datachain/datasets/"),
        ("GET", "/datachain/rbac/access-groups/"),
        ("GET", "/datachain/rbac/access-groups"),
        ("GET", "/datachain/rbac/access-rules/"),
    ],
)
def test_both_slash_variants_answer_without_redirect(emulator_client: httpx.Client, method: str, path: str) -> None:
    response = emulator_client.request(method, path, params={"team_name": EMULATOR_TEAM})
    assert response.status_code == 200, response.text


def test_post_without_trailing_slash_creates_job_without_redirect(emulator_client: httpx.Client) -> None:
    response = emulator_client.post(
        "/datachain/jobs",
        json={"query": "print(1)", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "environment": "STUDIO_EMULATOR_EXECUTOR=simulated"},
    )
    assert response.status_code == 200
    assert response.json()["status"] in ("CREATED", "QUEUED", "RUNNING")


def test_errors_are_message_bodies(emulator_client: httpx.Client) -> None:
    bad_json = emulator_client.post(
        "/datachain/jobs/", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    unknown_route = emulator_client.get("/datachain/nothing-here", params={"team_name": EMULATOR_TEAM})
    bad_limit = emulator_client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": "many"})
    missing_query = emulator_client.post("/datachain/jobs/", json={"team_name": EMULATOR_TEAM})
    for response, status in ((bad_json, 400), (unknown_route, 404), (bad_limit, 400), (missing_query, 400)):
        assert response.status_code == status
        assert set(response.json()) == {"message"}, response.text


def test_unknown_job_is_404(emulator_client: httpx.Client) -> None:
    logs = emulator_client.get("/datachain/jobs/no-such-job/logs", params={"team_name": EMULATOR_TEAM})
    cancel = emulator_client.post("/datachain/jobs/no-such-job/cancel", json={"team_name": EMULATOR_TEAM})
    assert logs.status_code == 404
    assert cancel.status_code == 404
    assert "no-such-job" in logs.json()["message"]


def test_admin_endpoints_need_a_token(studio_emulator: EmulatorServer) -> None:
    for path in ("clock", "state", "faults", "counters", "requests"):
        response = httpx.get(f"{studio_emulator.url}/_emulator/{path}")
        assert response.status_code == 401, path
        assert "message" in response.json()
        authorized = httpx.get(f"{studio_emulator.url}/_emulator/{path}", headers=studio_emulator.headers())
        assert authorized.status_code == 200, path
    response = httpx.get(f"{studio_emulator.url}/_emulator/state", headers=studio_emulator.headers())
    assert response.status_code == 200
    assert response.json()["executor"] == "local"


def test_server_reports_its_addresses(studio_emulator: EmulatorServer) -> None:
    assert studio_emulator.url == f"http://127.0.0.1:{studio_emulator.port}"
    assert studio_emulator.api_url == studio_emulator.url + "/api"
    assert studio_emulator.port and studio_emulator.port > 0
    assert studio_emulator.token == EMULATOR_TOKEN
    assert studio_emulator.team == EMULATOR_TEAM


def test_fault_middleware_wraps_the_emulator_app(fresh_emulator: EmulatorServer) -> None:
    """The app factory mounts the injector: an admin rule makes the real job route answer 503 once,
    and a lost response still creates the job (the work is done, the answer is not delivered)."""
    admin = f"{fresh_emulator.url}/_emulator/faults"
    rule = {"kind": "error", "method": "GET", "path": "/api/datachain/jobs/", "status": 503, "count": 1}
    assert httpx.post(admin, json=rule).status_code == 401  # admin endpoints need a token too
    assert httpx.post(admin, json=rule, headers=fresh_emulator.headers()).status_code == 201
    with client_for(fresh_emulator) as client:
        first = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM})
        second = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM})
        assert (first.status_code, second.status_code) == (503, 200)

        lose = {"kind": "lose_response", "method": "POST", "path": "/api/datachain/jobs/", "count": 1}
        assert httpx.post(admin, json=lose, headers=fresh_emulator.headers()).status_code == 201
        lost = client.post(
            "/datachain/jobs/", json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "environment": "STUDIO_EMULATOR_DURATION=0"}
        )
        assert lost.status_code == 502
        assert len(client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM}).json()) == 1
    assert len(fresh_emulator.state.jobs) == 1
