"""The trigger that waits for a Studio pipeline run in the triggerer, reporting its progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from studio_provider.client import AsyncStudioClient, PipelineStatus
from studio_provider.client.lookups.ownership import note_pause
from studio_provider.client.waiting import (
    Deadline,
    LogLimits,
    LogWriter,
    PipelineWaitResult,
    WaitEnd,
    pause_run,
    wait_for_pipeline,
)
from studio_provider.hooks.studio import DEFAULT_CONN_ID
from studio_provider.triggers.base import StudioTrigger

DEFAULT_TARGETS = ("COMPLETED",)
_DEFAULT_LIMITS = LogLimits()


class StudioPipelineTrigger(StudioTrigger):
    """Poll a Studio pipeline until it reaches ``target_statuses`` or a terminal status.

    It yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload is a
    :class:`~studio_provider.client.waiting.PipelineWaitResult` dict. Transient failures (5xx, 429,
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
        it (``on_kill``, Airflow 3.3+). Never on ``cleanup``. A sensor passes ``False``.
    :param definition_name: the run's definition, on which a pause is noted (so a retry of the task
        resumes the run it paused).
    :param max_log_lines: log lines of each job run written to the task log at most.
    :param max_log_bytes: bytes of each job run's log written to the task log at most.
    """

    fields: ClassVar[tuple[str, ...]] = (
        "pipeline_id",
        "studio_conn_id",
        "team",
        "pipeline_url",
        "deadline",
        "poll_interval",
        "target_statuses",
        "stream_logs",
        "use_websocket",
        "pause_on_kill",
        "definition_name",
        "max_log_lines",
        "max_log_bytes",
    )
    kill_option: ClassVar[str] = "pause_on_kill"

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
        definition_name: str | None = None,
        max_log_lines: int = _DEFAULT_LIMITS.max_lines,
        max_log_bytes: int = _DEFAULT_LIMITS.max_bytes,
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
        self.definition_name = definition_name
        self.max_log_lines = int(max_log_lines)
        self.max_log_bytes = int(max_log_bytes)

    @property
    def awaited(self) -> str:  # type: ignore[override]
        return f"Studio pipeline {self.pipeline_id}"

    @property
    def stops_on_kill(self) -> bool:  # type: ignore[override]
        return self.pause_on_kill

    async def wait(self, client: AsyncStudioClient) -> PipelineWaitResult:
        """Poll the run (and follow its job runs' logs when asked) until a target or terminal status."""
        targets = [PipelineStatus.parse(name) for name in self.target_statuses]
        limits = LogLimits(max_lines=self.max_log_lines, max_bytes=self.max_log_bytes)

        def writers(prefix: str) -> LogWriter:
            return self.log_writer(prefix, limits)

        return await wait_for_pipeline(
            client,
            self.pipeline_id,
            url=self.pipeline_url,
            deadline=Deadline(self.deadline),
            poll_interval=self.poll_interval,
            targets=[status for status in targets if status is not PipelineStatus.UNKNOWN],
            on_progress=lambda line: self.log.info("%s", line),
            writers=writers if self.stream_logs else None,
            use_websocket=self.use_websocket,
        )

    def failed(self, reason: str) -> PipelineWaitResult:
        return PipelineWaitResult(
            end=WaitEnd.ERROR, pipeline_id=self.pipeline_id, url=self.pipeline_url, message=reason, deadline=self.deadline
        )

    async def stop_remote(self, client: AsyncStudioClient) -> None:
        if self.definition_name:
            await note_pause(client, self.definition_name, self.pipeline_id)
        await pause_run(client, self.pipeline_id, log=self.log, reason="the deferred task was killed")


__all__ = ["StudioPipelineTrigger"]
