"""The trigger that waits for a Studio pipeline run in the triggerer, reporting its progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from studio_provider.client import PipelineStatus
from studio_provider.client.pool import shared_client
from studio_provider.client.wait import Deadline
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioAsyncHook
from studio_provider.pipeline_waiting import PipelineWaitResult, apause_run, pipeline_to_result
from studio_provider.waiting import WaitEnd

DEFAULT_TARGETS = ("COMPLETED",)


class StudioPipelineTrigger(BaseTrigger):
    """Poll a Studio pipeline until it reaches ``target_statuses`` or a terminal status.

    It yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is a
    :class:`~studio_provider.pipeline_waiting.PipelineWaitResult` dict. Transient failures (5xx, 429,
    resets, outages) are survived until the deadline; an unknown status is never a target. All triggers
    of one connection in one triggerer event loop share one pooled HTTP client.

    :param pipeline_id: the run (or definition) to watch.
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param pipeline_url: the pipeline's Studio URL, for messages.
    :param deadline: an absolute deadline (epoch seconds); ``None`` waits for ever.
    :param poll_interval: seconds between status reads.
    :param target_statuses: status names that end the wait as reached (default ``["COMPLETED"]``).
    :param stream_logs: follow each job run's log lines into the trigger's log (the task log).
    :param use_websocket: follow those logs over the WebSocket (``False``: REST polling).
    :param pause_on_kill: pause the run when a user marks the deferred task failed or success or clears
        it (``on_kill``, Airflow 3.3+). Never on ``cleanup``.
    """

    def __init__(
        self,
        pipeline_id: str,
        *,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        pipeline_url: str | None = None,
        deadline: float | None = None,
        poll_interval: float = 10.0,
        target_statuses: Sequence[str] | None = None,
        stream_logs: bool = False,
        use_websocket: bool = True,
        pause_on_kill: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.pipeline_id = str(pipeline_id)
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.pipeline_url = pipeline_url
        self.deadline = None if deadline is None else float(deadline)
        self.poll_interval = float(poll_interval)
        self.target_statuses = [str(s).upper() for s in (target_statuses or DEFAULT_TARGETS)]
        self.stream_logs = bool(stream_logs)
        self.use_websocket = bool(use_websocket)
        self.pause_on_kill = bool(pause_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and primitive kwargs (never a token): the triggerer rebuilds it from these."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pipeline_id": self.pipeline_id,
                "studio_conn_id": self.studio_conn_id,
                "team": self.team,
                "pipeline_url": self.pipeline_url,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "target_statuses": list(self.target_statuses),
                "stream_logs": self.stream_logs,
                "use_websocket": self.use_websocket,
                "pause_on_kill": self.pause_on_kill,
            },
        )

    def _hook(self) -> StudioAsyncHook:
        return StudioAsyncHook(self.studio_conn_id, team=self.team)

    def _write(self, line: str) -> None:
        self.log.info("%s", line)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the pipeline and yield one final event."""
        targets = [PipelineStatus.parse(name) for name in self.target_statuses]
        targets = [status for status in targets if status is not PipelineStatus.UNKNOWN]
        try:
            config = await self._hook().get_config()
            async with shared_client(config) as client:
                result = await pipeline_to_result(
                    client,
                    self.pipeline_id,
                    url=self.pipeline_url,
                    deadline=Deadline(self.deadline),
                    poll_interval=self.poll_interval,
                    targets=targets,
                    on_progress=self._write,
                    stream_logs=self.stream_logs,
                    on_log=self._write,
                    use_websocket=self.use_websocket,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one final event, whatever happened
            result = PipelineWaitResult(
                end=WaitEnd.ERROR,
                pipeline_id=self.pipeline_id,
                url=self.pipeline_url,
                message=f"Waiting for Studio pipeline {self.pipeline_id} failed: {type(exc).__name__}: {exc}",
                deadline=self.deadline,
            )
        self.log.info(result.message)
        yield TriggerEvent(result.to_dict())  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow 3.3+): pause the run when ``pause_on_kill``."""
        if not self.pause_on_kill:
            self.log.info("The task was killed; Studio pipeline %s keeps running.", self.pipeline_id)
            return
        config = await self._hook().get_config()
        async with shared_client(config) as client:
            await apause_run(client, self.pipeline_id, log=self.log, reason="the deferred task was killed")


__all__ = ["StudioPipelineTrigger"]
