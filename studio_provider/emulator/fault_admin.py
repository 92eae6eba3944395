"""The fault-injection admin endpoints (``/faults``, ``/requests``, ``/counters``, ...).

``_build_admin_router`` builds the router behind ``FaultInjector.admin_router()``; the app factory mounts
it with ``prefix="/_emulator"``. See ``docs/emulator-faults.md`` for the endpoints.
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
    async def list_faults() -> JSONResponse:
        return JSONResponse({"faults": injector.rules()})

    @router.post("/faults")
    async def add_fault(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return _bad_request("the body must be a JSON object")
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        kind = body.pop("kind", None)
        try:
            rule = injector.add_rule(kind, **body)
        except FaultSpecError as exc:
            return _bad_request(str(exc))
        return JSONResponse(rule.to_dict(), status_code=201)

    @router.delete("/faults/{rule_id}")
    async def delete_fault(rule_id: str) -> JSONResponse:
        if not rule_id.isdigit():
            return _bad_request(f"fault id must be an integer, got {rule_id!r}")
        if not injector.remove_rule(int(rule_id)):
            return JSONResponse({"message": f"no fault with id {rule_id}"}, status_code=404)
        return JSONResponse({"deleted": int(rule_id)})

    @router.delete("/faults")
    async def clear_faults() -> JSONResponse:
        removed = len(injector.rules())
        injector.clear()
        return JSONResponse({"deleted": removed})

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
