"""The emulator's own wire vocabulary: status names and values as the Studio specification states them.

Written from the specification (the seeds' OpenAPI references and guide, and the protocol notes drawn from
them), never imported from the provider's client: an emulator that shared the client's enums would agree
with the client's mistakes instead of catching them.

- Job statuses travel as upper-case names. ``COMPLETE``, ``FAILED``, ``CANCELED`` and ``TASK`` (a cron
  job's task record) are final; every other status is still active.
- Pipeline statuses are names too; note ``COMPLETED`` where jobs say ``COMPLETE``. ``PAUSED`` is not final
  (a paused run can be resumed). Job runs inside a pipeline carry job statuses.
- A dataset version's status is an integer (5 is not used).
"""

from __future__ import annotations

from enum import IntEnum

JOB_STATUSES: tuple[str, ...] = (
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
)
FINISHED_JOB_STATUSES: frozenset[str] = frozenset({"COMPLETE", "FAILED", "CANCELED", "TASK"})

PIPELINE_STATUSES: tuple[str, ...] = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "PAUSED", "CANCELED")
FINISHED_PIPELINE_STATUSES: frozenset[str] = frozenset({"COMPLETED", "FAILED", "CANCELED"})


class DatasetVersionStatus(IntEnum):
    """A dataset version's status, sent as its integer value."""

    CREATED = 1
    PENDING = 2
    FAILED = 3
    COMPLETE = 4
    STALE = 6
    REMOVING = 7
    REMOVED = 8
