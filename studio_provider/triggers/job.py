"""The trigger that waits for a Studio job in the triggerer, following its log lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from studio_provider.client import JobStatus, LogLine
from studio_provider.client.pool import shared_client
from studio_provider.client.wait import Deadline
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioAsyncHook
from studio_provider.waiting import LOG_PREFIX, JobWaitResult, WaitEnd, acancel_job, follow_to_result


class StudioJobTrigger(BaseTrigger):
    """Wait for a Studio job to end (or reach ``target_statuses``), writing its log lines to the task log.

    It yields exactly one :class:`~airflow.triggers.base.TriggerEvent`, whose payload is a
    :class:`~studio_provider.waiting.JobWaitResult` dict: ``end`` (``finished``, ``deadline`` or
    ``error``), the job id, URL, status, exit code, error message and the id of the last log line written.
    All triggers of one connection in one triggerer event loop share one pooled HTTP client.

    :param job_id: the Studio job.
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param job_url: the job's URL, when known.
    :param deadline: an absolute deadline (epoch seconds); ``None`` waits for ever.
    :param poll_interval: seconds between REST reads while the log WebSocket is unavailable.
    :param stream_logs: write the job's log lines to the trigger's log (shown in the task log).
    :param use_websocket: follow over the WebSocket (``False``: REST polling only).
    :param cancel_on_kill: cancel the job when a user marks the deferred task failed or success or
        clears it (``on_kill``, Airflow 3.3+). Never on ``cleanup``, which also runs when the trigger
        moves to another triggerer.
    :param last_log_id: resume the log after this line id.
    :param target_statuses: also stop at these statuses (names), for sensors.
    """

    def __init__(
        self,
        job_id: str,
        *,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        job_url: str | None = None,
        deadline: float | None = None,
        poll_interval: float = 10.0,
        stream_logs: bool = True,
        use_websocket: bool = True,
        cancel_on_kill: bool = True,
        last_log_id: int | None = None,
        target_statuses: Sequence[str] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_id = str(job_id)
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.job_url = job_url
        self.deadline = None if deadline is None else float(deadline)
        self.poll_interval = float(poll_interval)
        self.stream_logs = bool(stream_logs)
        self.use_websocket = bool(use_websocket)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.last_log_id = last_log_id
        self.target_statuses = None if target_statuses is None else [str(s) for s in target_statuses]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and primitive kwargs (never a token): the triggerer rebuilds it from these."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "studio_conn_id": self.studio_conn_id,
                "team": self.team,
                "job_url": self.job_url,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "stream_logs": self.stream_logs,
                "use_websocket": self.use_websocket,
                "cancel_on_kill": self.cancel_on_kill,
                "last_log_id": self.last_log_id,
                "target_statuses": self.target_statuses,
            },
        )

    def _hook(self) -> StudioAsyncHook:
        return StudioAsyncHook(self.studio_conn_id, team=self.team)

    def _write_line(self, line: LogLine) -> None:
        self.log.info("%s%s", LOG_PREFIX.format(job_id=self.job_id), line.message.rstrip("\n"))
        self.last_log_id = line.id

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Follow the job and yield one final event."""
        deadline = Deadline(self.deadline)
        try:
            config = await self._hook().get_config()
            async with shared_client(config) as client:
                result = await follow_to_result(
                    client,
                    self.job_id,
                    job_url=self.job_url,
                    deadline=deadline,
                    after_log_id=self.last_log_id,
                    poll_interval=self.poll_interval,
                    use_websocket=self.use_websocket,
                    stream_logs=self.stream_logs,
                    target_statuses=[JobStatus.parse(s) for s in self.target_statuses or ()],
                    on_line=self._write_line,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one final event, whatever happened
            result = JobWaitResult(
                end=WaitEnd.ERROR,
                job_id=self.job_id,
                job_url=self.job_url,
                message=f"Waiting for Studio job {self.job_id} failed: {type(exc).__name__}: {exc}",
                last_log_id=self.last_log_id,
                deadline=self.deadline,
            )
        self.log.info(result.message)
        yield TriggerEvent(result.to_dict())  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """A user killed the deferred task (Airflow 3.3+): cancel the job when ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            self.log.info(
                "The task was killed; Studio job %s keeps running (cancel_on_kill=False).", self.job_id
            )
            return
        config = await self._hook().get_config()
        async with shared_client(config) as client:
            await acancel_job(client, self.job_id, log=self.log, reason="the deferred task was killed")


__all__ = ["StudioJobTrigger"]
