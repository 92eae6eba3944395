"""Cancel a Studio job from Airflow: :class:`StudioCancelJobOperator`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from studio_provider.client import JobStatus, StudioError
from studio_provider.client import validation as check
from studio_provider.client.lookups import job_url
from studio_provider.client.waiting import Deadline, cancel_job, run_on_worker, wait_until_canceled
from studio_provider.exceptions import StudioTaskError
from studio_provider.hooks.studio import DEFAULT_CONN_ID, StudioHook
from studio_provider.links import JOB_URL_XCOM_KEY, StudioJobLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class StudioCancelJobOperator(BaseOperator):
    """Cancel a Studio job, and optionally wait until it is CANCELED. A job that already finished is not
    an error: the log says so and the task succeeds.

    Returns the job's final status name.

    :param job_id: the job (templated), for example ``"{{ ti.xcom_pull('run', key='job_id') }}"``.
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param wait_for_completion: wait until the job has stopped (default ``False``).
    :param poll_interval: seconds between status reads while waiting.
    :param timeout: the longest wait, in seconds or a ``timedelta`` (``None``: no limit).
    """

    template_fields: Sequence[str] = ("job_id", "studio_conn_id", "team")
    ui_color = "#945dd6"
    operator_extra_links = (StudioJobLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        studio_conn_id: str = DEFAULT_CONN_ID,
        team: str | None = None,
        wait_for_completion: bool = False,
        poll_interval: float = 2.0,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.studio_conn_id = studio_conn_id
        self.team = team
        self.wait_for_completion = wait_for_completion
        self.poll_interval = check.positive_seconds("poll_interval", poll_interval)
        self.timeout = check.timeout_seconds("timeout", timeout)

    @cached_property
    def hook(self) -> StudioHook:
        """The Studio hook of ``studio_conn_id`` and ``team``."""
        return StudioHook(self.studio_conn_id, team=self.team)

    def execute(self, context: Context) -> str:
        """Cancel the job (and wait, when asked); return its status."""
        job_id = str(check.required_text("job_id", self.job_id)).strip()
        job = self.hook.get_job(job_id=job_id)
        url = job_url(self.hook.config, job)
        context["ti"].xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        if job.status.is_terminal and job.status is not JobStatus.TASK:
            self.log.info(
                "Studio job %s had already finished (status %s): nothing to cancel.", job_id, job.status.value
            )
            return str(job.status.value)
        config = self.hook.config
        run_on_worker(config, lambda client: cancel_job(client, job_id, log=self.log, reason="requested by the task"))
        if not self.wait_for_completion:
            return str(self.hook.get_job(job_id=job_id).status.value)
        deadline = Deadline.after(self.timeout)
        try:
            final = run_on_worker(
                config,
                lambda client: wait_until_canceled(client, job_id, deadline=deadline, poll_interval=self.poll_interval),
            )
        except StudioError as exc:
            raise StudioTaskError(str(exc), remote_id=job_id, url=url) from exc
        if final.status is JobStatus.CANCELED:
            self.log.info("Studio job %s is CANCELED.", job_id)
        else:
            self.log.info(
                "Studio job %s finished with status %s before the cancel took effect.",
                job_id,
                final.status.value,
            )
        return str(final.status.value)


__all__ = ["StudioCancelJobOperator"]
