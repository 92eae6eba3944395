"""The schedule sync's checks and diff, before any request."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pendulum
import pytest

from studio_provider.client import Schedule
from studio_provider.client.schedule_sync import ScheduleSpec, aware_start_after, schedule_changes


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
