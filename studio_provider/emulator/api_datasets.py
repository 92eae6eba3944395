"""Routes for datasets, dataset versions by job, and ``ls`` (msgpack)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ..client.msgpack_codec import packb
from .datasets import DEFAULT_NAMESPACE, DEFAULT_PROJECT, parse_ref
from .errors import ApiError, bad_request, not_found
from .routing import add_route, emulator_of, json_body, team_of
from .storage import list_source

MSGPACK = "application/msgpack"


async def list_datasets(request: Request) -> list[dict[str, Any]]:
    team = team_of(request)
    prefix = request.query_params.get("prefix")
    return [dataset.to_dict() for dataset in emulator_of(request).state.datasets.for_team(team, prefix)]


async def dataset_info(request: Request) -> dict[str, Any]:
    team = team_of(request)
    params = request.query_params
    name = params.get("name")
    if not name:
        raise bad_request("name is required")
    namespace = params.get("namespace")
    project = params.get("project")
    if not namespace and not project and name.startswith("@"):
        try:
            ref = parse_ref(name)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        namespace, project, name = ref.namespace, ref.project, ref.name
    dataset = emulator_of(request).state.datasets.find(
        team, namespace or DEFAULT_NAMESPACE, project or DEFAULT_PROJECT, name
    )
    if dataset is None:
        raise not_found(f"Dataset {name} not found")
    return dataset.to_dict()


async def dataset_job_versions(request: Request) -> dict[str, Any]:
    team = team_of(request)
    job_id = request.query_params.get("job_id")
    if not job_id:
        raise bad_request("job_id is required")
    emulator = emulator_of(request)
    emulator.state.job(team, job_id)
    return {
        "dataset_versions": [
            {
                "dataset_name": dataset.name,
                "namespace": dataset.namespace,
                "project": dataset.project,
                "version": version.version,
                "status": version.status,
            }
            for dataset, version in emulator.state.datasets.versions_by_job(team, job_id)
        ]
    }


async def ls(request: Request) -> Response:
    body = await json_body(request)
    team = team_of(request, body)
    source = body.get("source")
    if not isinstance(source, str) or not source:
        raise bad_request("source is required")
    entries = list_source(emulator_of(request).state.data_dir, team, source)
    if entries is None:
        raise ApiError(404, f"Source {source} not found")
    return Response(packb({"data": entries, "message": ""}), media_type=MSGPACK)


def build_router() -> APIRouter:
    router = APIRouter()
    add_route(router, "/datachain/datasets", list_datasets, ["GET"])
    add_route(router, "/datachain/datasets/info", dataset_info, ["GET"])
    add_route(router, "/datachain/datasets/dataset_job_versions", dataset_job_versions, ["GET"])
    add_route(router, "/datachain/ls", ls, ["POST"])
    return router
