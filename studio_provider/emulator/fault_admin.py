"""The fault-injection admin endpoints (``/faults``, ``/requests``, ``/counters``, ...).

``_build_admin_router`` builds the router behind ``FaultInjector.admin_router()``; the app factory mounts
it with ``prefix="/_emulator"``. See ``docs/emulator-faults.md`` for the endpoints.

When the engine is scoped to teams (the emulator's is), a rule added here is the calling team's: it fires
on that team's requests only, and the team sees, and may delete, its own rules and none of another team's.
Rules that belong to nobody (set in-process or on the command line) are listed to every team and cannot
be deleted over HTTP. The request log and the counters stay the emulator's, shared by all teams.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .fault_engine import FaultEngine
from .fault_rules import FaultSpecError


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=400)


def _build_admin_router(injector: FaultEngine) -> APIRouter:
    router = APIRouter(tags=["emulator admin"])

    @router.get("/faults")
    async def list_faults(request: Request) -> JSONResponse:
        return JSONResponse({"faults": injector.rules(injector.caller_team(request.scope))})

    @router.post("/faults")
    async def add_fault(request: Request) -> JSONResponse:
        team = injector.caller_team(request.scope)
        try:
            body = await request.json()
        except ValueError:
            return _bad_request("the body must be a JSON object")
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        try:
            rule = injector.add_rule_spec(body, team)
        except FaultSpecError as exc:
            return _bad_request(str(exc))
        return JSONResponse(rule.to_dict(), status_code=201)

    @router.delete("/faults/{rule_id}")
    async def delete_fault(request: Request, rule_id: str) -> JSONResponse:
        team = injector.caller_team(request.scope)
        if not (rule_id.isascii() and rule_id.isdigit()):
            return _bad_request(f"fault id must be an integer, got {rule_id!r}")
        rule = injector.rule(int(rule_id))
        if rule is None or (team is not None and rule.team not in (None, team)):
            return JSONResponse({"message": f"no fault with id {rule_id}"}, status_code=404)
        if team is not None and rule.team is None:
            message = f"fault {rule_id} was set at start or in-process, for every team: it cannot be deleted over HTTP"
            return JSONResponse({"message": message}, status_code=403)
        injector.remove_rule(rule.id)
        return JSONResponse({"deleted": rule.id})

    @router.delete("/faults")
    async def clear_faults(request: Request) -> JSONResponse:
        return JSONResponse({"deleted": injector.clear(injector.caller_team(request.scope))})

    @router.get("/requests")
    async def list_requests(request: Request) -> JSONResponse:
        params = request.query_params
        limit: int | None = None
        if "limit" in params:
            raw = params["limit"]
            if not raw.isdigit():
                return _bad_request(f"'limit' must be a non-negative integer, got {raw!r}")
            limit = int(raw)
        entries = injector.requests(path=params.get("path"), method=params.get("method"), limit=limit)
        return JSONResponse({"requests": entries, "count": len(entries)})

    @router.get("/counters")
    async def counters() -> JSONResponse:
        return JSONResponse(injector.counters())

    @router.post("/observations/reset")
    async def reset_observations() -> JSONResponse:
        injector.reset_observations()
        return JSONResponse({"reset": True})

    return router
