"""Routes for pipelines (definitions and runs) and their schedules, each checked against ``api_spec``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request

from . import api_spec as spec
from .pipelines import PipelineService, pipeline_to_dict
from .routing import add_route, emulator_of
from .schema import Call, parse_request
from .state import PipelineRecord


def _ok(pipeline: Any) -> dict[str, Any]:
    return {"ok": True, "pipeline": pipeline_to_dict(pipeline)}


async def trigger(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.TRIGGER)
    return _ok(emulator_of(request).pipelines.trigger(call.team, call["datasets"]))


async def run(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.RUN)
    service = emulator_of(request).pipelines
    return _ok(service.start_run(service.definition_of(call.team, call["definition_id"])))


async def settings(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.SETTINGS)
    service = emulator_of(request).pipelines
    definition = service.definition_of(call.team, call["pipeline_id"], call["pipeline_name"])
    return _ok(service.update_settings(definition, call.values, call.given))


async def status(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.PIPELINE_STATUS)
    return pipeline_to_dict(emulator_of(request).pipelines.find(call.team, call["pipeline_id"], call["name"]))


async def list_pipelines(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.LIST_PIPELINES)
    service = emulator_of(request).pipelines
    found = service.search(call.team, call["status"] or [], call["limit"] or 20, call["search"] or None)
    return [pipeline_to_dict(item) for item in found]


def _by_id_or_name(
    service: PipelineService,
    call: Call,
    eligible: Callable[[PipelineRecord], bool],
    preferred_statuses: tuple[str, ...],
) -> PipelineRecord:
    """The record a by-id-or-name action applies to. An id names exactly one record; a name is shared by a
    definition and its runs, so take the newest eligible record carrying it, preferring those in
    ``preferred_statuses``, else the record the name resolves to."""
    if call["pipeline_id"]:
        return service.find(call.team, pipeline_id=call["pipeline_id"])
    named = service.find(call.team, name=call["name"])
    candidates = [
        item
        for item in service.search(call.team, [], 10**9, None)
        if item.name == named.name and eligible(item)
    ]
    preferred = [item for item in candidates if item.status in preferred_statuses]
    return (preferred or candidates or [named])[0]


async def pause(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.PIPELINE_ACTION)
    service = emulator_of(request).pipelines
    # By name: the newest active run carrying it, else the newest run (the definition shares the name).
    target = _by_id_or_name(service, call, lambda item: not item.is_definition, ("RUNNING", "PENDING"))
    return _ok(service.pause(target))


async def resume(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.PIPELINE_ACTION)
    return _ok(emulator_of(request).pipelines.resume(call.team, call["pipeline_id"], call["name"]))


async def duplicate(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.PIPELINE_ACTION)
    service = emulator_of(request).pipelines
    return _ok(service.duplicate(service.find(call.team, call["pipeline_id"], call["name"])))


async def remove_job(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.REMOVE_JOB)
    service = emulator_of(request).pipelines
    # By name: a paused run carrying it, else its definition.
    found = _by_id_or_name(service, call, lambda item: item.status == "PAUSED", ())
    by_id = bool(call["pipeline_id"])
    target = found if by_id or found.status == "PAUSED" else service.definition_of(call.team, name=found.name)
    return _ok(service.remove_job(target, call["job_id"]))


async def create_schedule(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.CREATE_SCHEDULE)
    service = emulator_of(request).schedules
    return {"ok": True, "schedule": service.output(service.create(call.team, call.values))}


async def update_schedule(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.UPDATE_SCHEDULE)
    service = emulator_of(request).schedules
    return {"ok": True, "schedule": service.output(service.update(call.team, call.values, call.given))}


async def delete_schedule(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.DELETE_SCHEDULE)
    emulator_of(request).schedules.delete(call.team, call["schedule_id"])
    return {"ok": True}


async def get_schedule(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.GET_SCHEDULE)
    emulator = emulator_of(request)
    return emulator.schedules.output(emulator.state.schedule(call.team, call["schedule_id"]))


async def list_schedules(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.LIST_SCHEDULES)
    emulator = emulator_of(request)
    pipeline_id = call["pipeline_id"]
    if not pipeline_id and call["pipeline_name"]:
        pipeline_id = emulator.pipelines.definition_of(call.team, name=call["pipeline_name"]).id
    return [emulator.schedules.item(item) for item in emulator.schedules.for_team(call.team, pipeline_id)]


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
    add_route(router, f"{prefix}/delete-schedule", delete_schedule, ["POST"])
    add_route(router, f"{prefix}/schedule", get_schedule, ["GET"])
    add_route(router, f"{prefix}/schedules", list_schedules, ["GET"])
    return router
