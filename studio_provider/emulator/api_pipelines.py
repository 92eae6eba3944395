"""Routes for pipelines (definitions and runs) and their schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from .errors import bad_request
from .pipelines import PipelineService, pipeline_to_dict
from .routing import add_route, emulator_of, int_param, json_body, team_of
from .state import PipelineRecord


def _ok(pipeline: Any) -> dict[str, Any]:
    return {"ok": True, "pipeline": pipeline_to_dict(pipeline)}


async def trigger(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    return _ok(emulator_of(request).pipelines.trigger(team, body.get("datasets")))


async def run(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).pipelines
    definition_id = body.get("definition_id")
    if not definition_id and not body.get("name"):
        raise bad_request("definition_id is required")
    definition = service.definition_of(team, definition_id, body.get("name"))
    return _ok(service.start_run(definition))


async def settings(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).pipelines
    definition = service.definition_of(
        team, body.get("pipeline_id"), body.get("pipeline_name") or body.get("name")
    )
    return _ok(service.update_settings(definition, body))


async def status(request: Request) -> dict[str, Any]:
    team = team_of(request)
    params = request.query_params
    pipeline = emulator_of(request).pipelines.find(team, params.get("pipeline_id"), params.get("name"))
    return pipeline_to_dict(pipeline)


async def list_pipelines(request: Request) -> list[dict[str, Any]]:
    team = team_of(request)
    params = request.query_params
    statuses = [part for value in params.getlist("status") for part in value.split(",") if part.strip()]
    limit = int_param(params.get("limit"), "limit", 20)
    found = emulator_of(request).pipelines.search(team, statuses, limit, params.get("search") or None)
    return [pipeline_to_dict(item) for item in found]


def _by_id_or_name(
    service: PipelineService,
    team: str,
    body: dict[str, Any],
    eligible: Callable[[PipelineRecord], bool],
    preferred_statuses: tuple[str, ...],
) -> PipelineRecord:
    """The record a by-id-or-name action applies to. An id names exactly one record; a name is shared by a
    definition and its runs, so take the newest eligible record carrying it, preferring those in
    ``preferred_statuses``, else the record the name resolves to."""
    if body.get("pipeline_id"):
        return service.find(team, pipeline_id=body["pipeline_id"])
    named = service.find(team, name=body.get("name"))
    candidates = [
        item for item in service.search(team, [], 10**9, None) if item.name == named.name and eligible(item)
    ]
    preferred = [item for item in candidates if item.status in preferred_statuses]
    return (preferred or candidates or [named])[0]


async def pause(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).pipelines
    # By name: the newest active run carrying it, else the newest run (the definition shares the name).
    target = _by_id_or_name(service, team, body, lambda item: not item.is_definition, ("RUNNING", "PENDING"))
    return _ok(service.pause(target))


async def resume(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    return _ok(emulator_of(request).pipelines.resume(team, body.get("pipeline_id"), body.get("name")))


async def duplicate(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).pipelines
    return _ok(service.duplicate(service.find(team, body.get("pipeline_id"), body.get("name"))))


async def remove_job(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).pipelines
    # By name: a paused run carrying it, else its definition.
    found = _by_id_or_name(service, team, body, lambda item: item.status == "PAUSED", ())
    by_id = bool(body.get("pipeline_id"))
    target = found if by_id or found.status == "PAUSED" else service.definition_of(team, name=found.name)
    return _ok(service.remove_job(target, body.get("job_id")))


async def create_schedule(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).schedules
    return {"ok": True, "schedule": service.output(service.create(team, body))}


async def update_schedule(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    service = emulator_of(request).schedules
    return {"ok": True, "schedule": service.output(service.update(team, body))}


async def delete_schedule(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team = team_of(request, body)
    schedule_id = body.get("schedule_id", request.query_params.get("schedule_id"))
    emulator_of(request).schedules.delete(team, schedule_id)
    return {"ok": True}


async def get_schedule(request: Request) -> dict[str, Any]:
    team = team_of(request)
    emulator = emulator_of(request)
    schedule = emulator.state.schedule(team, request.query_params.get("schedule_id"))
    return emulator.schedules.output(schedule)


async def list_schedules(request: Request) -> list[dict[str, Any]]:
    team = team_of(request)
    emulator = emulator_of(request)
    params = request.query_params
    pipeline_id = params.get("pipeline_id")
    if not pipeline_id and params.get("pipeline_name"):
        pipeline_id = emulator.pipelines.definition_of(team, name=params["pipeline_name"]).id
    return [emulator.schedules.item(item) for item in emulator.schedules.for_team(team, pipeline_id)]


def build_router() -> APIRouter:
    router = APIRouter()
    prefix = "/datachain/pipeline"
    add_route(router, f"{prefix}/trigger", trigger, ["POST"])
    add_route(router, f"{prefix}/run", run, ["POST"])
    add_route(router, f"{prefix}/settings", settings, ["POST"])
    add_route(router, f"{prefix}/status", status, ["GET"])
    add_route(router, f"{prefix}/list", list_pipelines, ["GET"])
    add_route(router, f"{prefix}/pause", pause, ["POST"])
    add_route(router, f"{prefix}/resume", resume, ["POST"])
    add_route(router, f"{prefix}/duplicate", duplicate, ["POST"])
    add_route(router, f"{prefix}/remove-job", remove_job, ["POST"])
    add_route(router, f"{prefix}/create-schedule", create_schedule, ["POST"])
    add_route(router, f"{prefix}/update-schedule", update_schedule, ["POST"])
    add_route(router, f"{prefix}/delete-schedule", delete_schedule, ["POST", "DELETE"])
    add_route(router, f"{prefix}/schedule", get_schedule, ["GET"])
    add_route(router, f"{prefix}/schedules", list_schedules, ["GET"])
    return router
