"""Pipeline schedules: create, update, delete, read and list."""

from __future__ import annotations

import httpx

from .. import validation as check
from ..models import Schedule
from ..request import ApiRequest, Retry, response_json
from .common import DateLike, compact, decode_ok, query_params, unwrap_list, unwrap_object


def _decode_schedule(response: httpx.Response) -> Schedule:
    return Schedule.from_dict(unwrap_object(response_json(response), "schedule"))


def _decode_schedules(response: httpx.Response) -> list[Schedule]:
    return [Schedule.from_dict(item) for item in unwrap_list(response_json(response), "schedules")]


def create_schedule(
    team: str,
    *,
    schedule_name: str,
    cron_expression: str | None = None,
    pipeline_id: str | None = None,
    pipeline_name: str | None = None,
    start_after: DateLike | None = None,
) -> ApiRequest[Schedule]:
    """Schedule a pipeline: on a cron expression, or once at ``start_after`` (at least one of the two, as
    the API reference allows). Never retried blindly.

    :param schedule_name: the schedule's name.
    :param cron_expression: when to run, such as ``"0 3 * * *"``.
    :param pipeline_id: the pipeline definition's id (or give ``pipeline_name``).
    :param pipeline_name: the pipeline's name (or give ``pipeline_id``).
    :param start_after: the first run is not before this time; without ``cron_expression``, the one run.
    """
    check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
    check.one_of(("cron_expression", "start_after"), (cron_expression, start_after))
    body = compact(
        {
            "schedule_name": check.required_text("schedule_name", schedule_name),
            "team_name": team,
            "pipeline_id": pipeline_id,
            "pipeline_name": pipeline_name,
            "start_after": None if start_after is None else check.iso_datetime("start_after", start_after),
            "cron_expression": (
                None if cron_expression is None else check.cron_expression("cron_expression", cron_expression)
            ),
        }
    )
    return ApiRequest(
        "create_schedule",
        "POST",
        "datachain/pipeline/create-schedule",
        _decode_schedule,
        json=body,
        retry=Retry.UNSAFE,
    )


def update_schedule(
    team: str,
    *,
    schedule_id: int,
    schedule_name: str | None = None,
    cron_expression: str | None = None,
    start_after: DateLike | None = None,
    pause_pipeline: bool | None = None,
) -> ApiRequest[Schedule]:
    """Change a schedule.

    :param schedule_id: the schedule's id.
    :param schedule_name: a new name.
    :param cron_expression: a new cron expression.
    :param start_after: a new earliest start.
    :param pause_pipeline: pause (``True``) or unpause (``False``) the scheduled pipeline.
    """
    body = compact(
        {
            "schedule_name": schedule_name,
            "team_name": team,
            "schedule_id": check.int_in_range("schedule_id", schedule_id, 0),
            "start_after": None if start_after is None else check.iso_datetime("start_after", start_after),
            "cron_expression": (
                None if cron_expression is None else check.cron_expression("cron_expression", cron_expression)
            ),
            "pause_pipeline": pause_pipeline,
        }
    )
    return ApiRequest(
        "update_schedule", "POST", "datachain/pipeline/update-schedule", _decode_schedule, json=body
    )


def delete_schedule(team: str, *, schedule_id: int) -> ApiRequest[bool]:
    """Delete a schedule.

    :param schedule_id: the schedule's id.
    """
    body = {"team_name": team, "schedule_id": check.int_in_range("schedule_id", schedule_id, 0)}
    return ApiRequest("delete_schedule", "POST", "datachain/pipeline/delete-schedule", decode_ok, json=body)


def get_schedule(team: str, *, schedule_id: int) -> ApiRequest[Schedule]:
    """Read a schedule, with its pipeline and latest run.

    :param schedule_id: the schedule's id.
    """
    params = query_params(team, schedule_id=check.int_in_range("schedule_id", schedule_id, 0))
    return ApiRequest("get_schedule", "GET", "datachain/pipeline/schedule", _decode_schedule, params=params)


def list_schedules(team: str) -> ApiRequest[list[Schedule]]:
    """List the team's schedules."""
    return ApiRequest(
        "list_schedules", "GET", "datachain/pipeline/schedules", _decode_schedules, params=query_params(team)
    )
