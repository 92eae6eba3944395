"""Studio's web pages for a person: a job, a pipeline run, a dataset, a team and an index of every team.

They live at the paths Studio's links use (see ``web_paths``), need no token and answer only clients on
the loopback address (``guard`` refuses the others with 403 before a page is built). Every value is escaped
(``html_render``), and the Content-Security-Policy allows no script at all. They only read the state.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .datasets import Dataset, version_key
from .html_render import (
    Markup,
    escape,
    fields,
    html,
    join,
    link,
    log_lines,
    page,
    size,
    status_badge,
    table,
    version_badge,
    when,
)
from .routing import emulator_of, slash_variants
from .runtime import Emulator
from .state import JobRecord, PipelineRecord
from .vocabulary import FINISHED_JOB_STATUSES, FINISHED_PIPELINE_STATUSES
from .web_paths import dataset_path, job_path, pipeline_path, team_path

# What a person's browser gets with every page: no script, no plug-in, no framing, nothing cached.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: How many of a team's newest jobs and pipelines (and datasets) an overview lists.
RECENT = 20
REFRESH_SECONDS = 2


def _answer(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)


def not_found_page(what: str) -> HTMLResponse:
    body = html('<h1>Not found</h1><p>{}</p><p><a href="/">All teams</a></p>', what)
    return _answer(page("Not found", body), 404)


def _job_link(team: str, job: JobRecord | None, job_id: str | None, by_id: bool = False) -> Markup:
    """A link to a job's page, its name as the text (or its id, where names repeat); the bare id when the
    job is gone."""
    if job is None:
        return escape(job_id)
    return link(job_path(team, job.id), job.id if by_id else job.name)


def _dataset_link(team: str, dataset: Dataset, version: str | None = None) -> Markup:
    href = dataset_path(team, dataset.namespace, dataset.project, dataset.name)
    text = f"{dataset.namespace}.{dataset.project}.{dataset.name}"
    if version is None:
        return link(href, text)
    return link(f"{href}#v{version}", f"{text}@v{version}")


def _teams(emulator: Emulator) -> list[str]:
    """Every team a token is bound to, and every team that owns a record."""
    state = emulator.state
    teams = {team for bound in emulator.config.tokens.values() for team in bound}
    teams.update(job.team for job in state.jobs.values())
    teams.update(pipeline.team for pipeline in state.pipelines.values())
    return sorted(teams)


# ---- a team, and all of them ----------------------------------------------------------------------------


def _team_section(emulator: Emulator, team: str) -> Markup:
    state = emulator.state
    jobs = [job for job in reversed(list(state.jobs.values())) if job.team == team]
    pipelines = [item for item in reversed(list(state.pipelines.values())) if item.team == team]
    datasets = state.datasets.for_team(team)

    def more(total: int) -> Markup:
        return html('<p class="note">{} more not listed.</p>', total - RECENT) if total > RECENT else Markup()

    job_rows = [
        (link(job_path(team, job.id), job.name), status_badge(job.status), when(job.created_at), when(job.finished_at))
        for job in jobs[:RECENT]
    ]
    pipeline_rows = [
        (
            link(pipeline_path(team, item.id), item.name),
            "definition" if item.is_definition else "run",
            status_badge(item.status),
            when(item.created_at),
        )
        for item in pipelines[:RECENT]
    ]
    dataset_rows = []
    for dataset in datasets[:RECENT]:
        latest = dataset.latest()
        dataset_rows.append(
            (
                _dataset_link(team, dataset),
                len(dataset.versions),
                latest.version if latest else None,
                version_badge(latest.status) if latest else None,
            )
        )
    return html(
        "<h2>Jobs</h2>{}{}<h2>Pipelines</h2>{}{}<h2>Datasets</h2>{}{}",
        table(("job", "status", "created", "finished"), job_rows, "No jobs yet."),
        more(len(jobs)),
        table(("pipeline", "kind", "status", "created"), pipeline_rows, "No pipelines yet."),
        more(len(pipelines)),
        table(("dataset", "versions", "latest", "latest status"), dataset_rows, "No datasets yet."),
        more(len(datasets)),
    )


async def index(request: Request) -> HTMLResponse:
    emulator = emulator_of(request)
    sections = [
        html('<h1 id="team-{}">Team {}</h1><p>{}</p>{}', team, team, link(team_path(team), "this team only"),
             _team_section(emulator, team))
        for team in _teams(emulator)
    ]
    intro = html('<p class="note">{}</p>', "The newest jobs, pipelines and datasets of every team. The API is under /api.")
    return _answer(page("All teams", html("{}{}", intro, join(sections))))


async def team_page(request: Request, team: str) -> HTMLResponse:
    emulator = emulator_of(request)
    if team not in _teams(emulator):
        return not_found_page(f"There is no team {team!r} here.")
    return _answer(page(f"Team {team}", html("<h1>Team {}</h1>{}", team, _team_section(emulator, team))))


# ---- a job ------------------------------------------------------------------------------------------------


def _written(emulator: Emulator, job: JobRecord) -> Markup:
    registry = emulator.state.datasets
    rows = []
    for key, version in dict.fromkeys(job.writes):
        dataset = registry.find(job.team, *key)
        record = dataset.version(version) if dataset is not None else None
        if dataset is None or record is None:
            continue
        producer: object = ""
        if record.job_id != job.id:
            other = emulator.state.jobs.get(record.job_id or "")
            producer = html("now produced by {}", _job_link(job.team, other, record.job_id))
        rows.append(
            (_dataset_link(job.team, dataset, version), version_badge(record.status), record.num_objects,
             size(record.size), producer)
        )
    return table(("dataset version", "status", "objects", "size", ""), rows, "This job wrote no dataset.")


def _read(emulator: Emulator, job: JobRecord) -> Markup:
    rows = []
    for read in job.reads:
        namespace, _, rest = str(read.get("dataset", "")).partition(".")
        project, _, name = rest.partition(".")
        dataset = emulator.state.datasets.find(job.team, namespace, project, name)
        version = read.get("version")
        shown: object = _dataset_link(job.team, dataset, version) if dataset is not None else read.get("dataset")
        producer_id = read.get("job_id")
        producer = emulator.state.jobs.get(producer_id or "")
        rows.append((shown, version, _job_link(job.team, producer, producer_id) if producer_id else None))
    return table(("dataset", "version", "produced by"), rows, "This job read no dataset.")


async def job_page(request: Request, team: str, job_id: str) -> HTMLResponse:
    emulator = emulator_of(request)
    job = emulator.state.jobs.get(job_id)
    if job is None or job.team != team:
        return not_found_page(f"Team {team} has no job {job_id}.")
    pipeline = emulator.state.pipelines.get(job.pipeline_id or "")
    parent = emulator.state.jobs.get(job.parent_job_id or "")
    rows: list[tuple[str, object]] = [
        ("status", status_badge(job.status)),
        ("job id", job.id),
        ("team", link(team_path(team), team)),
        ("query type", job.query_type),
        ("created", when(job.created_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
        ("exit code", job.exit_code),
        ("error message", job.error_message or None),
        ("cluster", job.compute_cluster_name),
        ("workers", job.workers),
        ("created by", job.created_by),
    ]
    if pipeline is not None:
        rows.append(("pipeline", link(pipeline_path(team, pipeline.id), pipeline.name)))
    if parent is not None:
        rows.append(("started by cron task", _job_link(team, parent, job.parent_job_id)))
    if job.start_after is not None:
        rows.append(("start after", when(job.start_after)))
    if job.cron_expression:
        rows.append(("cron expression", job.cron_expression))
    if job.next_run is not None:
        rows.append(("next run", when(job.next_run)))
    stack = html("<h2>Error</h2><pre>{}</pre>", job.error_stack) if job.error_stack else Markup()
    body = html(
        "<h1>Job {}</h1>{}{}<h2>Datasets written</h2>{}<h2>Datasets read</h2>{}<h2>Logs</h2>{}<h2>Query</h2><pre>{}</pre>",
        job.name,
        fields(rows),
        stack,
        _written(emulator, job),
        _read(emulator, job),
        log_lines(job.logs),
        job.query,
    )
    refresh = None if job.status in FINISHED_JOB_STATUSES else REFRESH_SECONDS
    return _answer(page(f"Job {job.name}", body, refresh))


# ---- a pipeline -------------------------------------------------------------------------------------------


async def pipeline_page(request: Request, team: str, pipeline_id: str) -> HTMLResponse:
    emulator = emulator_of(request)
    state = emulator.state
    pipeline = state.pipelines.get(pipeline_id)
    if pipeline is None or pipeline.team != team:
        return not_found_page(f"Team {team} has no pipeline {pipeline_id}.")
    names = {run.job_id: run.name for run in pipeline.job_runs}
    run_rows = [
        (
            run.name,
            status_badge(run.status),
            _job_link(team, state.jobs.get(run.created_job_id or ""), run.created_job_id, by_id=True)
            if run.created_job_id
            else None,
            _job_link(team, state.jobs.get(run.job_id), run.job_id, by_id=True),
            ", ".join(names.get(parent, parent) for parent in run.parent_job_ids) or None,
        )
        for run in pipeline.job_runs
    ]
    definition = state.pipelines.get(pipeline.definition_id or "")
    rows: list[tuple[str, object]] = [
        ("status", status_badge(pipeline.status)),
        ("kind", "definition" if pipeline.is_definition else "run"),
        ("pipeline id", pipeline.id),
        ("team", link(team_path(team), team)),
        ("created", when(pipeline.created_at)),
        ("updated", when(pipeline.updated_at)),
        ("triggered from", pipeline.triggered_from or None),
        ("created via", pipeline.created_via),
        ("jobs completed", f"{sum(1 for run in pipeline.job_runs if run.status == 'COMPLETE')} of {len(pipeline.job_runs)}"),
        ("error message", pipeline.error_message or None),
    ]
    if definition is not None:
        rows.append(("definition", link(pipeline_path(team, definition.id), definition.name)))
    if pipeline.schedule_name:
        rows.append(("schedule", pipeline.schedule_name))
    extra = _definition_extras(emulator, pipeline) if pipeline.is_definition else Markup()
    body = html(
        "<h1>Pipeline {}</h1>{}<h2>Job runs</h2>{}{}",
        pipeline.name,
        fields(rows),
        table(("job", "status", "this run's job", "original job", "after"), run_rows, "No job runs."),
        extra,
    )
    active = not pipeline.is_definition and pipeline.status not in FINISHED_PIPELINE_STATUSES | {"PAUSED"}
    return _answer(page(f"Pipeline {pipeline.name}", body, REFRESH_SECONDS if active else None))


def _definition_extras(emulator: Emulator, definition: PipelineRecord) -> Markup:
    """A definition's runs and schedules."""
    state = emulator.state
    team = definition.team
    runs = [item for item in reversed(list(state.pipelines.values())) if item.definition_id == definition.id]
    run_rows = [
        (link(pipeline_path(team, item.id), item.id), status_badge(item.status), item.created_via, when(item.created_at))
        for item in runs[:RECENT]
    ]
    schedules = [item for item in state.schedules.values() if item.pipeline_id == definition.id]
    schedule_rows = [
        (item.schedule_name, item.cron_expression, when(item.start_after), when(item.next_run),
         "paused" if item.paused else "active")
        for item in schedules
    ]
    return html(
        "<h2>Runs</h2>{}<h2>Schedules</h2>{}",
        table(("run", "status", "created via", "created"), run_rows, "Never run."),
        table(("schedule", "cron", "start after", "next run", "state"), schedule_rows, "No schedule."),
    )


# ---- a dataset --------------------------------------------------------------------------------------------


async def dataset_page(request: Request, team: str, namespace: str, project: str, name: str) -> HTMLResponse:
    emulator = emulator_of(request)
    dataset = emulator.state.datasets.find(team, namespace, project, name)
    if dataset is None:
        return not_found_page(f"Team {team} has no dataset {namespace}.{project}.{name}.")
    rows = []
    for version in sorted(dataset.versions, key=lambda item: version_key(item.version), reverse=True):
        job = emulator.state.jobs.get(version.job_id or "")
        rows.append(
            (
                html('<span id="v{}">{}</span>', version.version, version.version),
                version_badge(version.status),
                version.num_objects,
                size(version.size),
                when(version.created_at),
                when(version.finished_at),
                _job_link(team, job, version.job_id) if version.job_id else None,
                version.error_message or None,
            )
        )
    title = f"{dataset.namespace}.{dataset.project}.{dataset.name}"
    summary = fields([("team", link(team_path(team), team)), ("created", when(dataset.created_at))])
    body = html(
        "<h1>Dataset {}</h1>{}<h2>Versions</h2>{}",
        title,
        summary,
        table(("version", "status", "objects", "size", "created", "finished", "job", "error"), rows, "No versions."),
    )
    return _answer(page(f"Dataset {title}", body))


async def unknown_page(request: Request, rest: str) -> HTMLResponse:
    return not_found_page(f"There is no page at {request.url.path}.")


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route("/", index, methods=["GET"])
    for path in slash_variants("/team/{team}"):
        router.add_api_route(path, team_page, methods=["GET"])
    for path in slash_variants("/team/{team}/datasets/jobs/{job_id}"):
        router.add_api_route(path, job_page, methods=["GET"])
    for path in slash_variants("/team/{team}/datasets/pipelines/{pipeline_id}"):
        router.add_api_route(path, pipeline_page, methods=["GET"])
    for path in slash_variants("/team/{team}/datasets/dataset/{namespace}/{project}/{name}"):
        router.add_api_route(path, dataset_page, methods=["GET"])
    # Last: any other page path is a page that does not exist (HTML, like the pages around it).
    router.add_api_route("/team/{rest:path}", unknown_page, methods=["GET"])
    return router
