"""The trigger that waits for a Studio job in the triggerer, following its log lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from studio_provider.client import AsyncStudioClient, JobStatus, LogLine
from studio_provider.client.waiting import (
    LOG_PREFIX,
    Deadline,
    JobWaitResult,
    LogLimits,
    WaitEnd,
    cancel_job,
    wait_for_job,
)
from studio_provider.hooks.studio import DEFAULT_CONN_ID
from studio_provider.triggers.base import StudioTrigger

_DEFAULT_LIMITS = LogLimits()


class StudioJobTrigger(StudioTrigger):
    """Wait for a Studio job to end (or reach ``target_statuses``), writing its log lines to the task log.

    It yields exactly one :class:`~airflow.triggers.base.TriggerEvent`, whose payload is a
    :class:`~studio_provider.client.waiting.JobWaitResult` dict: ``end`` (``finished``, ``deadline`` or
    ``error``), the job id, URL, status, exit code, error message and the id of the last log line written.
    All triggers of one connection in one triggerer event loop share one pooled HTTP client.

    :param job_id: the Studio job.
    :param studio_conn_id: the ``datachain_studio`` connection.
    :param team: the team, overriding the connection's.
    :param job_url: the job's URL, when known.
    :param deadline: an absolute deadline (epoch seconds); ``None`` waits for ever.
    :param poll_interval: seconds between status reads over REST (while the log stream is unavailable,
        or always with ``use_websocket=False``).
    :param stream_logs: write the job's log lines to the trigger's log (shown in the task log).
    :param use_websocket: follow over the WebSocket (``False``: REST polling only).
    :param cancel_on_kill: cancel the job when a user marks the deferred task failed or success or
        clears it (``on_kill``, Airflow 3.3+). Never on ``cleanup``, which also runs when the trigger
        moves to another triggerer. A sensor, which does not own the job, passes ``False``.
    :param last_log_id: resume the log after this line id.
    :param target_statuses: also stop at these statuses (names), for sensors.
    :param max_log_lines: log lines of the job written to the task log at most.
    :param max_log_bytes: bytes of the job's log written to the task log at most.
    """

    fields: ClassVar[tuple[str, ...]] = (
        "job_id",
        "studio_conn_id",
        "team",
        "job_url",
        "deadline",
        "poll_interval",
        "stream_logs",
        "use_websocket",
        "cancel_on_kill",
        "last_log_id",
        "target_statuses",
        "max_log_lines",
        "max_log_bytes",
    )
    kill_option: ClassVar[str] = "cancel_on_kill"

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
        max_log_lines: int = _DEFAULT_LIMITS.max_lines,
        max_log_bytes: int = _DEFAULT_LIMITS.max_bytes,
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
        self.max_log_lines = int(max_log_lines)
        self.max_log_bytes = int(max_log_bytes)

    @property
    def awaited(self) -> str:  # type: ignore[override]
        return f"Studio job {self.job_id}"

    @property
    def stops_on_kill(self) -> bool:  # type: ignore[override]
        return self.cancel_on_kill

    async def wait(self, client: AsyncStudioClient) -> JobWaitResult:
        """Follow the job (its log lines into the task log) until it ends or the deadline."""
        writer = None
        if self.stream_logs:
            limits = LogLimits(max_lines=self.max_log_lines, max_bytes=self.max_log_bytes)
            writer = self.log_writer(LOG_PREFIX.format(job_id=self.job_id), limits)
        return await wait_for_job(
            client,
            self.job_id,
            job_url=self.job_url,
            deadline=Deadline(self.deadline),
            after_log_id=self.last_log_id,
            poll_interval=self.poll_interval,
            use_websocket=self.use_websocket,
            writer=writer,
            on_line=self._written,
            target_statuses=[JobStatus.parse(s) for s in self.target_statuses or ()],
        )

    def _written(self, line: LogLine) -> None:
        self.last_log_id = line.id

    def failed(self, reason: str) -> JobWaitResult:
        return JobWaitResult(
            end=WaitEnd.ERROR,
            job_id=self.job_id,
            job_url=self.job_url,
            message=reason,
            last_log_id=self.last_log_id,
            deadline=self.deadline,
        )

    async def stop_remote(self, client: AsyncStudioClient) -> None:
        await cancel_job(client, self.job_id, log=self.log, reason="the deferred task was killed")


__all__ = ["StudioJobTrigger"]
