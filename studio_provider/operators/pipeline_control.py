"""Pause and resume Studio pipeline runs: :class:`StudioPausePipelineOperator`,
:class:`StudioResumePipelineOperator`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from studio_provider.client import Pipeline, PipelineStatus, StudioValidationError
from studio_provider.client import validation as check
from studio_provider.client.lookups import pipeline_url
from studio_provider.exceptions import StudioTaskError, input_errors
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook
from studio_provider.links import PIPELINE_URL_XCOM_KEY, StudioPipelineLink
from studio_provider.operators.pipeline_summary import summarize

if TYPE_CHECKING:
    from airflow.sdk import Context


class _PipelineControl(BaseOperator):
    """Pause or resume one pipeline, by id or name; a pipeline already in the target state is not an error."""

    template_fields: Sequence[str] = ("pipeline_id", "pipeline_name", "studio_conn_id", "team")
    operator_extra_links = (StudioPipelineLink(),)
    target: PipelineStatus
    verb: str

    def __init__(
        self,
        *,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with input_errors():
            check.not_both(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
            check.one_of(("pipeline_id", "pipeline_name"), (pipeline_id, pipeline_name))
        self.pipeline_id = pipeline_id
        self.pipeline_name = pipeline_name
        self.studio_conn_id = studio_conn_id
        self.team = team

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        raise NotImplementedError

    def already(self, pipeline: Pipeline) -> bool:
        return pipeline.status is self.target

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the pipeline; act unless it is already in the target state; return its state."""
        hook = StudioHook(self.studio_conn_id, team=self.team)
        pipeline = hook.get_pipeline(pipeline_id=self.pipeline_id, name=self.pipeline_name)
        url = pipeline_url(hook.config, pipeline)
        context["ti"].xcom_push(key=PIPELINE_URL_XCOM_KEY, value=url)
        if self.already(pipeline):
            self.log.info(
                "Studio pipeline %s (%s) is already %s: nothing to %s.",
                pipeline.name,
                pipeline.pipeline_id,
                pipeline.status.value,
                self.verb,
            )
            return summarize(pipeline, url)
        try:
            pipeline = self.act(hook, pipeline)
        except StudioValidationError as exc:
            raise StudioTaskError(
                f"Could not {self.verb} Studio pipeline {pipeline.name} ({pipeline.pipeline_id}, status "
                f"{pipeline.status.value}): {exc}. See {url}",
                remote_id=pipeline.pipeline_id,
                url=url,
                status=pipeline.status.value,
            ) from exc
        self.log.info(
            "Studio pipeline %s (%s) is now %s.", pipeline.name, pipeline.pipeline_id, pipeline.status.value
        )
        return summarize(pipeline, url)


class StudioPausePipelineOperator(_PipelineControl):
    """Pause a running Studio pipeline run (running jobs finish; no new one starts). A run already
    PAUSED is left alone and the log says so. Returns the pipeline's state.

    :param pipeline_id: the run's id (templated).
    :param pipeline_name: its name (the newest running run of that name); not both.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    target = PipelineStatus.PAUSED
    verb = "pause"

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        return hook.pause_pipeline(pipeline_id=pipeline.pipeline_id)


class StudioResumePipelineOperator(_PipelineControl):
    """Resume a paused Studio pipeline run. A run already RUNNING (or PENDING) is left alone and the log
    says so. Returns the pipeline's state.

    :param pipeline_id: the run's id (templated).
    :param pipeline_name: its name (the newest paused run of that name); not both.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    """

    target = PipelineStatus.RUNNING
    verb = "resume"

    def already(self, pipeline: Pipeline) -> bool:
        return not pipeline.is_definition and pipeline.status in (
            PipelineStatus.RUNNING,
            PipelineStatus.PENDING,
        )

    def act(self, hook: StudioHook, pipeline: Pipeline) -> Pipeline:
        if self.pipeline_name and not pipeline.is_definition:
            # By name, Studio resumes the newest paused run of that name (the official client's flow).
            return hook.resume_pipeline(name=self.pipeline_name)
        return hook.resume_pipeline(pipeline_id=pipeline.pipeline_id)


__all__ = ["StudioPausePipelineOperator", "StudioResumePipelineOperator"]
