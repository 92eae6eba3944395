"""The errors Studio tasks fail with (Airflow exceptions, so Airflow's retry rules apply).

- :class:`StudioTaskError` and its subclasses: the remote work did not succeed; a retry may help (a job
  that failed is run again, continuing from its checkpoints).
- :class:`StudioInputError`: a parameter is wrong; the task fails without retries (Airflow's
  ``AirflowFailException``), since a retry would fail the same way. It is also a ``ValueError``.
- :class:`StudioSensorFailedError`: what a sensor waits for ended in a status it does not wait for;
  waiting again cannot change that, so the sensor fails without retries (skipped under ``soft_fail``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[attr-defined,no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
    )


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
    """The Studio job ended FAILED, CANCELED, or as a TASK with no run.

    Besides the message, it carries what Studio said: ``exit_code``, ``error_message``, ``error_stack``,
    ``metrics`` and ``params`` (``None`` when Studio sent none).
    """

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        error_message: str | None = None,
        error_stack: str | None = None,
        metrics: dict[str, object] | None = None,
        params: dict[str, object] | None = None,
        **kwargs: str | None,
    ) -> None:
        super().__init__(message, **kwargs)
        self.exit_code = exit_code
        self.error_message = error_message
        self.error_stack = error_stack
        self.metrics = metrics
        self.params = params


class StudioPipelineFailedError(StudioTaskError):
    """The Studio pipeline run ended FAILED or CANCELED (the message lists its failed job runs)."""


class StudioDeadlinePassedError(StudioTaskError):
    """The task's deadline (``timeout``, or ``execution_timeout`` when it comes first) passed before the
    Studio object finished (it was cancelled or paused, as the operator says)."""


class StudioInputError(AirflowFailException, ValueError):
    """A parameter is wrong (the message names it and the fix): the task fails without retries."""


class StudioSensorFailedError(StudioTaskError, AirflowFailException):
    """What the sensor waits for ended in a status it does not wait for: no retry (skipped under
    ``soft_fail``, in every mode)."""


class StudioDatasetVersionFailedError(StudioSensorFailedError):
    """The awaited dataset version ended FAILED (or STALE, REMOVING, REMOVED): it will never complete."""


class StudioSensorTimeout(AirflowSensorTimeout):
    """The sensor's ``timeout`` passed first: no retry (skipped under ``soft_fail``), as for any sensor."""


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn the ``ValueError`` of a parameter check inside the block into :class:`StudioInputError`."""
    try:
        yield
    except StudioInputError:
        raise
    except ValueError as exc:
        raise StudioInputError(str(exc)) from exc


__all__ = [
    "StudioDatasetVersionFailedError",
    "StudioDeadlinePassedError",
    "StudioInputError",
    "StudioJobFailedError",
    "StudioPipelineFailedError",
    "StudioSensorFailedError",
    "StudioSensorTimeout",
    "StudioTaskError",
    "input_errors",
]
