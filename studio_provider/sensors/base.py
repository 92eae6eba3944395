"""What the Studio sensors share: the connection, the deferral switch and the trigger's poll interval."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from studio_provider.client.validation import positive_seconds
from studio_provider.compat import AirflowSkipException, default_deferrable
from studio_provider.exceptions import StudioSensorFailedError, StudioSensorTimeout, input_errors
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class StudioBaseSensor(BaseSensorOperator):
    """The parameters every Studio sensor takes (subclasses document them), and one ending in every mode:

    - what it waits for ended in a status it does not wait for →
      :class:`~studio_provider.exceptions.StudioSensorFailedError` (no retry: waiting again cannot help);
    - its ``timeout`` passed → :class:`~studio_provider.exceptions.StudioSensorTimeout`, an
      ``AirflowSensorTimeout`` (no retry);
    - under ``soft_fail`` both become a skip, poking, rescheduling or deferred alike. A sensor never
      cancels or pauses what it watches: it does not own it.

    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between reads when deferred (default: ``poke_interval``).
    """

    ui_color = "#945dd6"

    def __init__(
        self,
        *,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        interval = self.poke_interval if poll_interval is None else poll_interval
        with input_errors():
            self.poll_interval = positive_seconds("poll_interval", interval)
        # The status the last poke read, for the return value of a poking (not deferred) wait.
        self._last_status: Enum | None = None

    @cached_property
    def hook(self) -> StudioHook:
        """The Studio hook of ``studio_conn_id`` and ``team``."""
        return StudioHook(self.studio_conn_id, team=self.team)

    @contextmanager
    def ending(self) -> Iterator[None]:
        """Where a sensor decides outside Airflow's own poke loop (the read before deferring): a failure
        or a timeout becomes a skip under ``soft_fail``, as Airflow does inside its loop."""
        try:
            yield
        except (StudioSensorFailedError, StudioSensorTimeout) as exc:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail: {exc}") from exc
            raise

    def poke_until_done(self, context: Context) -> Any:
        """Poke (or reschedule) as any sensor does; returns the name of the status the last poke read."""
        super().execute(context)
        return None if self._last_status is None else self._last_status.value


__all__ = ["StudioBaseSensor"]
