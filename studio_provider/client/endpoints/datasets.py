"""Datasets: list, info, the versions a job produced, and ``ls`` of a storage path (msgpack)."""

from __future__ import annotations

import httpx

from .. import validation as check
from ..models import DatasetVersionRef
from ..request import ApiRequest, response_json, response_msgpack
from .common import JSONDict, decode_dict, decode_dicts, objects, query_params, unwrap_list


def list_datasets(team: str, *, prefix: str | None = None) -> ApiRequest[list[JSONDict]]:
    """List the team's datasets, each with its ``versions``.

    :param prefix: only datasets whose name starts with this.
    """
    return ApiRequest(
        "list_datasets", "GET", "datachain/datasets", decode_dicts, params=query_params(team, prefix=prefix)
    )


def get_dataset_info(team: str, *, namespace: str, project: str, name: str) -> ApiRequest[JSONDict]:
    """Read one dataset with its versions.

    :param namespace: the dataset's namespace.
    :param project: the dataset's project.
    :param name: the dataset's name.
    """
    for key, value in (("namespace", namespace), ("project", project), ("name", name)):
        check.required_text(key, value)
    params = query_params(team, namespace=namespace, project=project, name=name)
    return ApiRequest("get_dataset_info", "GET", "datachain/datasets/info", decode_dict, params=params)


def get_dataset_job_versions(team: str, *, job_id: str) -> ApiRequest[list[DatasetVersionRef]]:
    """The dataset versions a job produced.

    :param job_id: the job's id.
    """
    check.required_text("job_id", job_id)

    def decode(response: httpx.Response) -> list[DatasetVersionRef]:
        items = objects(unwrap_list(response_json(response), "dataset_versions"), "dataset version")
        return [DatasetVersionRef(str(i["dataset_name"]), str(i["version"])) for i in items]

    params = query_params(team, job_id=job_id)
    return ApiRequest(
        "get_dataset_job_versions", "GET", "datachain/datasets/dataset_job_versions", decode, params=params
    )


def ls(team: str, *, source: str) -> ApiRequest[list[JSONDict] | None]:
    """List a storage path through Studio. The answer is msgpack; ``None`` means Studio is still
    indexing the source (ask again later).

    :param source: the path to list, such as ``s3://bucket/prefix``.
    """
    check.required_text("source", source)

    def decode(response: httpx.Response) -> list[JSONDict] | None:
        data = response_msgpack(response)
        items = data.get("data") if isinstance(data, dict) else data
        if items is None:
            return None
        if not isinstance(items, list):
            raise ValueError(f"expected a list of entries, got {type(items).__name__}")
        return [dict(item) for item in objects(items, "entry")]

    return ApiRequest(
        "ls",
        "POST",
        "datachain/ls",
        decode,
        json={"source": source, "team_name": team},
        headers={"Accept": "application/msgpack"},
    )
