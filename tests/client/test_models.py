"""Status enums (jobs say ``COMPLETE``, pipelines ``COMPLETED``) and the typed views of payloads."""

from __future__ import annotations

import pytest

from studio_provider.client import (
    Cluster,
    DatasetVersionStatus,
    Job,
    JobStatus,
    Pipeline,
    PipelineStatus,
    Schedule,
    UploadedFile,
)

# member: (is_terminal, is_success) — from the protocol note: finished = COMPLETE, FAILED, CANCELED, TASK
JOB_TABLE = {
    JobStatus.CREATED: (False, False),
    JobStatus.QUEUED: (False, False),
    JobStatus.INIT: (False, False),
    JobStatus.RUNNING: (False, False),
    JobStatus.COMPLETE: (True, True),
    JobStatus.FAILED: (True, False),
    JobStatus.CANCELING: (False, False),
    JobStatus.CANCELED: (True, False),
    JobStatus.CANCELING_SCHEDULED: (False, False),
    JobStatus.SCHEDULED: (False, False),
    JobStatus.TASK: (True, True),
    JobStatus.PROVISIONING: (False, False),
    JobStatus.PENDING: (False, False),
    JobStatus.UNKNOWN: (False, False),
}

PIPELINE_TABLE = {
    PipelineStatus.PENDING: (False, False),
    PipelineStatus.RUNNING: (False, False),
    PipelineStatus.COMPLETED: (True, True),
    PipelineStatus.FAILED: (True, False),
    PipelineStatus.PAUSED: (False, False),
    PipelineStatus.CANCELED: (True, False),
    PipelineStatus.UNKNOWN: (False, False),
}

PROTOCOL_JOB_STATUSES = [
    "CREATED",
    "QUEUED",
    "INIT",
    "RUNNING",
    "COMPLETE",
    "FAILED",
    "CANCELING",
    "CANCELED",
    "CANCELING_SCHEDULED",
    "SCHEDULED",
    "TASK",
    "PROVISIONING",
    "PENDING",
]


def test_tables_cover_every_member() -> None:
    assert set(JOB_TABLE) == set(JobStatus)
    assert set(PIPELINE_TABLE) == set(PipelineStatus)


def test_job_statuses_match_the_protocol() -> None:
    assert {s.value for s in JobStatus} == {*PROTOCOL_JOB_STATUSES, "UNKNOWN"}
    assert {s.value for s in PipelineStatus} == {
        "PENDING",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "PAUSED",
        "CANCELED",
        "UNKNOWN",
    }


@pytest.mark.parametrize("status", list(JobStatus), ids=lambda s: s.value)
def test_job_status_table(status: JobStatus) -> None:
    assert (status.is_terminal, status.is_success) == JOB_TABLE[status]


@pytest.mark.parametrize("status", list(PipelineStatus), ids=lambda s: s.value)
def test_pipeline_status_table(status: PipelineStatus) -> None:
    assert (status.is_terminal, status.is_success) == PIPELINE_TABLE[status]


@pytest.mark.parametrize("value", ["EXPLODED", "", None, 3, "COMPLETED", "SUCCESS"])
def test_unknown_job_status(value: object) -> None:
    status = JobStatus.parse(value)
    assert status is JobStatus.UNKNOWN
    assert not status.is_terminal
    assert not status.is_success


@pytest.mark.parametrize("value", ["EXPLODED", "", None, "COMPLETE", "TASK"])
def test_unknown_pipeline_status(value: object) -> None:
    status = PipelineStatus.parse(value)
    assert status is PipelineStatus.UNKNOWN
    assert not status.is_terminal
    assert not status.is_success


@pytest.mark.parametrize("status", list(JobStatus), ids=lambda s: s.value)
def test_job_status_parses_any_case(status: JobStatus) -> None:
    assert JobStatus.parse(status.value.lower()) is status
    assert JobStatus.parse(status.value.title()) is status
    assert JobStatus.parse(status.value) is status
    assert JobStatus.parse(status) is status


@pytest.mark.parametrize("status", list(PipelineStatus), ids=lambda s: s.value)
def test_pipeline_status_parses_any_case(status: PipelineStatus) -> None:
    assert PipelineStatus.parse(status.value.lower()) is status
    assert PipelineStatus.parse(status.value) is status


def test_complete_versus_completed() -> None:
    # a job finishes COMPLETE, a pipeline COMPLETED: neither word means success for the other
    assert JobStatus.parse("COMPLETE").is_success
    assert PipelineStatus.parse("COMPLETED").is_success
    assert JobStatus.parse("COMPLETED") is JobStatus.UNKNOWN
    assert PipelineStatus.parse("COMPLETE") is PipelineStatus.UNKNOWN


def test_paused_is_not_terminal() -> None:
    assert not PipelineStatus.PAUSED.is_terminal
    assert not PipelineStatus.parse("paused").is_success


def test_dataset_version_status_values() -> None:
    assert {s.name: s.value for s in DatasetVersionStatus} == {
        "CREATED": 1,
        "PENDING": 2,
        "FAILED": 3,
        "COMPLETE": 4,
        "STALE": 6,
        "REMOVING": 7,
        "REMOVED": 8,
    }


# ---------------------------------------------------------------------------------------------
# typed views
# ---------------------------------------------------------------------------------------------


def test_job_from_dict_keeps_the_payload() -> None:
    payload = {
        "id": 42,
        "status": "failed",
        "exit_code": "1",
        "error_message": "boom",
        "metrics": {"rows": 3},
        "name": None,
    }
    job = Job.from_dict(payload)
    assert (job.id, job.status, job.exit_code, job.error_message, job.name) == (
        "42",
        JobStatus.FAILED,
        1,
        "boom",
        None,
    )
    assert job.to_dict() == payload
    assert job.to_dict() is not payload


def test_job_from_dict_tolerates_odd_values() -> None:
    job = Job.from_dict({"id": "j", "status": "WEIRD", "exit_code": "n/a"})
    assert job.status is JobStatus.UNKNOWN
    assert job.exit_code is None


def test_pipeline_from_dict() -> None:
    pipeline = Pipeline.from_dict(
        {
            "pipeline_id": "p",
            "status": "paused",
            "is_definition": True,
            "job_runs": [{"job_id": "a", "status": "RUNNING", "parent_job_ids": None}],
        }
    )
    assert pipeline.status is PipelineStatus.PAUSED
    assert pipeline.is_definition is True
    assert pipeline.job_runs[0].status is JobStatus.RUNNING
    assert pipeline.job_runs[0].parent_job_ids == ()
    assert pipeline.job_runs[0].created_job_id is None


def test_small_models() -> None:
    assert Schedule.from_dict({"id": "5", "schedule_name": "s"}).id == 5
    assert UploadedFile.from_dict({"id": 1, "size": "100"}).id == "1"
    assert UploadedFile.from_dict({"id": 1, "size": "100"}).size == 100
    cluster = Cluster.from_dict({"id": 2, "name": "c", "default": False})
    assert (cluster.id, cluster.name, cluster.is_default) == (2, "c", False)
