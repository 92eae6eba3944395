"""Helpers for running Studio operators, sensors and triggers in tests, outside a scheduler.

``task_context`` builds the few context entries the provider reads (``ti`` for XCom and the task
identity, and optionally Airflow 3.3's ``task_state_store``); ``run_trigger`` runs a real trigger the
way the triggerer does (rebuilt from ``serialize()``); ``run_deferred`` chains execute → trigger →
``execute_complete``. The remote side is always the real emulator.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Re-exported for the tests: where each lives depends on the Airflow version.
try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
    from airflow.sdk.exceptions import AirflowSensorTimeout as AirflowSensorTimeout
    from airflow.sdk.exceptions import AirflowSkipException as AirflowSkipException
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException as AirflowFailException  # type: ignore[no-redef]
    from airflow.exceptions import AirflowSensorTimeout as AirflowSensorTimeout  # type: ignore[no-redef]
    from airflow.exceptions import AirflowSkipException as AirflowSkipException  # type: ignore[no-redef]
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]
from airflow.triggers.base import BaseTrigger, TriggerEvent

from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.submission import has_marker, marker_for


@dataclass
class FakeTaskInstance:
    """The task instance attributes and XCom push the provider uses."""

    dag_id: str = "studio_dag"
    task_id: str = "studio_task"
    run_id: str = "manual__2026-11-22T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def get_first_reschedule_date(self, context: Any) -> None:
        return None  # the first try: no earlier reschedule

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serializable
        self.xcom[key] = value


class DictStateStore:
    """Airflow 3.3's task state store (``get``/``set``), kept in a dict shared by the tries of a test."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        json.dumps(value)
        self.values[key] = value


def task_context(ti: FakeTaskInstance | None = None, store: DictStateStore | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTaskInstance()}
    if store is not None:
        context["task_state_store"] = store
    return context


def marker_of(ti: FakeTaskInstance, token: str | None = None) -> str:
    """The task's marker, keyed with the token of the connection in use (``datachain_studio_default``)."""
    return marker_for(token or connection_token(), ti.dag_id, ti.task_id, ti.run_id, ti.map_index)


def connection_token(conn_id: str = "datachain_studio_default") -> str:
    """The token of an ``AIRFLOW_CONN_*`` connection set by the test's fixtures."""
    import os

    return str(json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])["password"])


def jobs_of(hook: StudioHook, ti: FakeTaskInstance) -> list[Any]:
    """The Studio jobs carrying the task's marker."""
    marker = marker_of(ti, hook.config.token)
    return [job for job in hook.list_jobs(limit=100) if has_marker(job.name, marker)]


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """A new trigger from ``serialize()``, as a triggerer restores it; its kwargs must be JSON primitives."""
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, _, name = classpath.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    return cls(**kwargs)  # type: ignore[no-any-return]


async def collect_events(trigger: BaseTrigger, timeout: float = 60.0) -> list[TriggerEvent]:
    async def drain() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return await asyncio.wait_for(drain(), timeout)


def run_trigger(trigger: BaseTrigger, timeout: float = 60.0) -> TriggerEvent:
    """Run a trigger to its end and return its one event (it must yield exactly one)."""
    events = asyncio.run(collect_events(rebuild(trigger), timeout))
    assert len(events) == 1, f"the trigger yielded {len(events)} events: {events}"
    return events[0]


def run_deferred(operator: Any, context: dict[str, Any], timeout: float = 60.0) -> Any:
    """execute → (defer) → trigger → execute_complete, as a scheduler and a triggerer would."""
    try:
        operator.execute(context)
    except TaskDeferred as deferred:
        assert deferred.timeout is None, "the deadline is the trigger's job, not the defer timeout's"
        event = run_trigger(deferred.trigger, timeout)
        # As Airflow's task runner resumes a task (a sensor's soft_fail applies there).
        kwargs = {**(deferred.kwargs or {}), "event": event.payload}
        return operator.resume_execution(deferred.method_name, kwargs, context)
    raise AssertionError("the operator did not defer")


def studio_lines(output: str, job_id: str) -> list[str]:
    """The first word of each Studio log line of one job in the task log (``[studio <id>] <word> ...``).

    Tests print one distinct word per line, so the list shows every line and how often it was written.
    Colour codes of a console log renderer (Airflow 3.1's structlog) are dropped first.
    """
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return re.findall(rf"\[studio {re.escape(job_id)}\] (\S+)", plain)


def studio_line_times(output: str, job_id: str) -> list[datetime]:
    """When each Studio log line of one job was written to the task log (the log record's timestamp)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    stamps = re.findall(rf"^(\d{{4}}-\d\d-\d\dT[\d:.]+)Z?\s.*\[studio {re.escape(job_id)}\] ", plain, flags=re.M)
    return [datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc) for stamp in stamps]
