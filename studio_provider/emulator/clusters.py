"""The compute clusters the emulator advertises (jobs run locally whichever is chosen)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import bad_request

CLUSTERS: tuple[dict[str, Any], ...] = (
    {
        "id": 1,
        "name": "default",
        "status": "ACTIVE",
        "cloud_provider": "EMULATOR",
        "cloud_credentials": None,
        "is_active": True,
        "default": True,
        "max_workers": 4,
        "cloud_region": "local",
        "instance_type": "local",
        "compute_class": "standard",
        "disk_size": 100,
    },
    {
        "id": 2,
        "name": "large",
        "status": "ACTIVE",
        "cloud_provider": "EMULATOR",
        "cloud_credentials": None,
        "is_active": True,
        "default": False,
        "max_workers": 16,
        "cloud_region": "local",
        "instance_type": "local-large",
        "compute_class": "highmem",
        "disk_size": 500,
    },
)


def default_cluster() -> dict[str, Any]:
    return next(cluster for cluster in CLUSTERS if cluster["default"])


def choose_cluster(cluster_id: Any, cluster_name: Any) -> dict[str, Any]:
    """The cluster a job asked for (the default one when it named none); 400 when unknown or both."""
    if cluster_id is not None and cluster_name is not None:
        raise bad_request("compute_cluster_name and compute_cluster_id are mutually exclusive")
    if cluster_id is not None:
        try:
            wanted = int(cluster_id)
        except (TypeError, ValueError):
            raise bad_request("compute_cluster_id must be an integer") from None
        for cluster in CLUSTERS:
            if cluster["id"] == wanted:
                return cluster
        raise bad_request(f"Compute cluster with id {cluster_id} not found")
    if cluster_name is not None:
        for cluster in CLUSTERS:
            if cluster["name"] == cluster_name:
                return cluster
        raise bad_request(f"Compute cluster {cluster_name!r} not found")
    return default_cluster()


def cluster_views(busy_workers: Iterable[tuple[int | None, int]]) -> list[dict[str, Any]]:
    """Clusters with ``active_workers``/``busy_workers`` computed from (cluster id, workers) of running jobs."""
    busy: dict[int | None, int] = {}
    for cluster_id, workers in busy_workers:
        busy[cluster_id] = busy.get(cluster_id, 0) + workers
    views = []
    for cluster in CLUSTERS:
        in_use = min(busy.get(cluster["id"], 0), cluster["max_workers"])
        views.append({**cluster, "busy_workers": in_use, "active_workers": in_use})
    return views
