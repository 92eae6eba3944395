"""Lookups and addresses: find pipelines, schedules and datasets by name, reconcile lost create
responses, and the web addresses of Studio objects (checked when the server sends them)."""

from __future__ import annotations

from .datasets import afind_dataset, dataset_ref, find_dataset, latest_version, produced_versions
from .pipelines import (
    definitions_from,
    find_pipeline,
    find_schedule,
    newest_unknown,
    resolve_definition,
    runs_of,
    triggered_from,
)
from .urls import job_url, pipeline_url, trusted_url, web_url

__all__ = [
    "afind_dataset",
    "dataset_ref",
    "definitions_from",
    "find_dataset",
    "find_pipeline",
    "find_schedule",
    "job_url",
    "latest_version",
    "newest_unknown",
    "pipeline_url",
    "produced_versions",
    "resolve_definition",
    "runs_of",
    "triggered_from",
    "trusted_url",
    "web_url",
]
