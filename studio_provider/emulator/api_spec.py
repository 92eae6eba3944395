"""What every API route accepts, in one table: the newest OpenAPI reference and the guide, made checkable.

``team_name`` is required on every route, where the guide puts it: in the query string for GET and the
multipart upload, in the JSON body for the other POSTs. The RBAC routes, which the reference shows without
any ``team_name``, take it in the query string (the provider's client sends it there).

Leniencies kept for the official ``datachain`` 0.62 client are marked ``LENIENCY`` and listed with their
reasons in ``docs/emulator.md``.
"""

from __future__ import annotations

from .schema import Field, RouteSpec
from .vocabulary import JOB_STATUSES, PIPELINE_STATUSES

QUERY_TYPES = ("PYTHON", "SHELL")
ROLES = ("read", "write", "admin")
PERMISSIONS = ("read", "write", "admin")

LIMIT = Field("limit", "int", low=1, high=10_000)

# ---- jobs ---------------------------------------------------------------------------------------------

LIST_JOBS = RouteSpec(
    "query",
    query=(
        # LENIENCY: case-insensitive; `datachain job ls --status running` passes the user's spelling.
        Field("status", "str_list", choices=JOB_STATUSES, fold_case=True),
        Field("job_id", non_empty=True),
        LIMIT,
        Field("include_steps", "bool"),
    ),
)

CREATE_JOB = RouteSpec(
    "body",
    body=(
        Field("query", required=True, non_empty=True),
        Field("query_type", required=True, choices=QUERY_TYPES),
        Field("environment"),
        Field("workers", "int", low=1, high=1000),
        Field("query_name"),
        Field("rerun_from_job_id"),
        Field("files", "str_list"),
        Field("python_version"),
        Field("requirements"),
        Field("repository"),
        Field("priority", "int", low=0, high=5),
        Field("compute_cluster_name", non_empty=True),
        Field("compute_cluster_id", "int", low=1),
        Field("start_after", non_empty=True),
        Field("cron_expression", non_empty=True),
        Field("credentials_name"),
        Field("reset", "bool"),
    ),
)

CANCEL_JOB = RouteSpec("body", body=())
JOB_LOGS = RouteSpec("query")
UPLOAD_FILE = RouteSpec("query")
LIST_CLUSTERS = RouteSpec("query")

# ---- datasets -----------------------------------------------------------------------------------------

LIST_DATASETS = RouteSpec("query", query=(Field("prefix"),))
DATASET_INFO = RouteSpec(
    "query",
    query=(
        Field("namespace", required=True, non_empty=True),
        Field("project", required=True, non_empty=True),
        Field("name", required=True, non_empty=True),
    ),
)
DATASET_JOB_VERSIONS = RouteSpec("query", query=(Field("job_id", required=True, non_empty=True),))
LS = RouteSpec("body", body=(Field("source", required=True, non_empty=True),))

# ---- pipelines ----------------------------------------------------------------------------------------

_BY_ID_OR_NAME = (Field("pipeline_id", non_empty=True), Field("name", non_empty=True))

TRIGGER = RouteSpec(
    "body",
    # LENIENCY: `review` is not in the reference; `datachain pipeline create` always sends it.
    body=(Field("datasets", "str_list", required=True, non_empty=True), Field("review", "bool")),
)
RUN = RouteSpec("body", body=(Field("definition_id", required=True, non_empty=True),))
SETTINGS = RouteSpec(
    "body",
    body=(
        Field("pipeline_name", non_empty=True),
        # LENIENCY: the reference names the pipeline by `pipeline_name` only; every other pipeline action
        # also takes `pipeline_id`, so settings does too.
        Field("pipeline_id", non_empty=True),
        Field("python_version"),
        Field("requirements"),
        Field("repository"),
        Field("workers", "int", low=1, high=1000),
        Field("priority", "int", low=0, high=5),
        Field("environment"),
        Field("files", "str_list"),
        Field("credentials_names", "str_list"),
    ),
    one_of=(("pipeline_name", "pipeline_id"),),
)
PIPELINE_STATUS = RouteSpec("query", query=_BY_ID_OR_NAME, one_of=(("pipeline_id", "name"),))
LIST_PIPELINES = RouteSpec(
    "query",
    query=(Field("status", "str_list", choices=PIPELINE_STATUSES), LIMIT, Field("search")),
)
PIPELINE_ACTION = RouteSpec("body", body=_BY_ID_OR_NAME, one_of=(("pipeline_id", "name"),))
REMOVE_JOB = RouteSpec(
    "body", body=(*_BY_ID_OR_NAME, Field("job_id", required=True, non_empty=True)), one_of=(("pipeline_id", "name"),)
)

# ---- schedules ----------------------------------------------------------------------------------------

CREATE_SCHEDULE = RouteSpec(
    "body",
    body=(
        Field("schedule_name", non_empty=True),
        Field("pipeline_id", non_empty=True),
        Field("pipeline_name", non_empty=True),
        Field("start_after", non_empty=True),
        Field("cron_expression", non_empty=True),
    ),
    one_of=(("pipeline_id", "pipeline_name"), ("start_after", "cron_expression")),
)
UPDATE_SCHEDULE = RouteSpec(
    "body",
    body=(
        Field("schedule_id", "int", required=True, low=0),
        Field("schedule_name", non_empty=True),
        Field("start_after", non_empty=True),
        Field("cron_expression", non_empty=True),
        Field("pause_pipeline", "bool"),
    ),
)
DELETE_SCHEDULE = RouteSpec("body", body=(Field("schedule_id", "int", required=True, low=0),))
GET_SCHEDULE = RouteSpec("query", query=(Field("schedule_id", "int", required=True),))
LIST_SCHEDULES = RouteSpec(
    "query", query=(Field("pipeline_id", non_empty=True), Field("pipeline_name", non_empty=True))
)

# ---- access control (the reference shows no team_name: the query string carries it) --------------------

RBAC_READ = RouteSpec("query")
RBAC_DELETE = RouteSpec("query", body=())
CREATE_GROUP = RouteSpec(
    "query", body=(Field("name", required=True, non_empty=True), Field("description"))
)
UPDATE_GROUP = RouteSpec("query", body=(Field("name", non_empty=True), Field("description")))
ADD_MEMBER = RouteSpec(
    "query", body=(Field("user_id", "int", required=True, low=0), Field("role", required=True, choices=ROLES))
)
UPDATE_MEMBER = RouteSpec("query", body=(Field("role", required=True, choices=ROLES),))
CREATE_RULE = RouteSpec(
    "query",
    body=(
        Field("resource_type", required=True, non_empty=True),
        Field("resource_id", required=True, non_empty=True),
        Field("permission", required=True, choices=PERMISSIONS),
        Field("user_id", "int", low=0),
        Field("group_id", non_empty=True),
    ),
    one_of=(("user_id", "group_id"),),
)
UPDATE_RULE = RouteSpec("query", body=(Field("permission", required=True, choices=PERMISSIONS),))
