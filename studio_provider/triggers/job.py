"""The trigger that waits for a Studio job in the triggerer, following its log lines."""

from __future__ import annotations

import asyncio
import time
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
from studio_provider.compat import aget_task_xcom, aset_task_xcom
from studio_provider.hooks.studio import DEFAULT_CONN_ID
from studio_provider.triggers.base import StudioTrigger

_DEFAULT_LIMITS = LogLimits()
#: The XCom (of the deferred task's try) holding the id of the last log line written: a trigger rebuilt
#: after a triggerer restart resumes after it instead of writing the job's log again (Airflow 3.3+).
CHECKPOINT_XCOM_KEY = "studio_last_log_id"
#: Seconds between two checkpoints while lines are written.
CHECKPOINT_SECONDS = 5.0


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
    :param catch: a log line starting with this text is caught instead of written, and its rest sent
        back in the event (the ``@task.datachain_studio`` function's return value).
    :param deferred_at: when the task deferred (epoch seconds): a trigger started later than a checkpoint
        period after it may be a rebuilt one, and looks for a log checkpoint first.
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
        "catch",
        "deferred_at",
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
        catch: str | None = None,
        deferred_at: float | None = None,
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
        self.catch = catch
        self.deferred_at = None if deferred_at is None else float(deferred_at)

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
            if self.deferred_at is None or time.time() - self.deferred_at > CHECKPOINT_SECONDS:
                # Perhaps rebuilt after a triggerer restart (a fresh trigger skips the read).
                await self._resume_from_checkpoint()
        checkpoints = asyncio.ensure_future(self._checkpoints()) if writer is not None else None
        try:
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
                catch=self.catch,
                target_statuses=[JobStatus.parse(s) for s in self.target_statuses or ()],
            )
        finally:
            if checkpoints is not None:
                checkpoints.cancel()

    # ---- where the log stands, across a triggerer restart (Airflow 3.3+) -----------------------------

    async def _resume_from_checkpoint(self) -> None:
        """Resume after the last line an earlier run of this trigger (a dead triggerer) checkpointed."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return
        try:
            stored = await aget_task_xcom(ti, CHECKPOINT_XCOM_KEY)
        except Exception as exc:  # a convenience: without it, the log is written from the start again
            self.log.info("Could not read the log checkpoint of Studio job %s (%s).", self.job_id, exc)
            return
        if isinstance(stored, int) and not isinstance(stored, bool) and stored > (self.last_log_id or 0):
            self.log.info("Resuming the log of Studio job %s after line %d (checkpointed).", self.job_id, stored)
            self.last_log_id = stored

    async def _checkpoints(self) -> None:
        """Every :data:`CHECKPOINT_SECONDS`, store the id of the last line written, when it moved."""
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return
        stored = self.last_log_id
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            current = self.last_log_id
            if current is None or current == stored:
                continue
            try:
                if not await aset_task_xcom(ti, CHECKPOINT_XCOM_KEY, current):
                    return
            except Exception as exc:
                self.log.info("Could not checkpoint the log of Studio job %s (%s).", self.job_id, exc)
                return
            stored = current

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
