"""Every Studio API call, defined once, in one module per resource.

Each function takes the team first and the call's arguments as keywords (named as in the API
reference), checks them, and returns an :class:`~..request.ApiRequest`: method, path with the API's
exact slashes, where ``team_name`` goes, the body, and how the response is decoded. The sync and the
async clients run these same definitions (see :mod:`..api`).

``team_name`` placement (as the official client does it): GET in the query string; POST with a JSON
body in the body; the multipart upload in the query string. The RBAC routes' bodies have no
``team_name`` field, so there it always travels in the query string.

Modules: :mod:`.jobs` (jobs, uploads, clusters), :mod:`.datasets` (datasets, ``ls``), :mod:`.pipelines`,
:mod:`.schedules`, :mod:`.access` (RBAC), and :mod:`.common` (what they share).
"""

from __future__ import annotations

from .access import (
    add_access_group_member,
    create_access_group,
    create_access_rule,
    delete_access_group,
    delete_access_rule,
    list_access_group_members,
    list_access_groups,
    list_access_rules,
    remove_access_group_member,
    update_access_group,
    update_access_group_member,
    update_access_rule,
)
from .datasets import get_dataset_info, get_dataset_job_versions, list_datasets, ls
from .jobs import (
    cancel_job,
    create_job,
    get_job,
    get_job_logs,
    get_log_blob,
    list_clusters,
    list_jobs,
    upload_file,
)
from .pipelines import (
    duplicate_pipeline,
    get_pipeline,
    list_pipelines,
    pause_pipeline,
    remove_job_from_pipeline,
    resume_pipeline,
    run_pipeline,
    trigger_pipeline,
    update_pipeline_settings,
)
from .schedules import create_schedule, delete_schedule, get_schedule, list_schedules, update_schedule

__all__ = [  # noqa: RUF022 - the API reference's order, not alphabetical
    "list_jobs",
    "get_job",
    "create_job",
    "cancel_job",
    "get_job_logs",
    "get_log_blob",
    "upload_file",
    "list_clusters",
    "list_datasets",
    "get_dataset_info",
    "get_dataset_job_versions",
    "ls",
    "trigger_pipeline",
    "run_pipeline",
    "get_pipeline",
    "list_pipelines",
    "pause_pipeline",
    "resume_pipeline",
    "duplicate_pipeline",
    "remove_job_from_pipeline",
    "update_pipeline_settings",
    "create_schedule",
    "update_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "list_access_groups",
    "create_access_group",
    "update_access_group",
    "delete_access_group",
    "list_access_group_members",
    "add_access_group_member",
    "update_access_group_member",
    "remove_access_group_member",
    "list_access_rules",
    "create_access_rule",
    "update_access_rule",
    "delete_access_rule",
]
