"""The submission rule (exactly one remote object per task) against the emulator, over real sockets.

A plain dict stands in for Airflow 3.3's ``task_state_store`` (the same two methods); the remote side is
the real emulator, faults included.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.client import Job, JobStatus, StudioOutcomeUnknownError
from studio_provider.emulator import EmulatorServer
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.submission import (
    Decision,
    Phase,
    RemoteKind,
    has_marker,
    marker_for,
    submit_once,
    with_marker,
)

LOG = logging.getLogger("test_submission")
KEY = "studio_job_id"


class DictStore:
    """The two methods of Airflow's TaskStateStoreAccessor the rule uses, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def job_kind(hook: StudioHook, marker: str, environment: dict[str, str]) -> RemoteKind[Job]:
    def find(mark: str) -> Job | None:
        return next((job for job in hook.list_jobs(limit=100) if has_marker(job.name, mark)), None)

    def phase(job: Job) -> Phase:
        if not job.status.is_terminal:
            return Phase.ACTIVE
        return Phase.SUCCEEDED if job.status is JobStatus.COMPLETE else Phase.FAILED

    return RemoteKind(
        noun="Studio job",
        get=lambda job_id: hook.get_job(job_id=job_id),
        find=find,
        create=lambda _failed: hook.create_job(
            query="print(1)", query_name=with_marker("q.py", marker), environment=environment
        ),
        id_of=lambda job: job.id,
        phase=phase,
    )


def jobs_with(hook: StudioHook, marker: str) -> list[Job]:
    return [job for job in hook.list_jobs(limit=100) if has_marker(job.name, marker)]


def wait_terminal(hook: StudioHook, job_id: str) -> Job:
    deadline = time.monotonic() + 20
    job = hook.get_job(job_id=job_id)
    while not job.status.is_terminal:
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.05)
        job = hook.get_job(job_id=job_id)
    return job


@pytest.fixture
def hook(studio_connection: Callable[..., str], fresh_emulator: EmulatorServer) -> StudioHook:
    studio_connection(fresh_emulator)
    return StudioHook()


def test_marker_is_deterministic_and_short() -> None:
    one = marker_for("token", "dag", "task", "manual__2026-01-01T00:00:00+00:00", -1)
    assert one == marker_for("token", "dag", "task", "manual__2026-01-01T00:00:00+00:00", -1)
    assert one != marker_for("token", "dag", "task", "manual__2026-01-01T00:00:00+00:00", 0)
    assert one.startswith("airflow:") and len(one) == len("airflow:") + 16
    assert with_marker("etl.py", one) == f"etl.py [{one}]"
    assert with_marker(with_marker("etl.py", one), one) == f"etl.py [{one}]"
    assert with_marker(None, one) == f"[{one}]"


@pytest.mark.parametrize("with_store", [True, False], ids=["task_state_store", "marker_only"])
def test_second_try_reconnects_then_reuses(hook: StudioHook, with_store: bool) -> None:
    marker = marker_for("token", "d", "t", f"run-{with_store}")
    store = DictStore() if with_store else None
    kind = job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "1"})

    first = submit_once(kind, marker=marker, state_key=KEY, store=store, log=LOG)
    assert first.decision is Decision.SUBMITTED and first.created
    if store is not None:
        assert store.values == {KEY: first.remote_id}

    # A retry while the job runs (a crashed worker) reconnects.
    second = submit_once(kind, marker=marker, state_key=KEY, store=store, log=LOG)
    assert (second.decision, second.remote_id) == (Decision.RECONNECTED, first.remote_id)

    # Once it completed, a retry returns it without creating anything.
    assert wait_terminal(hook, first.remote_id).status is JobStatus.COMPLETE
    third = submit_once(kind, marker=marker, state_key=KEY, store=store, log=LOG)
    assert (third.decision, third.remote_id) == (Decision.ALREADY_SUCCEEDED, first.remote_id)
    assert [job.id for job in jobs_with(hook, marker)] == [first.remote_id]


def test_failed_job_is_replaced(hook: StudioHook) -> None:
    marker = marker_for("token", "d", "t", "failed")
    store = DictStore()
    failing = job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "0.2", "STUDIO_EMULATOR_EXIT_CODE": "3"})
    first = submit_once(failing, marker=marker, state_key=KEY, store=store, log=LOG)
    assert wait_terminal(hook, first.remote_id).status is JobStatus.FAILED

    second = submit_once(
        job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "0.2"}),
        marker=marker,
        state_key=KEY,
        store=store,
        log=LOG,
    )
    assert second.decision is Decision.SUBMITTED and second.remote_id != first.remote_id
    assert store.values[KEY] == second.remote_id
    assert len(jobs_with(hook, marker)) == 2


def test_crash_between_create_and_store_write_is_covered_by_the_marker(hook: StudioHook) -> None:
    marker = marker_for("token", "d", "t", "gap")
    kind = job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "2"})
    created = kind.create(None)  # as if the worker died before store.set
    store = DictStore()
    again = submit_once(kind, marker=marker, state_key=KEY, store=store, log=LOG)
    assert (again.decision, again.remote_id) == (Decision.RECONNECTED, created.id)
    assert store.values[KEY] == created.id


def test_lost_create_response_is_found_by_its_marker(
    hook: StudioHook, fresh_emulator: EmulatorServer
) -> None:
    fresh_emulator.injector.add_rule("lose_response", method="POST", path="/api/datachain/jobs/", count=1)
    marker = marker_for("token", "d", "t", "lost")
    store = DictStore()
    result = submit_once(
        job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "1"}),
        marker=marker,
        state_key=KEY,
        store=store,
        log=LOG,
    )
    assert result.decision is Decision.RECOVERED
    jobs = jobs_with(hook, marker)
    assert [job.id for job in jobs] == [result.remote_id]
    assert fresh_emulator.injector.count("POST", "/api/datachain/jobs/") == 1


def test_lost_create_that_created_nothing_is_sent_once_more(
    hook: StudioHook, fresh_emulator: EmulatorServer
) -> None:
    # A 503 on create is an unknown outcome to the client; here the app never saw the request.
    fresh_emulator.injector.add_rule("error", method="POST", path="/api/datachain/jobs/", status=503, count=1)
    marker = marker_for("token", "d", "t", "nothing")
    result = submit_once(
        job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "1"}),
        marker=marker,
        state_key=KEY,
        store=None,
        log=LOG,
    )
    assert result.decision is Decision.SUBMITTED
    assert [job.id for job in jobs_with(hook, marker)] == [result.remote_id]
    assert fresh_emulator.injector.count("POST", "/api/datachain/jobs/") == 2


def test_a_lost_response_after_a_failed_try_does_not_pick_the_old_job(
    hook: StudioHook, fresh_emulator: EmulatorServer
) -> None:
    marker = marker_for("token", "d", "t", "old-failed")
    store = DictStore()
    failing = job_kind(hook, marker, {"STUDIO_EMULATOR_DURATION": "0.1", "STUDIO_EMULATOR_EXIT_CODE": "1"})
    old = submit_once(failing, marker=marker, state_key=KEY, store=store, log=LOG)
    wait_terminal(hook, old.remote_id)
    # Both creates fail before reaching the app: nothing new bears the marker, only the old failed job.
    fresh_emulator.injector.add_rule("error", method="POST", path="/api/datachain/jobs/", status=503, count=2)
    with pytest.raises(StudioOutcomeUnknownError):
        submit_once(failing, marker=marker, state_key=KEY, store=store, log=LOG)
    assert [job.id for job in jobs_with(hook, marker)] == [old.remote_id]
