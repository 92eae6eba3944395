"""What the operators that start something in Studio and wait for it share, written once.

:class:`StudioWaitingOperator` declares the waiting parameters (one name and one meaning each), keeps
one absolute deadline per remote object across retries, defers to a trigger or runs the same wait on the
worker, resumes in ``execute_complete`` with a checked event, and stops the remote work when the task is
killed while it waits on the worker. The job and pipeline operators add what they start and how they
judge the outcome (:meth:`StudioWaitingOperator.finish`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from airflow.sdk import BaseOperator

from studio_provider.client import AsyncStudioClient
from studio_provider.client import validation as check
from studio_provider.client.retry import RECONNECT_BACKOFF
from studio_provider.client.waiting import (
    CANCEL_GRACE_SECONDS,
    Deadline,
    LogLimits,
    WaitResult,
    keep_trying,
    run_on_worker,
)
from studio_provider.compat import default_deferrable, task_state_store
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook
from studio_provider.triggers.base import read_event

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

R = TypeVar("R", bound=WaitResult)
T = TypeVar("T")

_DEFAULT_LIMITS = LogLimits()


class StudioWaitingOperator(BaseOperator, Generic[R]):
    """A base for operators that start a Studio job or pipeline run and wait for it.

    The waiting parameters, the same on every such operator:

    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param wait_for_completion: wait until the remote work ends (default ``True``); ``False`` returns
        once it is started.
    :param deferrable: wait in the triggerer, freeing the worker (default
        ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads over REST (default 10): a pipeline's status, or a
        job's while its log stream is unavailable (always, with ``use_websocket=False``).
    :param timeout: the longest wait, as seconds or a ``timedelta``, turned into one absolute deadline
        that a retry reconnecting to the same remote object keeps; when it passes the remote work is
        cancelled (jobs) or paused (pipelines) and the task fails. ``None``: no limit.
    :param stream_logs: write the Studio log lines to the task log.
    :param use_websocket: follow logs over the WebSocket (``False``: REST polling only).
    :param max_log_lines: lines of one Studio job's log written to the task log at most (default 100,000);
        the rest is counted in one closing line that links to the job.
    :param max_log_bytes: bytes of one Studio job's log written to the task log at most (default 20 MiB).
    """

    template_fields: Sequence[str] = ("studio_conn_id", "team")
    #: The result the trigger sends and the worker wait returns.
    result_type: ClassVar[type[WaitResult]]
    #: The task state store key of the deadline (Airflow 3.3+). Renaming it breaks in-flight retries.
    deadline_state_key: ClassVar[str]

    def __init__(
        self,
        *,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 10.0,
        timeout: timedelta | float | None = None,
        stream_logs: bool = True,
        use_websocket: bool = True,
        max_log_lines: int = _DEFAULT_LIMITS.max_lines,
        max_log_bytes: int = _DEFAULT_LIMITS.max_bytes,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.wait_for_completion = bool(wait_for_completion)
        self.deferrable = default_deferrable() if deferrable is None else bool(deferrable)
        self.poll_interval = check.positive_seconds("poll_interval", poll_interval)
        self.timeout = check.timeout_seconds("timeout", timeout)
        self.stream_logs = bool(stream_logs)
        self.use_websocket = bool(use_websocket)
        self.log_limits = LogLimits(max_lines=max_log_lines, max_bytes=max_log_bytes)
        self.max_log_lines = self.log_limits.max_lines
        self.max_log_bytes = self.log_limits.max_bytes
        #: The remote object this try waits for (set once started).
        self.remote_id: str | None = None
        self._waiting = False

    @cached_property
    def hook(self) -> StudioHook:
        """The Studio hook of ``studio_conn_id`` and ``team``."""
        return StudioHook(self.studio_conn_id, team=self.team)

    # ---- the deadline --------------------------------------------------------------------------------

    def deadline(self, context: Context, *, created: bool) -> Deadline:
        """The one absolute deadline of this try's wait: the earlier of ``timeout``'s and
        ``execution_timeout``'s.

        ``timeout`` bounds the wait for one remote object: a try that reconnects to the object of an
        earlier try keeps that try's deadline (Airflow 3.3+, from the task state store); a new object gets
        a new one. ``execution_timeout`` bounds each try, from its start, as Airflow means it (Airflow does
        not bound a deferred task's wait by it: the provider does).

        :param created: this try started the remote object (else it reconnected to one).
        """
        own = Deadline(None)
        if self.timeout is not None:
            store = task_state_store(context)
            stored = store.get(self.deadline_state_key) if store is not None and not created else None
            if isinstance(stored, (int, float)) and not isinstance(stored, bool):
                own = Deadline(float(stored))
            else:
                own = Deadline.after(self.timeout)
                if store is not None:
                    store.set(self.deadline_state_key, own.at)
        per_try = Deadline(None)
        if self.execution_timeout is not None:
            started = getattr(context.get("ti"), "start_date", None)
            begun = started.timestamp() if isinstance(started, datetime) else time.time()
            per_try = Deadline(begun + self.execution_timeout.total_seconds())
        self._deadline_from = "execution_timeout" if per_try.at is not None and (own.at is None or per_try.at < own.at) else "timeout"
        return own.earliest(per_try)

    def deadline_source(self) -> str:
        """Which limit the deadline came from (``timeout`` or ``execution_timeout``), for messages."""
        return getattr(self, "_deadline_from", "timeout")

    # ---- waiting -------------------------------------------------------------------------------------

    def defer_or_wait(self, trigger: Callable[[], BaseTrigger], wait: Callable[[AsyncStudioClient], Awaitable[R]]) -> R:
        """Defer to ``trigger()`` (resuming in :meth:`execute_complete`), or run ``wait`` here, on the
        worker, with the same client code the trigger runs.

        :param trigger: builds the trigger, only when deferring.
        :param wait: the wait, given a client.
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
            return run_on_worker(self.hook.config, wait)
        finally:
            self._waiting = False

    def read_through_outage(self, read: Callable[[AsyncStudioClient], Awaitable[T]], what: str) -> T:
        """One read of the outcome after the wait ended (the final job, its dataset versions), waiting out
        a Studio outage as a cancel does: the remote work is done, and failing the task for a 503 now would
        throw its result away.

        :param read: the read, given a client.
        :param what: what is read, for messages (``"read Studio job 42"``).
        """

        async def attempt(client: AsyncStudioClient) -> T:
            return await keep_trying(
                lambda: read(client), grace=CANCEL_GRACE_SECONDS, backoff=RECONNECT_BACKOFF, what=what, logger=self.log
            )

        return run_on_worker(self.hook.config, attempt)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger's event: check it and turn it into the task's outcome."""
        return self.finish(context, read_event(self.result_type, event))  # type: ignore[arg-type]

    def finish(self, context: Context, result: R) -> Any:
        """The task's outcome from how the wait ended: a return value, or an exception."""
        raise NotImplementedError

    # ---- stopping the remote work ---------------------------------------------------------------------

    @property
    def stops_on_kill(self) -> bool:
        """Whether a kill stops the remote work (the subclass's ``cancel_on_kill`` / ``pause_on_kill``)."""
        return False

    def stop_remote(self, remote_id: str, reason: str) -> None:
        """Cancel (jobs) or pause (pipelines) the remote work, with the same code the trigger's
        ``on_kill`` runs."""
        raise NotImplementedError

    def on_kill(self) -> None:
        """The task was killed while waiting on the worker: stop the remote work when the option says so."""
        if self.stops_on_kill and self.remote_id and self._waiting:
            self.stop_remote(self.remote_id, "the task was killed")


__all__ = ["StudioWaitingOperator"]
