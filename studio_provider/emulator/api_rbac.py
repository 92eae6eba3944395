"""Routes for RBAC access groups, group members and access rules, each checked against ``api_spec``.

The reference shows these routes without ``team_name``; the emulator takes it from the query string.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from . import api_spec as spec
from .errors import bad_request
from .routing import add_route, emulator_of
from .schema import parse_request


def _user_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise bad_request(f"user_id must be an integer; got {text[:40]!r}")
    return int(text)


async def list_groups(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.RBAC_READ)
    return emulator_of(request).state.rbac.list_groups(call.team)


async def create_group(request: Request) -> JSONResponse:
    call = await parse_request(request, spec.CREATE_GROUP)
    emulator = emulator_of(request)
    group = emulator.state.rbac.create_group(call.team, call["name"], call["description"], emulator.clock.now())
    return JSONResponse(group, status_code=201)


async def update_group(request: Request, group_id: str) -> dict[str, Any]:
    call = await parse_request(request, spec.UPDATE_GROUP)
    return emulator_of(request).state.rbac.update_group(call.team, group_id, call["name"], call["description"])


async def delete_group(request: Request, group_id: str) -> Response:
    call = await parse_request(request, spec.RBAC_DELETE)
    emulator_of(request).state.rbac.delete_group(call.team, group_id)
    return Response(status_code=204)


async def list_members(request: Request, group_id: str) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.RBAC_READ)
    return emulator_of(request).state.rbac.list_members(call.team, group_id)


async def add_member(request: Request, group_id: str) -> JSONResponse:
    call = await parse_request(request, spec.ADD_MEMBER)
    member = emulator_of(request).state.rbac.add_member(call.team, group_id, call["user_id"], call["role"])
    return JSONResponse(member, status_code=201)


async def update_member(request: Request, group_id: str, user_id: str) -> dict[str, Any]:
    call = await parse_request(request, spec.UPDATE_MEMBER)
    rbac = emulator_of(request).state.rbac
    return rbac.update_member(call.team, group_id, _user_id(user_id), call["role"])


async def remove_member(request: Request, group_id: str, user_id: str) -> Response:
    call = await parse_request(request, spec.RBAC_DELETE)
    emulator_of(request).state.rbac.remove_member(call.team, group_id, _user_id(user_id))
    return Response(status_code=204)


async def list_rules(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.RBAC_READ)
    return emulator_of(request).state.rbac.list_rules(call.team)


async def create_rule(request: Request) -> JSONResponse:
    call = await parse_request(request, spec.CREATE_RULE)
    rule = emulator_of(request).state.rbac.create_rule(call.team, call.values)
    return JSONResponse(rule, status_code=201)


async def update_rule(request: Request, rule_id: str) -> dict[str, Any]:
    call = await parse_request(request, spec.UPDATE_RULE)
    return emulator_of(request).state.rbac.update_rule(call.team, rule_id, call["permission"])


async def delete_rule(request: Request, rule_id: str) -> Response:
    call = await parse_request(request, spec.RBAC_DELETE)
    emulator_of(request).state.rbac.delete_rule(call.team, rule_id)
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
