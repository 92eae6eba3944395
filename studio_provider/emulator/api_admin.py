"""Admin routes of the emulator itself (under ``/_emulator``): the clock, seeding and a state summary.

They need a valid token like the API. Unlike the API they are not Studio's: ``team_name`` (body or query)
is optional and defaults to the token's first team, and the clock acts on every team.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request

from .clock import iso
from .datasets import VERSION_COMPLETE, parse_ref
from .errors import bad_request
from .routing import emulator_of, team_of
from .schema import json_object as json_body
from .storage import put_object


async def get_clock(request: Request) -> dict[str, Any]:
    team_of(request)
    clock = emulator_of(request).clock
    return {"now": iso(clock.now()), "offset_seconds": clock.offset_seconds}


async def advance_clock(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    team_of(request, body)
    emulator = emulator_of(request)
    seconds: Any = body.get("seconds")
    try:
        # Checked by the clock itself (finite, >= 0, not past its last day), before anything changes.
        now = emulator.advance_clock(seconds)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return {"now": iso(now), "offset_seconds": emulator.clock.offset_seconds}


def _count(body: dict[str, Any], key: str) -> int:
    value = body.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_request(f"{key} must be a non-negative integer")
    return value


async def seed_dataset(request: Request) -> dict[str, Any]:
    """Create a COMPLETE dataset version directly: {name, version?, job_id?, num_objects?, size?}."""
    body = await json_body(request)
    team = team_of(request, body)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("name is required")
    text = name if not body.get("version") else f"{name}@v{str(body['version']).lstrip('v')}"
    try:
        ref = parse_ref(text)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    emulator = emulator_of(request)
    job_id = body.get("job_id")
    if job_id is not None:
        emulator.state.job(team, str(job_id))
    version = emulator.state.datasets.write(
        team,
        ref,
        emulator.clock.now(),
        str(job_id) if job_id is not None else None,
        _count(body, "num_objects"),
        _count(body, "size"),
        status=VERSION_COMPLETE,
    )
    dataset = emulator.state.datasets.find(team, *ref.key)
    assert dataset is not None
    return {"dataset": dataset.to_dict(), "version": version.to_dict(dataset.id)}


async def put_storage_object(request: Request) -> dict[str, Any]:
    """Create an object that ``datachain/ls`` lists: {source: "s3://bucket/key", content | content_base64}."""
    body = await json_body(request)
    team = team_of(request, body)
    source = body.get("source")
    if not isinstance(source, str) or "/" not in source:
        raise bad_request("source like s3://bucket/key is required")
    if body.get("content_base64") is not None:
        encoded = body["content_base64"]
        try:
            if not isinstance(encoded, str):
                raise TypeError
            content = base64.b64decode(encoded, validate=True)
        except (TypeError, binascii.Error):
            raise bad_request("content_base64 must be a base64 string") from None
    else:
        text = body.get("content", "")
        if not isinstance(text, str):
            raise bad_request("content must be a string (or give content_base64)")
        content = text.encode()
    put_object(emulator_of(request).state.data_dir, team, source, content)
    return {"source": source, "size": len(content)}


async def set_upload_outcome(request: Request) -> dict[str, Any]:
    """Make the team's next uploads answer ``state`` ``pending`` or ``error``: {state, count?, error?}."""
    body = await json_body(request)
    team = team_of(request, body)
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise bad_request("count must be a positive integer")
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        raise bad_request("error must be a string")
    state = body.get("state")
    if not isinstance(state, str):
        raise bad_request("state is required")
    emulator_of(request).state.queue_upload_outcomes(team, state, count, error)
    return {"state": state, "count": count, "team_name": team}


async def state_summary(request: Request) -> dict[str, Any]:
    team_of(request)
    return emulator_of(request).state.summary()


def build_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route("/clock", get_clock, methods=["GET"])
    router.add_api_route("/clock/advance", advance_clock, methods=["POST"])
    router.add_api_route("/datasets", seed_dataset, methods=["POST"])
    router.add_api_route("/storage", put_storage_object, methods=["POST"])
    router.add_api_route("/uploads", set_upload_outcome, methods=["POST"])
    router.add_api_route("/state", state_summary, methods=["GET"])
    return router
