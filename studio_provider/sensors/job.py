"""Wait for a Studio job to reach a status: :class:`StudioJobSensor`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from studio_provider.client import JobStatus
from studio_provider.client import validation as check
from studio_provider.client.lookups import job_url
from studio_provider.client.waiting import Deadline, JobWaitResult, WaitEnd
from studio_provider.exceptions import (
    StudioSensorFailedError,
    StudioSensorTimeout,
    StudioTaskError,
    input_errors,
)
from studio_provider.links import JOB_URL_XCOM_KEY, StudioJobLink
from studio_provider.sensors.base import StudioBaseSensor
from studio_provider.triggers.base import read_event
from studio_provider.triggers.job import StudioJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


def parse_statuses(name: str, values: Iterable[str | JobStatus] | str | JobStatus) -> frozenset[JobStatus]:
    """Job status names as given by a DAG author, checked.

    :raises ValueError: naming the parameter and the unknown status.
    """
    items = [values] if isinstance(values, (str, JobStatus)) else list(values)
    if not items:
        raise ValueError(f"{name} must name at least one job status, such as 'COMPLETE'.")
    statuses = set()
    for item in items:
        status = JobStatus.parse(item)
        if status is JobStatus.UNKNOWN:
            known = ", ".join(s.value for s in JobStatus if s is not JobStatus.UNKNOWN)
            raise ValueError(f"{name} holds an unknown job status {item!r}; use one of {known}.")
        statuses.add(status)
    return frozenset(statuses)


class StudioJobSensor(StudioBaseSensor):
    """Wait until a Studio job reaches one of ``target_statuses``; fail at once, without retries, when it
    ends in a status that is not a target (FAILED or CANCELED, unless those are targets).

    Works in ``poke`` and ``reschedule`` modes, and deferred (``deferrable=True``), where the trigger
    enforces the same deadline: the sensor's ``timeout``, as an absolute deadline from the first poke.
    The sensor does not own the job, so it never cancels it. Returns the job's status name.

    :param job_id: the job (templated), for example ``"{{ ti.xcom_pull('run', key='job_id') }}"``.
    :param target_statuses: the statuses to wait for (default ``["COMPLETE"]``).
    :param studio_conn_id: the ``datachain_studio`` connection (templated).
    :param team: the team, overriding the connection's (templated).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between status reads in the triggerer (default: ``poke_interval``).
    """

    template_fields: Sequence[str] = ("job_id", "studio_conn_id", "team")
    operator_extra_links = (StudioJobLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        target_statuses: Iterable[str | JobStatus] | str = ("COMPLETE",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        with input_errors():
            self.target_statuses = parse_statuses("target_statuses", target_statuses)

    def _job_id(self) -> str:
        with input_errors():
            return str(check.required_text("job_id", self.job_id)).strip()

    def _judge(self, job_id: str, status: JobStatus, url: str | None, message: str | None = None) -> bool:
        """``True`` at a target; raises when the job ended elsewhere; ``False`` to keep waiting."""
        if status in self.target_statuses:
            self.log.info("Studio job %s reached %s.", job_id, status.value)
            return True
        if not status.is_terminal:
            return False  # still moving; an unknown status is never counted as success either
        targets = ", ".join(sorted(s.value for s in self.target_statuses))
        raise StudioSensorFailedError(
            f"Studio job {job_id} ended with status {status.value}, not one of the awaited {targets}"
            f"{': ' + message if message else ''}. See {url or '(no URL)'}",
            remote_id=job_id,
            url=url,
            status=status.value,
        )

    def poke(self, context: Context) -> bool:
        """Read the job once and judge its status."""
        job_id = self._job_id()
        job = self.hook.get_job(job_id=job_id)
        url = job_url(self.hook.config, job)
        context["ti"].xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        self.log.info("Studio job %s is %s.", job_id, job.status.value)
        self._last_status = job.status
        return self._judge(job_id, job.status, url, job.error_message)

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) as usual, or defer after one poke that did not finish the wait."""
        if not self.deferrable:
            return self.poke_until_done(context)
        job_id = self._job_id()
        job = self.hook.get_job(job_id=job_id)
        url = job_url(self.hook.config, job)
        context["ti"].xcom_push(key=JOB_URL_XCOM_KEY, value=url)
        with self.ending():
            if self._judge(job_id, job.status, url, job.error_message):
                return job.status.value
        deadline = Deadline.after(self.timeout)
        self.defer(
            trigger=StudioJobTrigger(
                job_id,
                studio_conn_id=self.studio_conn_id,
                team=self.team,
                job_url=url,
                deadline=deadline.at,
                poll_interval=self.poll_interval,
                stream_logs=False,
                use_websocket=False,
                cancel_on_kill=False,
                target_statuses=sorted(s.value for s in self.target_statuses),
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Judge the trigger's event."""
        result = read_event(JobWaitResult, event)
        if result.end is WaitEnd.DEADLINE:
            raise StudioSensorTimeout(
                f"Studio job {result.job_id} at {result.job_url or '(no URL)'} did not reach "
                f"{', '.join(sorted(s.value for s in self.target_statuses))} by the sensor's deadline "
                f"{Deadline(result.deadline).describe()} (its timeout); the job goes on."
            )
        if result.end is WaitEnd.ERROR:
            raise StudioTaskError(result.message, remote_id=result.job_id, url=result.job_url)
        if not self._judge(result.job_id, result.job_status, result.job_url, result.error_message):
            raise StudioTaskError(
                f"Studio job {result.job_id}: the wait ended at status {result.status}, not an awaited one.",
                remote_id=result.job_id,
                url=result.job_url,
                status=result.status,
            )
        return result.job_status.value


__all__ = ["StudioJobSensor", "parse_statuses"]
