"""The schedule sync's checks and diff, before any request; ownership markers; the sync against the
reference's response shapes (respx)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

import pendulum
import pytest
import respx

from studio_provider.client import Schedule
from studio_provider.client.schedule_owner import ScheduleOwner, StudioScheduleConflictError, split_marker
from studio_provider.client.schedule_sync import (
    ScheduleSpec,
    SyncAction,
    aware_start_after,
    schedule_changes,
    sync_schedule,
)
from tests.client.conftest import API, TEAM, TOKEN, json_body, sync_client


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2031, 1, 2, 3, 4), "2031-01-02T03:04:00+00:00"),
        ("2031-01-02T03:04:00", "2031-01-02T03:04:00+00:00"),
        ("2031-01-02T03:04:00Z", "2031-01-02T03:04:00+00:00"),
        (pendulum.datetime(2031, 1, 2, 4, 4, tz="Europe/Paris"), "2031-01-02T04:04:00+01:00"),
    ],
    ids=["naive", "naive-iso", "z", "pendulum"],
)
def test_start_after_becomes_timezone_aware_iso_text(value: Any, expected: str) -> None:
    assert aware_start_after("start_after", value) == expected


def test_schedule_spec_checks_before_any_request() -> None:
    with pytest.raises(ValueError, match="cron_expression '61 \\* \\* \\* \\*' is not a valid cron"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p", cron_expression="61 * * * *")
    with pytest.raises(ValueError, match="cron_expression, start_after, or both"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p")
    with pytest.raises(ValueError, match="start_after must be a datetime"):
        ScheduleSpec.build(schedule_name="s", pipeline_name="p", start_after="soon")
    with pytest.raises(ValueError, match="mutually exclusive"):
        ScheduleSpec.build(schedule_name="s", pipeline_id="i", pipeline_name="p", cron_expression="0 3 * * *")


def test_schedule_changes_lists_only_declared_differences() -> None:
    existing = Schedule.from_dict(
        {
            "id": 1,
            "schedule_name": "s",
            "cron_expression": "0 3 * * *",
            "start_after": "2031-01-02T03:04:00Z",
            "paused": False,
        }
    )
    same = ScheduleSpec.build(
        schedule_name="s",
        pipeline_name="p",
        cron_expression="0  3 * * *",
        start_after=datetime(2031, 1, 2, 3, 4, tzinfo=timezone.utc),
    )
    assert schedule_changes(existing, same) == {}
    other = ScheduleSpec.build(schedule_name="s", pipeline_name="p", cron_expression="0 4 * * *", paused=True)
    assert schedule_changes(existing, other) == {
        "cron_expression": ("0 3 * * *", "0 4 * * *"),
        "paused": (False, True),
    }


# ---- ownership: the marker, and the sync against the reference's shapes (respx) ------------------------

PIPELINE_A = "ec036e81-7903-4e4d-bbfa-ac8516341cf0"
PIPELINE_B = "1f0ab7a4-2b41-4c5e-9d7e-3a0d6c2e4b11"
SCHEDULES = f"{API}/datachain/pipeline/schedules"
SCHEDULE = f"{API}/datachain/pipeline/schedule"


def owner_of(scope: str = "etl", token: str = TOKEN, team: str = TEAM) -> ScheduleOwner:
    return ScheduleOwner.derive(token=token, team=team, scope=scope, label=f"DAG {scope!r}")


def listed(schedule_id: int, name: str, cron: str = "0 3 * * *") -> dict[str, Any]:
    """A PipelineScheduleItem exactly as the reference shows it: no pipeline, no pause flag."""
    return {
        "id": schedule_id,
        "schedule_name": name,
        "created_at": "2031-01-01T00:00:00Z",
        "updated_at": "2031-01-01T00:00:00Z",
        "start_after": None,
        "cron_expression": cron,
        "next_run": "2031-01-02T03:00:00Z",
        "created_by": {"username": "someone", "first_name": "S", "last_name": "O"},
    }


def read_one(schedule_id: int, name: str, pipeline_id: str, cron: str = "0 3 * * *") -> dict[str, Any]:
    """A PipelineScheduleOutput as ``GET pipeline/schedule`` answers it: the pipeline nested, no envelope."""
    return {
        **listed(schedule_id, name, cron),
        "latest_run": None,
        "pipeline": {
            "pipeline_id": pipeline_id,
            "status": "PENDING",
            "name": "brave-otter",
            "is_definition": True,
        },
    }


def definition_route(router: respx.MockRouter) -> None:
    router.get(f"{API}/datachain/pipeline/status").respond(
        json={"pipeline_id": PIPELINE_A, "status": "PENDING", "name": "brave-otter", "is_definition": True}
    )


def test_the_marker_is_a_secret_of_the_token_team_scope_and_name() -> None:
    owner = owner_of()
    name = owner.studio_name("nightly")
    assert re.fullmatch(r"nightly \[airflow:[0-9a-f]{16}\]", name)
    assert owner.owns(name) and owner_of().studio_name("nightly") == name
    others = [owner_of(token="another-token"), owner_of(team="other-team"), owner_of(scope="other_dag")]
    assert all(not other.owns(name) for other in others)
    assert owner.studio_name("nightly-eu") != name.replace("nightly", "nightly-eu")
    forged = "nightly [airflow:" + hashlib.sha256(b"etl nightly").hexdigest()[:16] + "]"
    assert not owner.owns(forged) and not owner.owns("nightly") and not owner.owns(None)
    assert TOKEN not in repr(owner) and "key" not in repr(owner)


@pytest.mark.parametrize(
    ("studio_name", "expected"),
    [
        ("nightly", ("nightly", None)),
        ("nightly-eu", ("nightly-eu", None)),
        ("nightly [airflow:0123456789abcdef]", ("nightly", "0123456789abcdef")),
        ("nightly-eu [airflow:0123456789abcdef]", ("nightly-eu", "0123456789abcdef")),
        ("nightly [airflow:0123456789ABCDEF]", ("nightly [airflow:0123456789ABCDEF]", None)),
        ("nightly [airflow:0123]", ("nightly [airflow:0123]", None)),
        (" [airflow:0123456789abcdef]", (" [airflow:0123456789abcdef]", None)),
    ],
)
def test_split_marker_keeps_the_declared_name_exact(
    studio_name: str, expected: tuple[str, str | None]
) -> None:
    assert split_marker(studio_name) == expected


def test_a_declared_name_may_not_carry_a_marker() -> None:
    with pytest.raises(
        ValueError, match="schedule_name 'n \\[airflow:0123456789abcdef\\]' ends in an owner's marker"
    ):
        ScheduleSpec.build(
            schedule_name="n [airflow:0123456789abcdef]", pipeline_name="p", cron_expression="0 3 * * *"
        )


def test_against_the_reference_listing_a_matching_schedule_is_read_and_left_alone(
    router: respx.MockRouter,
) -> None:
    owner = owner_of()
    definition_route(router)
    router.get(SCHEDULES).respond(json=[listed(7, owner.studio_name("nightly")), listed(8, "nightly-eu")])
    one = router.get(SCHEDULE, params={"schedule_id": "7"}).respond(
        json=read_one(7, owner.studio_name("nightly"), PIPELINE_A)
    )
    writes = router.post(url__startswith=f"{API}/datachain/pipeline/").respond(json={"ok": True})
    spec = ScheduleSpec.build(schedule_name="nightly", pipeline_id=PIPELINE_A, cron_expression="0 3 * * *")
    with sync_client(router) as client:
        result = sync_schedule(client, spec, owner=owner)
    assert (result.action, result.schedule.id) == (SyncAction.UNCHANGED, 7)
    assert one.call_count == 1 and writes.call_count == 0


def test_against_the_reference_listing_a_retargeted_schedule_is_replaced(router: respx.MockRouter) -> None:
    owner = owner_of()
    definition_route(router)
    router.get(SCHEDULES).respond(json=[listed(7, owner.studio_name("nightly"))])
    router.get(SCHEDULE, params={"schedule_id": "7"}).respond(
        json=read_one(7, owner.studio_name("nightly"), PIPELINE_B)
    )
    deleted = router.post(f"{API}/datachain/pipeline/delete-schedule").respond(json={"ok": True})
    created = router.post(f"{API}/datachain/pipeline/create-schedule").respond(
        json={"ok": True, "schedule": read_one(9, owner.studio_name("nightly"), PIPELINE_A)}
    )
    spec = ScheduleSpec.build(schedule_name="nightly", pipeline_id=PIPELINE_A, cron_expression="0 3 * * *")
    with sync_client(router) as client:
        result = sync_schedule(client, spec, owner=owner)
    assert (result.action, result.schedule.id) == (SyncAction.REPLACED, 9)
    assert json_body(deleted.calls.last.request)["schedule_id"] == 7
    body = json_body(created.calls.last.request)
    assert (body["schedule_name"], body["pipeline_id"]) == (owner.studio_name("nightly"), PIPELINE_A)


def test_a_conflict_names_each_schedule_and_changes_nothing(router: respx.MockRouter) -> None:
    hostile = "nightly"
    definition_route(router)
    router.get(SCHEDULES).respond(
        json=[listed(7, hostile), listed(8, owner_of(scope="other_dag").studio_name("nightly"))]
    )
    nasty_pipeline = {"pipeline_id": PIPELINE_B, "name": "evil\n\x1b[31m" + "x" * 500, "is_definition": True}
    router.get(SCHEDULE, params={"schedule_id": "7"}).respond(
        json={**listed(7, hostile), "pipeline": nasty_pipeline}
    )
    router.get(SCHEDULE, params={"schedule_id": "8"}).respond(status_code=404, json={"message": "gone"})
    writes = router.post(url__startswith=f"{API}/datachain/pipeline/").respond(json={"ok": True})
    spec = ScheduleSpec.build(schedule_name="nightly", pipeline_id=PIPELINE_A, cron_expression="0 3 * * *")
    with sync_client(router) as client, pytest.raises(StudioScheduleConflictError) as raised:
        sync_schedule(client, spec, owner=owner_of())
    message = str(raised.value)
    assert raised.value.schedule_ids == (7, 8) and writes.call_count == 0
    assert "id 7 'nightly' for pipeline 'evil\\n\\x1b[31m" in message and f"(id '{PIPELINE_B}')" in message
    assert "id 8 'nightly [airflow:" in message and "(id unknown)" in message  # deleted meanwhile
    assert "\n" not in message and "\x1b" not in message and "x" * 200 not in message
    assert "take_over_schedule_id" in message and TOKEN not in message


def test_take_over_renames_the_named_schedule_to_carry_the_marker(router: respx.MockRouter) -> None:
    owner = owner_of()
    definition_route(router)
    router.get(SCHEDULES).respond(json=[listed(7, "nightly", cron="0 5 * * *")])
    marked = owner.studio_name("nightly")
    router.get(SCHEDULE, params={"schedule_id": "7"}).respond(
        json=read_one(7, marked, PIPELINE_A, cron="0 5 * * *")
    )
    updated = router.post(f"{API}/datachain/pipeline/update-schedule").respond(
        json={"ok": True, "schedule": read_one(7, marked, PIPELINE_A)}
    )
    spec = ScheduleSpec.build(schedule_name="nightly", pipeline_id=PIPELINE_A, cron_expression="0 3 * * *")
    with sync_client(router) as client:
        result = sync_schedule(client, spec, owner=owner, take_over_schedule_id=7)
    assert result.action is SyncAction.TAKEN_OVER
    first, second = (json_body(call.request) for call in updated.calls)
    assert (first["schedule_id"], first["schedule_name"]) == (7, marked)
    assert (second["schedule_id"], second["cron_expression"]) == (7, "0 3 * * *")
