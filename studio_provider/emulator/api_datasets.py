"""Routes for datasets, dataset versions by job, and ``ls`` (msgpack), each checked against ``api_spec``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from . import api_spec as spec
from .errors import ApiError, not_found
from .msgpack_wire import packb
from .routing import add_route, emulator_of
from .schema import parse_request
from .storage import list_source

MSGPACK = "application/msgpack"


async def list_datasets(request: Request) -> list[dict[str, Any]]:
    call = await parse_request(request, spec.LIST_DATASETS)
    datasets = emulator_of(request).state.datasets.for_team(call.team, call["prefix"])
    return [dataset.to_dict() for dataset in datasets]


async def dataset_info(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.DATASET_INFO)
    dataset = emulator_of(request).state.datasets.find(call.team, call["namespace"], call["project"], call["name"])
    if dataset is None:
        raise not_found(f"Dataset {call['name']} not found")
    return dataset.to_dict()


async def dataset_job_versions(request: Request) -> dict[str, Any]:
    call = await parse_request(request, spec.DATASET_JOB_VERSIONS)
    emulator = emulator_of(request)
    job = emulator.state.job(call.team, call["job_id"])
    return {
        "dataset_versions": [
            {
                "dataset_name": dataset.name,
                "namespace": dataset.namespace,
                "project": dataset.project,
                "version": version.version,
                "status": version.status,
            }
            for dataset, version in emulator.state.datasets.versions_by_job(call.team, job.id)
        ]
    }


async def ls(request: Request) -> Response:
    call = await parse_request(request, spec.LS)
    source = call["source"]
    entries = list_source(emulator_of(request).state.data_dir, call.team, source)
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
