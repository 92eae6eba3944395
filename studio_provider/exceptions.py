"""The errors Studio tasks fail with (Airflow exceptions, so Airflow's retry rules apply)."""

from __future__ import annotations

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowException  # type: ignore[attr-defined,no-redef]


class StudioTaskError(AirflowException):
    """A Studio object (job, pipeline run) a task waited for did not succeed.

    :param message: what happened, naming the object, its URL and Studio's message.
    :param remote_id: the Studio object's id.
    :param url: its URL in Studio.
    :param status: its last known status.
    """

    def __init__(
        self, message: str, *, remote_id: str | None = None, url: str | None = None, status: str | None = None
    ) -> None:
        super().__init__(message)
        self.remote_id = remote_id
        self.url = url
        self.status = status


class StudioJobFailedError(StudioTaskError):
    """The Studio job ended FAILED, CANCELED, as a TASK with no run, or with an unknown status."""


class StudioPipelineFailedError(StudioTaskError):
    """The Studio pipeline run ended FAILED or CANCELED (the message lists its failed job runs)."""


class StudioDatasetVersionFailedError(StudioTaskError):
    """The awaited dataset version ended FAILED (or STALE, REMOVING, REMOVED): it will never complete."""


class StudioDeadlinePassedError(StudioTaskError):
    """The task's ``timeout`` deadline passed before the Studio object finished (it was cancelled or
    paused, as the operator says)."""


__all__ = [
    "StudioDatasetVersionFailedError",
    "StudioDeadlinePassedError",
    "StudioJobFailedError",
    "StudioPipelineFailedError",
    "StudioTaskError",
]
