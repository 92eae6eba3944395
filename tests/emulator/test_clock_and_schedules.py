"""start_after, cron tasks and pipeline schedules, driven by advancing the emulator clock (no sleeping)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM
from tests.emulator.helpers import client_for, create_job, get_job, simulated_job, wait_for, wait_job

pytestmark = pytest.mark.integration

QUICK = "STUDIO_EMULATOR_DURATION=0.05"


def advance(server: EmulatorServer, seconds: float) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/_emulator/clock/advance", json={"seconds": seconds}, headers=server.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def emulator_now(server: EmulatorServer) -> datetime:
    response = httpx.get(f"{server.url}/_emulator/clock", headers=server.headers())
    return datetime.fromisoformat(response.json()["now"])


def test_clock_advance_moves_time(fresh_emulator: EmulatorServer) -> None:
    before = emulator_now(fresh_emulator)
    body = advance(fresh_emulator, 3600)
    assert datetime.fromisoformat(body["now"]) - before >= timedelta(seconds=3600)
    assert body["offset_seconds"] == 3600
    bad = httpx.post(
        f"{fresh_emulator.url}/_emulator/clock/advance", json={"seconds": -1}, headers=fresh_emulator.headers()
    )
    assert bad.status_code == 400


def test_start_after_job_waits_for_the_clock(fresh_emulator: EmulatorServer) -> None:
    start = emulator_now(fresh_emulator) + timedelta(hours=2)
    with client_for(fresh_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, "x", environment=QUICK, start_after=start.isoformat())
        assert job["status"] == "SCHEDULED"
        advance(fresh_emulator, 3600)
        assert get_job(client, EMULATOR_TEAM, job["id"])["status"] == "SCHEDULED"
        advance(fresh_emulator, 3601)
        assert get_job(client, EMULATOR_TEAM, job["id"])["status"] != "SCHEDULED"
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "COMPLETE"


def test_start_after_in_the_past_runs_now(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, "x", environment=QUICK, start_after="2020-01-01T00:00:00Z")
        assert job["status"] == "CREATED"
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "COMPLETE"


def test_cron_job_is_a_task_that_spawns_runs(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        task = create_job(client, EMULATOR_TEAM, "x", environment=QUICK, cron_expression="0 * * * *")
        assert task["status"] == "TASK"
        assert task["next_run"]

        def runs() -> list[dict[str, Any]]:
            jobs = client.get("/datachain/jobs/", params={"team_name": EMULATOR_TEAM, "limit": 100}).json()
            return [job for job in jobs if job["parent_job_id"] == task["id"]]

        assert runs() == []
        advance(fresh_emulator, 3600)
        first = runs()
        assert len(first) == 1
        assert wait_job(client, EMULATOR_TEAM, first[0]["id"])["status"] == "COMPLETE"
        advance(fresh_emulator, 3600)
        assert len(runs()) == 2
        assert get_job(client, EMULATOR_TEAM, task["id"])["status"] == "TASK"

        # Cancelling the task stops further runs.
        assert client.post(f"/datachain/jobs/{task['id']}/cancel", json={"team_name": EMULATOR_TEAM}).status_code == 200
        advance(fresh_emulator, 7200)
        assert len(runs()) == 2


def test_bad_cron_is_400(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        response = client.post(
            "/datachain/jobs/", json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "cron_expression": "every day"}
        )
        assert response.status_code == 400
        assert "cron" in response.json()["message"].lower()
        bad_time = client.post(
            "/datachain/jobs/", json={"query": "x", "query_type": "PYTHON", "team_name": EMULATOR_TEAM, "start_after": "tomorrowish"}
        )
        assert bad_time.status_code == 400


def make_definition(client: httpx.Client, dataset: str) -> dict[str, Any]:
    job = simulated_job(client, EMULATOR_TEAM, duration=0.05, writes=dataset)
    wait_job(client, EMULATOR_TEAM, job["id"])
    response = client.post("/datachain/pipeline/trigger", json={"team_name": EMULATOR_TEAM, "datasets": [dataset]})
    assert response.status_code == 200, response.text
    pipeline = response.json()["pipeline"]
    assert isinstance(pipeline, dict)
    return pipeline


def test_schedule_crud_and_firing(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        definition = make_definition(client, "sched-ds")
        created = client.post(
            "/datachain/pipeline/create-schedule",
            json={"team_name": EMULATOR_TEAM, "pipeline_name": definition["name"], "schedule_name": "hourly",
                  "cron_expression": "0 * * * *"},
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["ok"] is True
        schedule = body["schedule"]
        for key in ("id", "schedule_name", "created_at", "updated_at", "start_after", "cron_expression", "next_run",
                    "latest_run", "pipeline", "created_by"):
            assert key in schedule
        assert schedule["latest_run"] is None
        assert schedule["pipeline"]["pipeline_id"] == definition["pipeline_id"]
        next_run = datetime.fromisoformat(schedule["next_run"])
        assert next_run > emulator_now(fresh_emulator)
        assert next_run.minute == 0 and next_run.second == 0

        listed = client.get("/datachain/pipeline/schedules", params={"team_name": EMULATOR_TEAM}).json()
        assert [item["id"] for item in listed] == [schedule["id"]]

        advance(fresh_emulator, 3600)
        fetched = client.get(
            "/datachain/pipeline/schedule", params={"team_name": EMULATOR_TEAM, "schedule_id": schedule["id"]}
        ).json()
        run = fetched["latest_run"]
        assert run is not None and run["is_definition"] is False
        assert run["schedule_name"] == "hourly" and run["created_via"] == "schedule"
        assert datetime.fromisoformat(fetched["next_run"]) > next_run

        def finished() -> dict[str, Any] | None:
            status = client.get(
                "/datachain/pipeline/status", params={"team_name": EMULATOR_TEAM, "pipeline_id": run["pipeline_id"]}
            ).json()
            return status if status["status"] == "COMPLETED" else None



        assert wait_for(finished, what="the scheduled run")["completed"] == 1

        paused = client.post(
            "/datachain/pipeline/update-schedule",
            json={"team_name": EMULATOR_TEAM, "schedule_id": schedule["id"], "pause_pipeline": True,
                  "cron_expression": "*/5 * * * *"},
        )
        assert paused.status_code == 200
        assert paused.json()["schedule"]["cron_expression"] == "*/5 * * * *"
        assert paused.json()["schedule"]["next_run"] is None
        runs_before = len(fresh_emulator.state.pipelines)
        advance(fresh_emulator, 3600)
        assert len(fresh_emulator.state.pipelines) == runs_before

        bad = client.post(
            "/datachain/pipeline/update-schedule",
            json={"team_name": EMULATOR_TEAM, "schedule_id": schedule["id"], "cron_expression": "61 * * * *"},
        )
        assert bad.status_code == 400

        deleted = client.post(
            "/datachain/pipeline/delete-schedule", json={"team_name": EMULATOR_TEAM, "schedule_id": schedule["id"]}
        )
        assert deleted.json() == {"ok": True}
        gone = client.get(
            "/datachain/pipeline/schedule", params={"team_name": EMULATOR_TEAM, "schedule_id": schedule["id"]}
        )
        assert gone.status_code == 404


def test_one_shot_schedule_by_start_after(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        definition = make_definition(client, "oneshot-ds")
        when = (emulator_now(fresh_emulator) + timedelta(days=1)).astimezone(timezone.utc)
        created = client.post(
            "/datachain/pipeline/create-schedule",
            json={"team_name": EMULATOR_TEAM, "pipeline_id": definition["pipeline_id"], "schedule_name": "once",
                  "start_after": when.isoformat().replace("+00:00", "Z")},
        ).json()["schedule"]
        assert datetime.fromisoformat(created["next_run"]) == when
        advance(fresh_emulator, 23 * 3600)
        assert created["id"] in fresh_emulator.state.schedules
        assert fresh_emulator.state.schedules[created["id"]].latest_run_id is None
        advance(fresh_emulator, 3600)
        assert fresh_emulator.state.schedules[created["id"]].latest_run_id is not None
        assert fresh_emulator.state.schedules[created["id"]].next_run is None


def test_schedule_validation(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        definition = make_definition(client, "val-ds")
        cases = [
            ({"pipeline_id": definition["pipeline_id"], "cron_expression": "nope"}, 400),
            ({"pipeline_id": definition["pipeline_id"]}, 400),
            ({"pipeline_name": "no-such-pipeline", "cron_expression": "0 * * * *"}, 404),
        ]
        for body, status in cases:
            response = client.post("/datachain/pipeline/create-schedule", json={"team_name": EMULATOR_TEAM, **body})
            assert response.status_code == status, body
            assert response.json()["message"]


#: The fields of the reference's ``PipelineScheduleItem`` (what ``GET pipeline/schedules`` lists, seed 002).
SCHEDULE_ITEM_FIELDS = {
    "id", "schedule_name", "created_at", "updated_at", "start_after", "cron_expression", "next_run", "created_by"
}


def test_schedules_are_listed_and_read_in_the_reference_shape(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        definition = make_definition(client, "shape-ds")
        created = client.post(
            "/datachain/pipeline/create-schedule",
            json={"team_name": EMULATOR_TEAM, "pipeline_id": definition["pipeline_id"], "schedule_name": "nightly",
                  "cron_expression": "0 3 * * *"},
        ).json()["schedule"]
        listed = client.get("/datachain/pipeline/schedules", params={"team_name": EMULATOR_TEAM}).json()
        one = client.get(
            "/datachain/pipeline/schedule", params={"team_name": EMULATOR_TEAM, "schedule_id": created["id"]}
        ).json()
    assert [set(item) for item in listed] == [SCHEDULE_ITEM_FIELDS]
    assert set(listed[0]["created_by"]) == {"username", "first_name", "last_name"}
    # One schedule (PipelineScheduleOutput) names its pipeline in the nested object only.
    assert SCHEDULE_ITEM_FIELDS | {"latest_run", "pipeline"} <= set(one)
    assert "pipeline_id" not in one and "pipeline_id" not in created
    assert one["pipeline"]["pipeline_id"] == definition["pipeline_id"]
