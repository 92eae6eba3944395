"""Routes for RBAC access groups, group members and access rules (team_name in the query or the body)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .routing import add_route, emulator_of, json_body, team_of


async def list_groups(request: Request) -> list[dict[str, Any]]:
    return emulator_of(request).state.rbac.list_groups(team_of(request))


async def create_group(request: Request) -> JSONResponse:
    body = await json_body(request)
    emulator = emulator_of(request)
    group = emulator.state.rbac.create_group(team_of(request, body), body, emulator.clock.now())
    return JSONResponse(group, status_code=201)


async def update_group(request: Request, group_id: str) -> dict[str, Any]:
    body = await json_body(request)
    return emulator_of(request).state.rbac.update_group(team_of(request, body), group_id, body)


async def delete_group(request: Request, group_id: str) -> Response:
    body = await json_body(request)
    emulator_of(request).state.rbac.delete_group(team_of(request, body), group_id)
    return Response(status_code=204)


async def list_members(request: Request, group_id: str) -> list[dict[str, Any]]:
    return emulator_of(request).state.rbac.list_members(team_of(request), group_id)


async def add_member(request: Request, group_id: str) -> JSONResponse:
    body = await json_body(request)
    member = emulator_of(request).state.rbac.add_member(team_of(request, body), group_id, body)
    return JSONResponse(member, status_code=201)


async def update_member(request: Request, group_id: str, user_id: str) -> dict[str, Any]:
    body = await json_body(request)
    return emulator_of(request).state.rbac.update_member(team_of(request, body), group_id, user_id, body)


async def remove_member(request: Request, group_id: str, user_id: str) -> Response:
    body = await json_body(request)
    emulator_of(request).state.rbac.remove_member(team_of(request, body), group_id, user_id)
    return Response(status_code=204)


async def list_rules(request: Request) -> list[dict[str, Any]]:
    return emulator_of(request).state.rbac.list_rules(team_of(request))


async def create_rule(request: Request) -> JSONResponse:
    body = await json_body(request)
    rule = emulator_of(request).state.rbac.create_rule(team_of(request, body), body)
    return JSONResponse(rule, status_code=201)


async def update_rule(request: Request, rule_id: str) -> dict[str, Any]:
    body = await json_body(request)
    return emulator_of(request).state.rbac.update_rule(team_of(request, body), rule_id, body)


async def delete_rule(request: Request, rule_id: str) -> Response:
    body = await json_body(request)
    emulator_of(request).state.rbac.delete_rule(team_of(request, body), rule_id)
    return Response(status_code=204)


def build_router() -> APIRouter:
    router = APIRouter()
    groups = "/datachain/rbac/access-groups/"
    add_route(router, groups, list_groups, ["GET"])
    add_route(router, groups, create_group, ["POST"])
    add_route(router, groups + "{group_id}/", update_group, ["PATCH"])
    add_route(router, groups + "{group_id}/", delete_group, ["DELETE"])
    add_route(router, groups + "{group_id}/members/", list_members, ["GET"])
    add_route(router, groups + "{group_id}/members/", add_member, ["POST"])
    add_route(router, groups + "{group_id}/members/{user_id}/", update_member, ["PATCH"])
    add_route(router, groups + "{group_id}/members/{user_id}/", remove_member, ["DELETE"])
    rules = "/datachain/rbac/access-rules/"
    add_route(router, rules, list_rules, ["GET"])
    add_route(router, rules, create_rule, ["POST"])
    add_route(router, rules + "{rule_id}/", update_rule, ["PATCH"])
    add_route(router, rules + "{rule_id}/", delete_rule, ["DELETE"])
    return router
