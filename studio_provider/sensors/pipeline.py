"""Wait for a Studio pipeline to reach a status: :class:`StudioPipelineSensor`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from studio_provider.client import Pipeline, PipelineStatus
from studio_provider.client import validation as check
from studio_provider.client.lookups import pipeline_url
from studio_provider.client.waiting import Deadline, PipelineWaitResult, WaitEnd
from studio_provider.exceptions import (
    StudioSensorFailedError,
    StudioSensorTimeout,
    StudioTaskError,
    input_errors,
)
from studio_provider.links import PIPELINE_URL_XCOM_KEY, StudioPipelineLink
from studio_provider.sensors.base import StudioBaseSensor
from studio_provider.triggers.base import read_event
from studio_provider.triggers.pipeline import StudioPipelineTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def parse_pipeline_statuses(
    name: str, values: Iterable[str | PipelineStatus] | str | PipelineStatus
) -> frozenset[PipelineStatus]:
    """Status names (any case) as enums; ``UNKNOWN`` or an unknown name is refused.

    :raises ValueError: naming the parameter and the valid names.
    """
    items = [values] if isinstance(values, (str, PipelineStatus)) else list(values)
    valid = [s.value for s in PipelineStatus if s is not PipelineStatus.UNKNOWN]
    parsed = set()
    for item in items:
        status = PipelineStatus.parse(item)
        if status is PipelineStatus.UNKNOWN:
            raise ValueError(
                f"{name} holds {item!r}, which is not a pipeline status; use {', '.join(valid)}."
            )
        parsed.add(status)
    if not parsed:
        raise ValueError(f"{name} must name at least one pipeline status ({', '.join(valid)}).")
    return frozenset(parsed)


class StudioPipelineSensor(StudioBaseSensor):
    """Wait for a Studio pipeline to reach ``target_statuses`` (default ``COMPLETED``). A pipeline that
    ends FAILED or CANCELED fails the sensor unless those are targets; an unknown status is never a target.

    Works in ``poke`` and ``reschedule`` modes, and deferred (``deferrable=True``), where the trigger polls
    until the sensor's ``timeout``, as an absolute deadline. Returns the reached status name.

    :param pipeline_id: the pipeline's id (templated).
    :param pipeline_name: its name (the newest pipeline of that name); not both.
    :param target_statuses: status names that end the wait.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between reads when deferred (default: ``poke_interval``).
    """

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "studio_conn_id", "team")
    operator_extra_links = (StudioPipelineLink(),)

    def __init__(
        self,
        *,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        target_statuses: Iterable[str | PipelineStatus] | str = ("COMPLETED",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with input_errors():
            check.not_both(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
            check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
            self.target_statuses = parse_pipeline_statuses("target_statuses", target_statuses)
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name

    def _targets(self) -> str:
        return ", ".join(sorted(s.value for s in self.target_statuses))

    def _judge(self, pipeline_id: str, status: PipelineStatus, url: str, message: str | None = None) -> bool:
        """``True`` at a target; raises when the pipeline ended elsewhere; ``False`` to keep waiting."""
        if status in self.target_statuses:
            self.log.info("Studio pipeline %s reached %s.", pipeline_id, status.value)
            return True
        if not status.is_terminal:
            return False  # still moving (an unknown status, too: never counted as success)
        raise StudioSensorFailedError(
            f"Studio pipeline {pipeline_id} ended {status.value}, not one of the awaited {self._targets()}"
            f"{': ' + message if message else ''}. See {url}",
            remote_id=pipeline_id,
            url=url,
            status=status.value,
        )

    def _read(self, context: Context) -> tuple[Pipeline, str]:
        pipeline = self.hook.get_pipeline(pipeline_id=self.pipeline_id, name=self.pipeline_name)
        url = pipeline_url(self.hook.config, pipeline)
        context["ti"].xcom_push(key=PIPELINE_URL_XCOM_KEY, value=url)
        self._last_status = pipeline.status
        self.log.info(
            "Studio pipeline %s (%s) is %s, %s/%s jobs completed.",
            pipeline.name,
            pipeline.pipeline_id,
            pipeline.status.value,
            pipeline.completed,
            pipeline.total,
        )
        return pipeline, url

    def poke(self, context: Context) -> bool:
        """Read the pipeline once and judge its status."""
        pipeline, url = self._read(context)
        return self._judge(pipeline.pipeline_id, pipeline.status, url, pipeline.error_message)

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual, or defer after one read that did not finish the wait."""
        if not self.deferrable:
            return self.poke_until_done(context)
        pipeline, url = self._read(context)
        with self.ending():
            if self._judge(pipeline.pipeline_id, pipeline.status, url, pipeline.error_message):
                return pipeline.status.value
        self.defer(
            trigger=StudioPipelineTrigger(
                pipeline.pipeline_id,
                studio_conn_id=self.studio_conn_id,
                team=self.team,
                pipeline_url=url,
                deadline=Deadline.after(self.timeout).at,
                poll_interval=self.poll_interval,
                target_statuses=sorted(s.value for s in self.target_statuses),
                pause_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Judge the trigger's event."""
        result = read_event(PipelineWaitResult, event)
        url = result.url or pipeline_url(self.hook.config, result.pipeline_id)
        if result.end is WaitEnd.DEADLINE:
            raise StudioSensorTimeout(
                f"Studio pipeline {result.pipeline_id} at {url} did not reach {self._targets()} by the "
                f"sensor's deadline {Deadline(result.deadline).describe()} (its timeout); the run goes on."
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(result.message, remote_id=result.pipeline_id, url=url)
        if not self._judge(result.pipeline_id, result.pipeline_status, url, result.message):
            raise StudioTaskError(
                f"Studio pipeline {result.pipeline_id}: the wait ended at status {result.status}, not an "
                f"awaited one. See {url}",
                remote_id=result.pipeline_id,
                url=url,
                status=result.status,
            )
        return result.pipeline_status.value


__all__ = ["StudioPipelineSensor", "parse_pipeline_statuses"]
