"""Pipelines: definitions from dataset lineage, runs in dependency order, pause/resume and friends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from tests.conftest import EMULATOR_TEAM
from tests.emulator.helpers import (
    client_for,
    create_job,
    gated_query,
    get_job,
    simulated_job,
    wait_for,
    wait_job,
)

pytestmark = pytest.mark.integration


def post(client: httpx.Client, action: str, **body: Any) -> httpx.Response:
    return client.post(f"/datachain/pipeline/{action}", json={"team_name": EMULATOR_TEAM, **body})


def status(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/datachain/pipeline/status", params={"team_name": EMULATOR_TEAM, **params})
    assert response.status_code == 200, response.text
    data = response.json()
    assert isinstance(data, dict)
    return data


def wait_pipeline(client: httpx.Client, pipeline_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        data = status(client, pipeline_id=pipeline_id)
        return data if data["status"] in statuses else None

    return wait_for(probe, what=f"pipeline {pipeline_id} to reach {statuses}")


def producer(client: httpx.Client, writes: str, reads: str = "", duration: float = 0.05) -> dict[str, Any]:
    env: dict[str, Any] = {"duration": duration, "writes": writes, "log_lines": 1}
    if reads:
        env["reads"] = reads
    job = simulated_job(client, EMULATOR_TEAM, **env)
    assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "COMPLETE"
    return job


@pytest.fixture
def lineage(fresh_emulator: EmulatorServer) -> dict[str, Any]:
    """raw → clean → features, and raw → stats: four jobs, as produced before any pipeline exists."""
    with client_for(fresh_emulator) as client:
        return {
            "raw": producer(client, "raw"),
            "clean": producer(client, "clean", reads="raw"),
            "features": producer(client, "@acme.ml.features", reads="clean"),
            "stats": producer(client, "stats", reads="raw@v1.0.0"),
        }


@dataclass
class Gated:
    """A local emulator where ``first`` (a real process) wrote "g-first" and ``second`` read it to write
    "g-second". The gate is closed afterwards: a pipeline's re-run of ``first`` stays RUNNING until the test
    opens it, so pausing and resuming never race a job's duration."""

    server: EmulatorServer
    gate: Path
    first: dict[str, Any]
    second: dict[str, Any]


@pytest.fixture
def gated(emulator_factory: Callable[..., EmulatorServer], tmp_path: Path) -> Gated:
    server = emulator_factory()  # the local executor (the second job asks for the simulated one)
    gate = tmp_path / "gate"
    gate.touch()
    with client_for(server) as client:
        first = create_job(client, EMULATOR_TEAM, gated_query(gate, "g-first"), query_name="first.py")
        assert wait_job(client, EMULATOR_TEAM, first["id"])["status"] == "COMPLETE"
        second = producer(client, "g-second", reads="g-first")
    gate.unlink()
    return Gated(server, gate, first, second)


def test_trigger_builds_a_definition_from_lineage(fresh_emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    with client_for(fresh_emulator) as client:
        response = post(client, "trigger", datasets=["@acme.ml.features", "stats@v1.0.0"])
        assert response.status_code == 200, response.text
        body = response.json()
    assert body["ok"] is True
    pipeline = body["pipeline"]
    assert pipeline["is_definition"] is True
    assert pipeline["status"] == "PENDING"
    assert (pipeline["completed"], pipeline["total"]) == (0, 4)
    assert pipeline["triggered_from"] == "@acme.ml.features, stats@v1.0.0"
    adjective, _, noun = pipeline["name"].partition("-")
    assert adjective and noun
    runs = {run["job_id"]: run for run in pipeline["job_runs"]}
    ids = {name: job["id"] for name, job in lineage.items()}
    assert set(runs) == set(ids.values())
    assert runs[ids["raw"]]["parent_job_ids"] == []
    assert runs[ids["clean"]]["parent_job_ids"] == [ids["raw"]]
    assert runs[ids["features"]]["parent_job_ids"] == [ids["clean"]]
    assert runs[ids["stats"]]["parent_job_ids"] == [ids["raw"]]
    assert all(run["status"] == "PENDING" and run["created_job_id"] is None for run in runs.values())
    # Parents are listed before their children.
    order = [run["job_id"] for run in pipeline["job_runs"]]
    assert order.index(ids["raw"]) < order.index(ids["clean"]) < order.index(ids["features"])


def test_trigger_unknown_dataset(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        response = post(client, "trigger", datasets=["does-not-exist"])
        empty = post(client, "trigger", datasets=[])
    assert response.status_code in (400, 404)
    assert "does-not-exist" in response.json()["message"]
    assert empty.status_code == 400


def test_run_executes_jobs_in_dependency_order(fresh_emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    with client_for(fresh_emulator) as client:
        definition = post(client, "trigger", datasets=["@acme.ml.features", "stats"]).json()["pipeline"]
        started = post(client, "run", definition_id=definition["pipeline_id"])
        assert started.status_code == 200, started.text
        run = started.json()["pipeline"]
        assert run["is_definition"] is False
        assert run["status"] == "RUNNING"
        assert run["pipeline_id"] != definition["pipeline_id"]
        final = wait_pipeline(client, run["pipeline_id"], ("COMPLETED", "FAILED", "CANCELED"))
        assert final["status"] == "COMPLETED"
        assert (final["completed"], final["total"]) == (4, 4)
        created = {}
        for job_run in final["job_runs"]:
            assert job_run["status"] == "COMPLETE"
            assert job_run["created_job_id"] not in (None, job_run["job_id"])
            created[job_run["job_id"]] = get_job(client, EMULATOR_TEAM, job_run["created_job_id"])
        for job_run in final["job_runs"]:
            child = created[job_run["job_id"]]
            assert child["pipeline_id"] == run["pipeline_id"]
            for parent_id in job_run["parent_job_ids"]:
                parent = created[parent_id]
                assert datetime.fromisoformat(child["started_at"]) >= datetime.fromisoformat(parent["finished_at"])
        # The definition itself is unchanged.
        assert status(client, pipeline_id=definition["pipeline_id"])["status"] == "PENDING"


def test_failure_fails_the_run_and_skips_dependents(fresh_emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    with client_for(fresh_emulator) as client:
        definition = post(client, "trigger", datasets=["@acme.ml.features"]).json()["pipeline"]
        settings = post(
            client, "settings", pipeline_name=definition["name"],
            environment="STUDIO_EMULATOR_EXIT_CODE=4\nSTUDIO_EMULATOR_ERROR_MESSAGE=bad data", workers=2,
        )
        assert settings.status_code == 200
        assert settings.json()["pipeline"]["environment_variables"]["STUDIO_EMULATOR_EXIT_CODE"] == "4"
        run = post(client, "run", definition_id=definition["pipeline_id"]).json()["pipeline"]
        final = wait_pipeline(client, run["pipeline_id"], ("COMPLETED", "FAILED", "CANCELED"))
    assert final["status"] == "FAILED"
    assert "bad data" in final["error_message"]
    by_job = {job_run["job_id"]: job_run for job_run in final["job_runs"]}
    assert by_job[lineage["raw"]["id"]]["status"] == "FAILED"
    for name in ("clean", "features"):
        assert by_job[lineage[name]["id"]]["status"] == "CANCELED"
        assert by_job[lineage[name]["id"]]["created_job_id"] is None
    created = fresh_emulator.state.jobs[by_job[lineage["raw"]["id"]]["created_job_id"]]
    assert created.workers == 2


def test_pause_and_resume(gated: Gated) -> None:
    with client_for(gated.server) as client:
        definition = post(client, "trigger", datasets=["g-second"]).json()["pipeline"]
        run = post(client, "run", definition_id=definition["pipeline_id"]).json()["pipeline"]
        paused = post(client, "pause", pipeline_id=run["pipeline_id"])
        assert paused.status_code == 200
        assert paused.json()["pipeline"]["status"] == "PAUSED"
        first = paused.json()["pipeline"]["job_runs"][0]
        assert first["job_id"] == gated.first["id"]
        assert first["created_job_id"] is not None
        # The gate is closed: the first job is still at work while the run is paused.
        assert get_job(client, EMULATOR_TEAM, first["created_job_id"])["status"] in ("CREATED", "QUEUED", "RUNNING")
        gated.gate.touch()
        assert wait_job(client, EMULATOR_TEAM, first["created_job_id"])["status"] == "COMPLETE"
        still = status(client, pipeline_id=run["pipeline_id"])
        assert still["status"] == "PAUSED"
        assert still["job_runs"][0]["status"] == "COMPLETE"
        assert still["job_runs"][1]["created_job_id"] is None
        assert post(client, "pause", pipeline_id=run["pipeline_id"]).status_code == 400

        resumed = post(client, "resume", pipeline_id=run["pipeline_id"])
        assert resumed.status_code == 200
        assert resumed.json()["pipeline"]["status"] == "RUNNING"
        final = wait_pipeline(client, run["pipeline_id"], ("COMPLETED", "FAILED"))
        assert final["status"] == "COMPLETED"
        assert final["completed"] == 2


def test_cancelled_job_cancels_the_run(fresh_emulator: EmulatorServer) -> None:
    with client_for(fresh_emulator) as client:
        producer(client, "c-long", duration=0.05)
        definition = post(client, "trigger", datasets=["c-long"]).json()["pipeline"]
        post(client, "settings", pipeline_id=definition["pipeline_id"], environment="STUDIO_EMULATOR_DURATION=30")
        run = post(client, "run", definition_id=definition["pipeline_id"]).json()["pipeline"]
        job_id = run["job_runs"][0]["created_job_id"]
        wait_job(client, EMULATOR_TEAM, job_id, ("RUNNING",))
        client.post(f"/datachain/jobs/{job_id}/cancel", json={"team_name": EMULATOR_TEAM})
        assert wait_pipeline(client, run["pipeline_id"], ("COMPLETED", "FAILED", "CANCELED"))["status"] == "CANCELED"


def test_duplicate_remove_job_list_and_names(fresh_emulator: EmulatorServer, lineage: dict[str, Any]) -> None:
    with client_for(fresh_emulator) as client:
        definition = post(client, "trigger", datasets=["@acme.ml.features"]).json()["pipeline"]
        copy = post(client, "duplicate", pipeline_id=definition["pipeline_id"]).json()["pipeline"]
        assert copy["is_definition"] is True
        assert copy["name"] != definition["name"]
        assert [run["job_id"] for run in copy["job_runs"]] == [run["job_id"] for run in definition["job_runs"]]

        removed = post(client, "remove-job", pipeline_id=copy["pipeline_id"], job_id=lineage["clean"]["id"])
        assert removed.status_code == 200, removed.text
        runs = {run["job_id"]: run for run in removed.json()["pipeline"]["job_runs"]}
        assert lineage["clean"]["id"] not in runs
        # The removed job's child now depends on the removed job's parent.
        assert runs[lineage["features"]["id"]]["parent_job_ids"] == [lineage["raw"]["id"]]
        assert removed.json()["pipeline"]["total"] == 2
        assert post(client, "remove-job", pipeline_id=copy["pipeline_id"], job_id="nope").status_code == 404

        run = post(client, "run", definition_id=definition["pipeline_id"]).json()["pipeline"]
        # A run carries its definition's name; status by name finds the newest record (the run).
        assert run["name"] == definition["name"]
        assert status(client, name=definition["name"])["pipeline_id"] == run["pipeline_id"]
        wait_pipeline(client, run["pipeline_id"], ("COMPLETED",))
        snapshot = post(client, "duplicate", pipeline_id=run["pipeline_id"]).json()["pipeline"]
        assert snapshot["is_definition"] is True
        assert all(item["status"] == "PENDING" for item in snapshot["job_runs"])

        def listed(**params: Any) -> list[dict[str, Any]]:
            response = client.get("/datachain/pipeline/list", params={"team_name": EMULATOR_TEAM, **params})
            assert response.status_code == 200
            data = response.json()
            assert isinstance(data, list)
            return data

        everything = listed()
        assert everything[0]["pipeline_id"] == snapshot["pipeline_id"]
        assert {item["pipeline_id"] for item in listed(status="COMPLETED")} == {run["pipeline_id"]}
        assert len(listed(status=["PENDING", "COMPLETED"])) == 4
        assert len(listed(limit=2)) == 2
        assert {item["name"] for item in listed(search=copy["name"])} == {copy["name"]}

        assert post(client, "pause", pipeline_id=definition["pipeline_id"]).status_code == 400
        assert post(client, "run", definition_id="no-such-id").status_code == 404
        missing = client.get("/datachain/pipeline/status", params={"team_name": EMULATOR_TEAM, "name": "no-such"})
        assert missing.status_code == 404


def test_official_client_review_flow_by_name(gated: Gated) -> None:
    """``datachain pipeline create`` then ``resume``/``pause``/``status`` by name."""
    with client_for(gated.server, scheme="token") as client:
        definition = post(client, "trigger", datasets=["g-second"], review=True).json()["pipeline"]
        name = definition["name"]
        resumed = client.post("/datachain/pipeline/resume", json={"team_name": EMULATOR_TEAM, "name": name})
        assert resumed.status_code == 200
        run = resumed.json()["pipeline"]
        assert run["is_definition"] is False and run["status"] == "RUNNING"
        # The first job waits for the gate, so the run is surely still running when paused by name.
        assert client.post("/datachain/pipeline/pause", json={"team_name": EMULATOR_TEAM, "name": name}).status_code == 200
        assert status(client, name=name)["status"] == "PAUSED"
        assert client.post("/datachain/pipeline/resume", json={"team_name": EMULATOR_TEAM, "name": name}).status_code == 200
        assert status(client, name=name)["status"] == "RUNNING"
        gated.gate.touch()
        assert wait_pipeline(client, run["pipeline_id"], ("COMPLETED",))["completed"] == 2
        # Once the newest run finished, neither pause nor resume by name applies.
        late_pause = client.post("/datachain/pipeline/pause", json={"team_name": EMULATOR_TEAM, "name": name})
        late_resume = client.post("/datachain/pipeline/resume", json={"team_name": EMULATOR_TEAM, "name": name})
        assert (late_pause.status_code, late_resume.status_code) == (400, 400)
        assert "COMPLETED" in late_pause.json()["message"]
