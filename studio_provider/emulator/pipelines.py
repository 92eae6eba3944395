"""Pipelines: definitions built from dataset lineage, and runs that re-execute their jobs in order.

A definition (``is_definition: true``) lists job runs: the job that produced each requested dataset
version plus, transitively, the jobs that produced what those jobs read. A run is a copy of a definition
whose job runs are re-executed as new jobs, each once its parents completed.

Runs carry the name of their definition, so the official client's name-based commands (``status``,
``pause``, ``resume``) reach the newest run of a pipeline; ``pipeline_id`` addresses one record exactly.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Mapping, Set
from typing import Any

from .clock import iso
from .errors import ApiError, bad_request, not_found
from .jobs import JobService, parse_environment
from .names import generate_name
from .state import EmulatorState, JobRecord, JobRun, PipelineRecord
from .vocabulary import FINISHED_JOB_STATUSES, FINISHED_PIPELINE_STATUSES

_SETTING_KEYS = ("python_version", "requirements", "repository", "workers", "priority")


def pipeline_to_dict(pipeline: PipelineRecord) -> dict[str, Any]:
    """The pipeline as Studio's JobPipelineOutput."""
    return {
        "pipeline_id": pipeline.id,
        "status": pipeline.status,
        "job_runs": [
            {
                "job_id": run.job_id,
                "status": run.status,
                "parent_job_ids": list(run.parent_job_ids),
                "name": run.name,
                "created_job_id": run.created_job_id,
            }
            for run in pipeline.job_runs
        ],
        "completed": sum(1 for run in pipeline.job_runs if run.status == "COMPLETE"),
        "total": len(pipeline.job_runs),
        "error_message": pipeline.error_message,
        "error_stack": pipeline.error_stack,
        "triggered_from": pipeline.triggered_from,
        "name": pipeline.name,
        "created_at": iso(pipeline.created_at),
        "updated_at": iso(pipeline.updated_at),
        "is_definition": pipeline.is_definition,
        "definition_id": pipeline.definition_id,
        "schedule_name": pipeline.schedule_name,
        # JobPipelineOutput shows the settings but not the files and credentials they carry.
        **{k: v for k, v in _settings_of(pipeline).items() if k not in ("files", "credentials_names")},
        "created_via": pipeline.created_via,
    }


class PipelineService:
    """Builds definitions, starts runs and advances them as their jobs finish."""

    def __init__(self, state: EmulatorState, jobs: JobService) -> None:
        self.state = state
        self.jobs = jobs
        jobs.listeners.append(self.on_job_change)

    # ---- lookups --------------------------------------------------------------------------------------

    def _named(self, team: str, name: str) -> list[PipelineRecord]:
        found = [item for item in self.state.pipelines.values() if item.team == team and item.name == name]
        if not found:
            raise not_found(f"Pipeline {name!r} not found")
        return newest_first(found)

    def find(self, team: str, pipeline_id: Any = None, name: Any = None) -> PipelineRecord:
        """By id exactly, or by name: the newest record carrying it (a run before its definition)."""
        if pipeline_id:
            return self.state.pipeline(team, pipeline_id=str(pipeline_id))
        if name:
            return self._named(team, str(name))[0]
        raise bad_request("pipeline_id or name is required")

    def definition_of(self, team: str, pipeline_id: Any = None, name: Any = None) -> PipelineRecord:
        pipeline = self.find(team, pipeline_id, name)
        if pipeline.is_definition:
            return pipeline
        if name and not pipeline_id:
            for item in self._named(team, str(name)):
                if item.is_definition:
                    return item
        if pipeline.definition_id and pipeline.definition_id in self.state.pipelines:
            return self.state.pipelines[pipeline.definition_id]
        raise bad_request(f"Pipeline {pipeline.name!r} has no definition")

    # ---- definitions ----------------------------------------------------------------------------------

    def _new_record(self, team: str, name: str | None, is_definition: bool, **fields: Any) -> PipelineRecord:
        now = self.state.clock.now()
        if name is None:
            taken = {item.name for item in self.state.pipelines.values() if item.team == team}
            name = generate_name(taken)
        record = PipelineRecord(
            id=str(uuid.uuid4()),
            team=team,
            name=name,
            is_definition=is_definition,
            created_at=now,
            updated_at=now,
            **fields,
        )
        self.state.pipelines[record.id] = record
        return record

    def trigger(self, team: str, datasets: Any) -> PipelineRecord:
        """A definition whose job runs produce ``datasets`` (and, transitively, what those jobs read)."""
        if (
            not isinstance(datasets, list)
            or not datasets
            or not all(isinstance(item, str) for item in datasets)
        ):
            raise bad_request("datasets must be a non-empty list of dataset references")
        roots: list[str] = []
        for text in datasets:
            _, version = self.state.datasets.resolve_text(team, text)
            producer = self.state.jobs.get(version.job_id or "")
            if producer is None or producer.team != team:
                raise bad_request(f"Dataset {text} (version {version.version}) has no job that produced it")
            roots.append(producer.id)
        members: dict[str, list[str]] = {}
        queue = deque(roots)
        while queue:
            job_id = queue.popleft()
            if job_id in members:
                continue
            job = self.state.jobs[job_id]
            parents = []
            for read in job.reads:
                parent = read.get("job_id")
                if parent and parent != job_id and parent in self.state.jobs and parent not in parents:
                    parents.append(parent)
            members[job_id] = parents
            queue.extend(parents)
        order = _topological(members)
        runs = [
            JobRun(job_id=job_id, name=self.state.jobs[job_id].name, parent_job_ids=list(members[job_id]))
            for job_id in order
        ]
        return self._new_record(team, None, True, job_runs=runs, triggered_from=", ".join(datasets))

    def duplicate(self, pipeline: PipelineRecord) -> PipelineRecord:
        """A new definition copying ``pipeline``'s job runs (reset to PENDING) and settings."""
        runs = [JobRun(run.job_id, run.name, list(run.parent_job_ids)) for run in pipeline.job_runs]
        return self._new_record(
            pipeline.team,
            None,
            True,
            job_runs=runs,
            triggered_from=pipeline.triggered_from,
            **_settings_of(pipeline),
        )

    def update_settings(
        self, definition: PipelineRecord, values: Mapping[str, Any], given: Set[str]
    ) -> PipelineRecord:
        """Store run settings (checked against ``api_spec.SETTINGS``) on a definition; its future runs use
        them. Files must be the team's own uploads, as for a job."""
        files = self.state.owned_files(definition.team, values["files"]) if "files" in given else None
        for key in _SETTING_KEYS:
            if key in given:
                setattr(definition, key, values[key])
        if "environment" in given:
            definition.environment_variables = parse_environment(values["environment"])
        if files is not None:
            definition.files = files
        if "credentials_names" in given:
            definition.credentials_names = list(values["credentials_names"])
        definition.updated_at = self.state.clock.now()
        return definition

    def remove_job(self, pipeline: PipelineRecord, job_id: Any) -> PipelineRecord:
        """Drop a job run from a definition or a paused run; its children inherit its parents."""
        if not job_id:
            raise bad_request("job_id is required")
        if not pipeline.is_definition and pipeline.status != "PAUSED":
            raise bad_request(
                f"Jobs can only be removed from a definition or a paused run, not {pipeline.status}"
            )
        target = next((run for run in pipeline.job_runs if run.job_id == str(job_id)), None)
        if target is None:
            raise not_found(f"Job {job_id} is not part of pipeline {pipeline.name!r}")
        if not pipeline.is_definition and target.status != "PENDING":
            raise bad_request(f"Job {job_id} already started in this run")
        pipeline.job_runs.remove(target)
        for run in pipeline.job_runs:
            if target.job_id in run.parent_job_ids:
                merged = [item for item in run.parent_job_ids if item != target.job_id]
                merged += [item for item in target.parent_job_ids if item not in merged]
                run.parent_job_ids = merged
        pipeline.updated_at = self.state.clock.now()
        return pipeline

    # ---- runs -----------------------------------------------------------------------------------------

    def start_run(
        self, definition: PipelineRecord, created_via: str = "manual", schedule_name: str | None = None
    ) -> PipelineRecord:
        """A new run of ``definition``, started at once (its root jobs are created)."""
        if not definition.is_definition:
            raise bad_request(f"Pipeline {definition.name!r} is a run, not a definition")
        runs = [JobRun(run.job_id, run.name, list(run.parent_job_ids)) for run in definition.job_runs]
        record = self._new_record(
            definition.team,
            definition.name,
            False,
            job_runs=runs,
            triggered_from=definition.triggered_from,
            definition_id=definition.id,
            created_via=created_via,
            schedule_name=schedule_name,
            **_settings_of(definition),
        )
        record.status = "RUNNING"
        self.advance(record)
        return record

    def pause(self, run: PipelineRecord) -> PipelineRecord:
        if run.is_definition:
            raise bad_request(f"Pipeline {run.name!r} is a definition with no running run")
        if run.status not in ("RUNNING", "PENDING"):
            raise bad_request(f"Pipeline {run.name!r} is {run.status} and cannot be paused")
        run.status = "PAUSED"
        run.updated_at = self.state.clock.now()
        return run

    def resume(self, team: str, pipeline_id: Any = None, name: Any = None) -> PipelineRecord:
        """Resume a paused run; resuming a definition (the official client's review flow) starts a run."""
        if pipeline_id:
            candidates = [self.find(team, pipeline_id=pipeline_id)]
        else:
            candidates = self._named(team, str(name)) if name else []
            if not candidates:
                raise bad_request("pipeline_id or name is required")
            paused = [item for item in candidates if item.status == "PAUSED"]
            candidates = paused[:1] or candidates[:1]
        pipeline = candidates[0]
        if pipeline.is_definition:
            return self.start_run(pipeline)
        if pipeline.status != "PAUSED":
            raise bad_request(f"Pipeline {pipeline.name!r} is {pipeline.status}, not PAUSED")
        pipeline.status = "RUNNING"
        pipeline.updated_at = self.state.clock.now()
        self.advance(pipeline)
        return pipeline

    def on_job_change(self, job: JobRecord) -> None:
        """Mirror a created job's status into its job run and move the run on when the job ends."""
        if not job.pipeline_id:
            return
        run = self.state.pipelines.get(job.pipeline_id)
        if run is None:
            return
        for item in run.job_runs:
            if item.created_job_id == job.id:
                item.status = job.status
        run.updated_at = self.state.clock.now()
        if job.finished:
            self.advance(run)

    def advance(self, run: PipelineRecord) -> None:
        """Skip job runs whose parents failed, start those whose parents completed, finish the run."""
        if run.is_definition or run.status in FINISHED_PIPELINE_STATUSES:
            return
        by_job = {item.job_id: item for item in run.job_runs}
        progress = True
        while progress:
            progress = False
            for item in run.job_runs:
                if item.status != "PENDING":
                    continue
                parents = [by_job[parent] for parent in item.parent_job_ids if parent in by_job]
                if any(parent.status in ("FAILED", "CANCELED") for parent in parents):
                    item.status = "CANCELED"
                    item.skipped = True
                    progress = True
                elif run.status == "RUNNING" and all(parent.status == "COMPLETE" for parent in parents):
                    self._start_job_run(run, item)
                    progress = True
        self._maybe_finish(run)

    def _start_job_run(self, run: PipelineRecord, item: JobRun) -> None:
        original = self.state.jobs.get(item.job_id)
        if original is None:
            item.status = "FAILED"
            return
        environment = {**original.environment, **run.environment_variables}
        overrides: dict[str, Any] = {"environment": environment, "pipeline_id": run.id}
        for key in ("python_version", "requirements", "repository", "workers", "priority"):
            value = getattr(run, key)
            if value is not None:
                overrides[key] = value
        if run.files:
            overrides["files"] = list(dict.fromkeys([*original.files, *run.files]))
        # Status is set before the job exists so the listener's updates land on this job run.
        item.status = "CREATED"
        created = self.jobs.clone(original, **overrides)
        item.created_job_id = created.id
        item.status = created.status

    def _maybe_finish(self, run: PipelineRecord) -> None:
        if any(item.status not in FINISHED_JOB_STATUSES for item in run.job_runs):
            return
        failed = [item for item in run.job_runs if item.status == "FAILED"]
        cancelled = [item for item in run.job_runs if item.status == "CANCELED" and not item.skipped]
        if failed:
            run.status = "FAILED"
            job = self.state.jobs.get(failed[0].created_job_id or "")
            detail = f": {job.error_message}" if job is not None and job.error_message else ""
            run.error_message = f"Job {failed[0].name} failed{detail}"
        elif cancelled:
            run.status = "CANCELED"
            run.error_message = f"Job {cancelled[0].name} was canceled"
        else:
            run.status = "COMPLETED"
        run.updated_at = self.state.clock.now()

    def search(self, team: str, statuses: list[str], limit: int, search: str | None) -> list[PipelineRecord]:
        wanted = {status.upper() for status in statuses}
        found = [
            item
            for item in self.state.pipelines.values()
            if item.team == team
            and (not wanted or item.status in wanted)
            and (not search or search in item.name or search in item.triggered_from)
        ]
        return newest_first(found)[:limit]


def newest_first(records: list[PipelineRecord]) -> list[PipelineRecord]:
    # Reversing the insertion order first keeps the newest first among equal timestamps.
    return sorted(reversed(records), key=lambda item: item.created_at, reverse=True)


def _settings_of(pipeline: PipelineRecord) -> dict[str, Any]:
    return {
        "python_version": pipeline.python_version,
        "requirements": pipeline.requirements,
        "repository": pipeline.repository,
        "workers": pipeline.workers,
        "priority": pipeline.priority,
        "environment_variables": dict(pipeline.environment_variables),
        "files": list(pipeline.files),
        "credentials_names": list(pipeline.credentials_names),
    }


def _topological(parents: dict[str, list[str]]) -> list[str]:
    """Parents before children; 400 on a cycle (two jobs reading each other's datasets)."""
    remaining = {key: set(value) & parents.keys() for key, value in parents.items()}
    order: list[str] = []
    while remaining:
        ready = sorted(key for key, value in remaining.items() if not value)
        if not ready:
            raise ApiError(400, "The datasets' jobs depend on each other in a cycle")
        for key in ready:
            order.append(key)
            del remaining[key]
        for value in remaining.values():
            value.difference_update(ready)
    return order
