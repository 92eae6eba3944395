"""One recurring Studio task (a job with a ``cron_expression``) per Airflow task, kept like a synced
schedule: created on the first run, kept while its settings stay the same, replaced when they change.

A task that registers a cron job runs once per DAG run; without this every run would add another
recurring task to Studio. The recurring task's name carries a marker of the *Airflow task* (DAG id, task
id, map index; no run id), an HMAC keyed with the connection's token as for jobs, and a digest of its
settings: another member of the team cannot make a task adopt or replace their own recurring task.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from studio_provider.client import Job, JobStatus, StudioError
from studio_provider.operators.submission import MARKER_PREFIX, Decision, has_marker, with_marker

#: How many of the team's recurring tasks are searched for the task's marker.
LOOKUP_LIMIT = 200
#: Settings that change on every run without changing what the recurring task does.
_VOLATILE = ("start_after",)


def recurring_marker(context: Mapping[str, Any], secret: str) -> str:
    """The marker of the Airflow task (not of one run): an HMAC of DAG id, task id and map index."""
    ti = context.get("ti") or context.get("task_instance")
    identity = "\x1f".join(
        ("recurring", str(getattr(ti, "dag_id", "")), str(getattr(ti, "task_id", "")), str(getattr(ti, "map_index", -1)))
    )
    digest = hmac.new(secret.encode("utf-8"), identity.encode("utf-8"), hashlib.sha256).hexdigest()
    return MARKER_PREFIX + digest[:16]


def settings_digest(arguments: Mapping[str, Any]) -> str:
    """A short digest of what the recurring task runs and when (``start_after`` left out)."""
    stable = {key: value for key, value in arguments.items() if key not in _VOLATILE}
    text = json.dumps(stable, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def register_recurring(
    hook: Any,
    context: Mapping[str, Any],
    arguments: Mapping[str, Any],
    create: Callable[[str], Job],
    name: str | None,
    *,
    log: logging.Logger | Any,
) -> tuple[Job, Decision]:
    """Keep one recurring Studio task for this Airflow task.

    :param hook: the Studio hook.
    :param context: the task's context.
    :param arguments: the job's arguments (with ``cron_expression``).
    :param create: creates the job under the name it is given.
    :param name: the job's name before the markers.
    :param log: where to say what happened.
    :returns: the recurring task, and ``ALREADY_SUCCEEDED`` when an unchanged one was kept, ``SUBMITTED``
        when one was created.
    """
    marker = recurring_marker(context, hook.config.token)
    digest = settings_digest(arguments)
    wanted = f"{with_marker(name, marker)} [settings:{digest}]"
    found = [
        job
        for job in hook.list_jobs(status=[JobStatus.TASK.value, JobStatus.SCHEDULED.value], limit=LOOKUP_LIMIT)
        if has_marker(job.name, marker)
    ]
    kept = next((job for job in found if job.name and f"[settings:{digest}]" in job.name), None)
    for job in found:
        if job is kept:
            continue
        log.info("Replacing the recurring Studio task %s of this Airflow task: its settings changed.", job.id)
        try:
            hook.cancel_job(job_id=job.id)
        except StudioError as exc:
            log.warning("Could not cancel the replaced recurring Studio task %s: %s", job.id, exc)
    if kept is not None:
        log.info("The recurring Studio task %s of this Airflow task is registered already, unchanged.", kept.id)
        return kept, Decision.ALREADY_SUCCEEDED
    return create(wanted), Decision.SUBMITTED


__all__ = ["recurring_marker", "register_recurring", "settings_digest"]
