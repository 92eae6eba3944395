"""THE waiting machine: everything that waits for Studio, in one layer that imports nothing from Airflow.

- :mod:`.deadline`: the absolute :class:`Deadline`.
- :mod:`.poll`: the one polling loop (:func:`poll_until`) and :func:`keep_trying` (cancel, pause).
- :mod:`.follower`: the job follower (WebSocket through :mod:`.socket`, frames read by :mod:`.frames`,
  blobs by :mod:`.blobs`, REST polling shared through :mod:`.status_batch`).
- :mod:`.log_lines`: log lines escaped, split, prefixed and capped for the task log.
- :mod:`.jobs`, :mod:`.pipelines`, :mod:`.datasets`: the waits, and cancel / pause.
- :mod:`.results`: one family of results, the trigger events' payloads.
- :mod:`.worker`: the same coroutines run to completion in a task.

Backoff and transient errors come from :mod:`..retry`, the one policy the transports use too.
"""

from __future__ import annotations

from .datasets import VersionTarget, wait_for_version, watch_dataset, watch_team
from .deadline import Deadline
from .follower import FollowEvent, JobFollower, LogEvent, StatusEvent, follow_job, websocket_url
from .jobs import CANCEL_GRACE_SECONDS, LOG_PREFIX, cancel_job, wait_for_job, wait_until_canceled
from .log_lines import LogLimits, LogWriter
from .pipelines import pause_run, wait_for_pipeline
from .poll import keep_trying, poll_until
from .results import (
    DatasetWaitResult,
    FailedJobRun,
    JobWaitResult,
    PipelineWaitResult,
    Verdict,
    WaitEnd,
    WaitResult,
)
from .worker import run_on_worker

__all__ = [
    "CANCEL_GRACE_SECONDS",
    "LOG_PREFIX",
    "DatasetWaitResult",
    "Deadline",
    "FailedJobRun",
    "FollowEvent",
    "JobFollower",
    "JobWaitResult",
    "LogEvent",
    "LogLimits",
    "LogWriter",
    "PipelineWaitResult",
    "StatusEvent",
    "Verdict",
    "VersionTarget",
    "WaitEnd",
    "WaitResult",
    "cancel_job",
    "follow_job",
    "keep_trying",
    "pause_run",
    "poll_until",
    "run_on_worker",
    "wait_for_job",
    "wait_for_pipeline",
    "wait_for_version",
    "wait_until_canceled",
    "watch_dataset",
    "watch_team",
    "websocket_url",
]
