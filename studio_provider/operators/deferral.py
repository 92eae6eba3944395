"""The wait step of the operators that start something in Studio (jobs, pipeline runs), written once:
defer to a trigger, or wait on the worker marked as waiting, so ``on_kill`` acts only then."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

R = TypeVar("R")


class StudioDeferOrWaitOperator(BaseOperator):
    """A base for operators that wait for what they started, deferred (``deferrable``) or here."""

    deferrable: bool
    _waiting: bool = False

    def defer_or_wait(self, trigger: Callable[[], BaseTrigger], wait: Callable[[], R]) -> R:
        """Defer to ``trigger()`` (resuming in ``execute_complete``), or return ``wait()`` run here.

        :param trigger: builds the trigger, only when deferring.
        :param wait: the worker-side wait.
        """
        if self.deferrable:
            self.defer(
                trigger=trigger(),
                method_name="execute_complete",
                # The trigger enforces the deadline itself and reports it, so the task can cancel or pause
                # what it started: an Airflow defer timeout would end the task without execute_complete.
                timeout=None,
            )
        self._waiting = True
        try:
            return wait()
        finally:
            self._waiting = False


__all__ = ["StudioDeferOrWaitOperator"]
