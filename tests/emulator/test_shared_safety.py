"""One emulator, many teams: no team can break it for the others.

Bad clock values, crons that never fire, dates at the end of the calendar, a schedule that fails in the
ticker, and admin rules (upload outcomes, fault rules) with huge counts or set by another team. Each of
these used to answer 500, corrupt shared state, or reach another team's requests.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.emulator.fault_engine import MAX_RULES_PER_TEAM
from studio_provider.emulator.observation import OTHER_ROUTES, Observations
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM, EMULATOR_TOKEN
from tests.emulator.helpers import client_for, create_job, simulated_job, wait_for, wait_job

pytestmark = pytest.mark.integration

NEVER_FIRES = "0 0 30 2 *"  # 30 February


def _admin(
    server: EmulatorServer, method: str, path: str, token: str = EMULATOR_TOKEN, raw: str | None = None, **kwargs: Any
) -> httpx.Response:
    """An admin call with ``token``; ``raw`` is sent as the JSON body as it is (``NaN`` included)."""
    headers = server.headers(token)
    if raw is not None:
        headers["content-type"] = "application/json"
        kwargs["content"] = raw
    return httpx.request(method, f"{server.url}/_emulator{path}", headers=headers, timeout=15, **kwargs)


def _clock(server: EmulatorServer) -> dict[str, Any]:
    response = _admin(server, "GET", "/clock")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def _definition(client: httpx.Client, team: str, dataset: str) -> dict[str, Any]:
    job = simulated_job(client, team, duration=0.05, writes=dataset)
    wait_job(client, team, job["id"])
    response = client.post("/datachain/pipeline/trigger", json={"datasets": [dataset], "team_name": team})
    assert response.status_code == 200, response.text
    pipeline = response.json()["pipeline"]
    assert isinstance(pipeline, dict)
    return pipeline


def _schedule(client: httpx.Client, team: str, definition: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"pipeline_id": definition["pipeline_id"], "team_name": team, **fields}
    return client.post("/datachain/pipeline/create-schedule", json=body)


# ---- the clock ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["NaN", "Infinity", "-Infinity", "1e300", "1" + "0" * 400, "1e12", "100000000000000000000", '"60"', "true", "-1"],
)
def test_a_clock_advance_that_is_not_a_usable_time_is_400_and_changes_nothing(
    fresh_emulator: EmulatorServer, raw: str
) -> None:
    before = _clock(fresh_emulator)["offset_seconds"]
    response = _admin(fresh_emulator, "POST", "/clock/advance", raw=f'{{"seconds": {raw}}}')
    assert response.status_code == 400, response.text
    assert "seconds" in response.json()["message"]
    # Nothing moved, and every team's requests (the clock is everyone's) still work.
    assert _clock(fresh_emulator)["offset_seconds"] == before
    with client_for(fresh_emulator, EMULATOR_OTHER_TOKEN) as other:
        assert other.get("/datachain/jobs/", params={"team_name": EMULATOR_OTHER_TEAM}).status_code == 200
        job = simulated_job(other, EMULATOR_OTHER_TEAM, duration=0.05)
        assert wait_job(other, EMULATOR_OTHER_TEAM, job["id"])["status"] == "COMPLETE"
    assert _admin(fresh_emulator, "POST", "/clock/advance", json={"seconds": 60}).status_code == 200


def test_the_python_clock_api_refuses_the_same_values(fresh_emulator: EmulatorServer) -> None:
    for bad in (float("nan"), float("inf"), 1e300, 1e12):
        with pytest.raises(ValueError, match="seconds"):
            fresh_emulator.advance_clock(bad)
    assert fresh_emulator.emulator.clock.offset_seconds == 0
    fresh_emulator.advance_clock(1.5)
    assert fresh_emulator.emulator.clock.offset_seconds == 1.5


# ---- crons that never fire, and the end of the calendar ------------------------------------------------


def test_a_cron_that_never_fires_is_400_everywhere_and_leaves_no_record(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        definition = _definition(client, EMULATOR_TEAM, "never_ds")
        jobs_before = len(fresh_emulator.state.jobs)
        job = client.post(
            "/datachain/jobs/",
            json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "cron_expression": NEVER_FIRES},
        )
        assert job.status_code == 400, job.text
        assert "never fires" in job.json()["message"]
        assert len(fresh_emulator.state.jobs) == jobs_before  # no half-made job left behind
        created = _schedule(client, EMULATOR_TEAM, definition, cron_expression=NEVER_FIRES)
        assert created.status_code == 400, created.text
        assert fresh_emulator.state.schedules == {}


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "9000-01-01T00:00:01+00:00"]
)
def test_a_start_after_at_the_end_of_the_calendar_is_400(fresh_emulator: EmulatorServer, when: str) -> None:
    with client_for(fresh_emulator) as client:
        definition = _definition(client, EMULATOR_TEAM, "late_ds")
        for extra in ({}, {"cron_expression": "0 3 * * *"}):
            job = client.post(
                "/datachain/jobs/",
                json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "start_after": when, **extra},
            )
            assert job.status_code == 400, job.text
            assert "start_after" in job.json()["message"]
            schedule = _schedule(client, EMULATOR_TEAM, definition, start_after=when, **extra)
            assert schedule.status_code == 400, schedule.text
            assert "start_after" in schedule.json()["message"]
        ok = _schedule(client, EMULATOR_TEAM, definition, start_after="2999-01-01T00:00:00Z")
        assert ok.status_code == 200, ok.text
        update = client.post(
            "/datachain/pipeline/update-schedule",
            json={"schedule_id": ok.json()["schedule"]["id"], "start_after": when, "team_name": EMULATOR_TEAM},
        )
        assert update.status_code == 400, update.text


@pytest.mark.parametrize(
    "change",
    [
        {"cron_expression": NEVER_FIRES},
        {"cron_expression": "0 4 * * *", "start_after": "not a date"},
        {"cron_expression": "0 4 * * *", "start_after": "9999-12-31T23:59:59Z"},
        {"cron_expression": "0 4 * * *", "schedule_name": "renamed", "start_after": "9999-12-31T23:59:59-05:00"},
    ],
)
def test_a_failed_schedule_update_changes_nothing(fresh_emulator: EmulatorServer, change: dict[str, Any]) -> None:
    with client_for(fresh_emulator) as client:
        definition = _definition(client, EMULATOR_TEAM, "update_ds")
        created = _schedule(client, EMULATOR_TEAM, definition, cron_expression="0 3 * * *", schedule_name="nightly")
        assert created.status_code == 200, created.text
        before = created.json()["schedule"]
        update = client.post(
            "/datachain/pipeline/update-schedule",
            json={"schedule_id": before["id"], "team_name": EMULATOR_TEAM, **change},
        )
        assert update.status_code == 400, update.text
        after = client.get(
            "/datachain/pipeline/schedule", params={"schedule_id": before["id"], "team_name": EMULATOR_TEAM}
        ).json()
    for key in ("cron_expression", "start_after", "schedule_name", "next_run", "updated_at", "paused"):
        assert after[key] == before[key], key


# ---- the ticker: one failing record never stops another ------------------------------------------------


def test_the_ticker_isolates_each_schedule_and_timed_job(fresh_emulator: EmulatorServer) -> None:
    server = fresh_emulator
    with client_for(server, EMULATOR_TOKEN) as a, client_for(server, EMULATOR_OTHER_TOKEN) as b:
        broken_definition = _definition(a, EMULATOR_TEAM, "broken_ds")
        broken = _schedule(a, EMULATOR_TEAM, broken_definition, cron_expression="0 * * * *").json()["schedule"]
        task = create_job(a, EMULATOR_TEAM, "x", cron_expression="0 * * * *", environment="STUDIO_EMULATOR_EXECUTOR=simulated")
        healthy_definition = _definition(b, EMULATOR_OTHER_TEAM, "healthy_ds")
        healthy = _schedule(b, EMULATOR_OTHER_TEAM, healthy_definition, cron_expression="0 * * * *").json()["schedule"]

    def corrupt() -> None:
        # A record that fails in the ticker however it got there (the API now refuses to store one).
        server.state.schedules[broken["id"]].cron_expression = NEVER_FIRES
        server.state.jobs[task["id"]].cron_expression = NEVER_FIRES

    server.call(corrupt)
    runs_before = sum(1 for item in server.state.pipelines.values() if not item.is_definition)
    server.advance_clock(2 * 3600)  # both schedules and the cron task are due; the tick runs them

    def healthy_fired() -> bool:
        return server.state.schedules[healthy["id"]].latest_run_id is not None

    wait_for(healthy_fired, what="team B's schedule to fire")
    # The broken schedule fired at most once and was then taken out of the ticker, instead of starting a
    # run on every tick; so was the broken cron task.
    for _ in range(3):
        server.advance_clock(1)
    assert server.state.schedules[broken["id"]].next_run is None
    assert server.state.jobs[task["id"]].next_run is None
    runs = [item for item in server.state.pipelines.values() if not item.is_definition]
    assert len(runs) - runs_before <= 2, [item.name for item in runs]
    # Team B's schedule keeps firing on later ticks.
    first = server.state.schedules[healthy["id"]].latest_run_id
    server.advance_clock(3600)
    wait_for(lambda: server.state.schedules[healthy["id"]].latest_run_id != first, what="the next firing")


# ---- upload outcomes: per team, bounded, constant memory -----------------------------------------------


def _upload(client: httpx.Client, team: str) -> dict[str, Any]:
    response = client.post("/datachain/jobs/files", params={"team_name": team}, files={"file": ("a.txt", b"x")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def test_upload_outcomes_apply_to_the_team_that_set_them(fresh_emulator: EmulatorServer) -> None:
    server = fresh_emulator
    queued = _admin(server, "POST", "/uploads", json={"state": "error", "count": 2, "error": "disk full"})
    assert queued.status_code == 200, queued.text
    with client_for(server, EMULATOR_OTHER_TOKEN) as b, client_for(server, EMULATOR_TOKEN) as a:
        assert _upload(b, EMULATOR_OTHER_TEAM)["state"] == "uploaded"
        assert _upload(a, EMULATOR_TEAM)["error"] == "disk full"
        assert _upload(a, EMULATOR_TEAM)["state"] == "error"
        assert _upload(a, EMULATOR_TEAM)["state"] == "uploaded"


def test_upload_outcome_counts_are_bounded_and_cost_one_entry(fresh_emulator: EmulatorServer) -> None:
    server = fresh_emulator
    huge = _admin(server, "POST", "/uploads", json={"state": "pending", "count": 50_000_000})
    assert huge.status_code == 400, huge.text
    assert "count" in huge.json()["message"]
    assert _admin(server, "POST", "/uploads", json={"state": "pending", "count": 1000}).status_code == 200
    assert server.state.queued_upload_outcomes(EMULATOR_TEAM) == [("pending", None, 1000)]
    limit = server.state.MAX_UPLOAD_RULES
    for _ in range(limit - 1):
        assert _admin(server, "POST", "/uploads", json={"state": "error"}).status_code == 200
    refused = _admin(server, "POST", "/uploads", json={"state": "error"})
    assert refused.status_code == 400 and str(limit) in refused.json()["message"]
    # Another team's queue is its own.
    other = _admin(server, "POST", "/uploads", token=EMULATOR_OTHER_TOKEN, json={"state": "error"})
    assert other.status_code == 200, other.text


# ---- fault rules set over HTTP: the setting team's requests only, bounded ------------------------------


def test_a_fault_rule_set_over_http_fires_only_for_the_team_that_set_it(fresh_emulator: EmulatorServer) -> None:
    server = fresh_emulator
    added = _admin(server, "POST", "/faults", json={"kind": "error", "path": "/api/datachain/clusters/", "status": 503})
    assert added.status_code == 201, added.text
    rule = added.json()
    assert rule["team"] == EMULATOR_TEAM
    with client_for(server, EMULATOR_TOKEN) as a, client_for(server, EMULATOR_OTHER_TOKEN) as b:
        assert a.get("/datachain/clusters/", params={"team_name": EMULATOR_TEAM}).status_code == 503
        assert b.get("/datachain/clusters/", params={"team_name": EMULATOR_OTHER_TEAM}).status_code == 200
    # Team B neither sees nor removes team A's rule.
    assert _admin(server, "GET", "/faults", token=EMULATOR_OTHER_TOKEN).json() == {"faults": []}
    assert _admin(server, "DELETE", f"/faults/{rule['id']}", token=EMULATOR_OTHER_TOKEN).status_code == 404
    assert _admin(server, "DELETE", "/faults", token=EMULATOR_OTHER_TOKEN).json() == {"deleted": 0}
    assert [item["id"] for item in _admin(server, "GET", "/faults").json()["faults"]] == [rule["id"]]
    # A rule set in-process (or by --fault at start) is everyone's: listed to all, removable by none over HTTP.
    server.injector.add_rule("latency", path="/api/nowhere", seconds=0.01)
    listed = _admin(server, "GET", "/faults", token=EMULATOR_OTHER_TOKEN).json()["faults"]
    assert [item["team"] for item in listed] == [None]
    assert _admin(server, "DELETE", f"/faults/{listed[0]['id']}", token=EMULATOR_OTHER_TOKEN).status_code == 403
    assert _admin(server, "DELETE", "/faults").json() == {"deleted": 1}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"kind": "error", "count": 50000000}', "count"),
        ('{"kind": "error", "after": 50000000}', "after"),
        ('{"kind": "latency", "seconds": 1e9}', "seconds"),
        ('{"kind": "latency", "seconds": NaN}', "seconds"),
        ('{"kind": "outage", "seconds": Infinity}', "seconds"),
        ('{"kind": "error", "status": 429, "retry_after": 1e400}', "retry_after"),
        ('{"kind": "error", "team": "team-b"}', "team"),
    ],
)
def test_fault_rule_values_are_bounded(fresh_emulator: EmulatorServer, raw: str, field: str) -> None:
    response = _admin(fresh_emulator, "POST", "/faults", raw=raw)
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]
    assert fresh_emulator.injector.rules() == []


def test_a_team_has_a_bounded_number_of_fault_rules(fresh_emulator: EmulatorServer) -> None:
    server = fresh_emulator
    body = {"kind": "error", "path": "/api/nowhere", "count": 1}
    for _ in range(MAX_RULES_PER_TEAM):
        assert _admin(server, "POST", "/faults", json=body).status_code == 201
    refused = _admin(server, "POST", "/faults", json=body)
    assert refused.status_code == 400 and str(MAX_RULES_PER_TEAM) in refused.json()["message"]
    assert _admin(server, "POST", "/faults", token=EMULATOR_OTHER_TOKEN, json=body).status_code == 201
    assert _admin(server, "DELETE", "/faults").json() == {"deleted": MAX_RULES_PER_TEAM}
    assert _admin(server, "POST", "/faults", json=body).status_code == 201


# ---- observations: a bounded number of counted routes ---------------------------------------------------


def test_counters_keep_a_bounded_number_of_routes() -> None:
    observations = Observations(max_entries=5, max_routes=3)
    for index in range(10):
        observations.record({"method": "GET", "path": f"/api/x/{index}", "status": 404})
    counters = observations.counters()
    assert counters["total"] == 10
    assert len(counters["routes"]) == 4
    assert counters["routes"][OTHER_ROUTES] == {"total": 7, "statuses": {"404": 7}}
    assert observations.count("GET", "/api/x/0") == 1
    assert len(observations.requests()) == 5


def test_the_clock_reads_back_as_json_numbers(fresh_emulator: EmulatorServer) -> None:
    # The admin answers stay valid JSON (no NaN or Infinity can get in).
    body = _clock(fresh_emulator)
    json.dumps(body, allow_nan=False)
    assert datetime.fromisoformat(body["now"]) <= datetime(9000, 1, 1, tzinfo=timezone.utc)
