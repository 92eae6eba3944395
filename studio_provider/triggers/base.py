"""The skeleton every waiting Studio trigger shares, written once.

A subclass declares its constructor arguments in :attr:`StudioTrigger.fields` (primitives only: a
connection id, never a token), awaits one of the waits of :mod:`studio_provider.client.waiting` in
:meth:`StudioTrigger.wait`, and says how to stop the remote work in :meth:`StudioTrigger.stop_remote`.
The base serializes the fields, runs the wait with the triggerer loop's shared client, turns any failure
into a result, and yields exactly one event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from studio_provider.client import AsyncStudioClient
from studio_provider.client.pool import shared_client
from studio_provider.client.waiting import LogLimits, LogWriter, WaitResult
from studio_provider.compat import atask_instance_state
from studio_provider.exceptions import StudioTaskError
from studio_provider.hooks.studio import StudioAsyncHook

R = TypeVar("R", bound=WaitResult)


def read_event(result_type: type[R], event: object) -> R:
    """A Studio trigger's event, read back in ``execute_complete`` (of an operator or a sensor).

    :param result_type: the result class the trigger sends.
    :param event: the event's payload.
    :raises StudioTaskError: when the payload is not one the trigger wrote.
    """
    try:
        return result_type.from_dict(event)
    except ValueError as exc:
        raise StudioTaskError(
            f"A Studio trigger sent an unreadable event ({exc}): {str(event)[:500]}"
        ) from exc


class StudioTrigger(BaseTrigger):
    """A trigger that waits for one Studio object and yields one final event (a
    :class:`~studio_provider.client.waiting.WaitResult` dict).

    Subclasses set :attr:`fields` and implement :meth:`wait` and :meth:`failed`; those that own what
    they wait for implement :meth:`stop_remote` and :attr:`stops_on_kill`.
    """

    #: The constructor's arguments, as :meth:`serialize` returns them.
    fields: ClassVar[tuple[str, ...]]
    #: The object waited for, for messages (``"Studio job 42"``).
    awaited: str

    studio_conn_id: str
    team: str | None
    deadline: float | None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the declared fields (primitives, never a token): the triggerer rebuilds
        the trigger from these, after a restart or on another triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {name: getattr(self, name) for name in self.fields},
        )

    def hook(self) -> StudioAsyncHook:
        """The connection's async hook."""
        return StudioAsyncHook(self.studio_conn_id, team=self.team)

    def log_writer(self, prefix: str, limits: LogLimits) -> LogWriter:
        """A writer of Studio log lines into this trigger's log (the task log)."""
        sink: Callable[[str], object] = lambda line: self.log.info("%s", line)  # noqa: E731
        return LogWriter(sink, prefix=prefix, limits=limits)

    async def wait(self, client: AsyncStudioClient) -> WaitResult:
        """Wait with ``client`` and say how the wait ended."""
        raise NotImplementedError

    def failed(self, reason: str) -> WaitResult:
        """The result for a wait that failed unexpectedly (``reason`` names the error)."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Run :meth:`wait` with the loop's shared client and yield one final event, whatever happened."""
        try:
            config = await self.hook().get_config()
            async with shared_client(config) as client:
                result = await self.wait(client)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one final event, whatever happened
            result = self.failed(f"Waiting for {self.awaited} failed: {type(exc).__name__}: {exc}")
        self.log.info("%s", result.message)
        yield TriggerEvent(result.to_dict())  # type: ignore[no-untyped-call]

    # ---- a user killed the deferred task ------------------------------------------------------------

    #: Whether :meth:`on_kill` stops the remote work (the task owns it and its option says so).
    stops_on_kill: bool = False
    #: The option that controls it, for the log (``cancel_on_kill``, ``pause_on_kill``).
    kill_option: ClassVar[str] = ""

    async def stop_remote(self, client: AsyncStudioClient) -> None:
        """Cancel or pause what the task started (only called when :attr:`stops_on_kill`)."""

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow 3.3+; never on ``cleanup``, which also runs when the
        trigger moves to another triggerer): stop the remote work when :attr:`stops_on_kill`."""
        if not self.stops_on_kill:
            reason = f" ({self.kill_option}=False)" if self.kill_option else ""
            self.log.info("The task was killed; %s keeps running%s.", self.awaited, reason)
            return
        if await self._still_deferred():
            # Airflow (3.3.2) also cancels a trigger "by user action" when it moved to another triggerer
            # (this one missed its health check): its task still waits, on the other triggerer.
            self.log.warning(
                "This triggerer stopped following %s, but the task is still deferred (its trigger moved to "
                "another triggerer): %s keeps running.",
                self.awaited,
                self.awaited,
            )
            return
        config = await self.hook().get_config()
        async with shared_client(config) as client:
            await self.stop_remote(client)

    async def _still_deferred(self) -> bool:
        """Whether the task still waits on a trigger; ``False`` when that cannot be read (the kill is then
        taken at its word)."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return False
        try:
            return await atask_instance_state(ti) == "deferred"
        except Exception as exc:
            self.log.info("Could not read the state of the killed task (%s); taking the kill as given.", exc)
            return False


__all__ = ["StudioTrigger", "read_event"]
