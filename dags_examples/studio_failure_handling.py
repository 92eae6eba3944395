"""What happens when Studio work fails, and how to report it.

- ``flaky_job`` fails on its first try and succeeds on the retry. Each try owns exactly one Studio job:
  a retry after a *failed* job submits a new one, a retry after a crashed worker reconnects to the job
  still running (no duplicate run).
- ``bad_input_job`` always fails; the task fails with Studio's error message and the job's URL.
- ``slow_job`` runs longer than its ``timeout``: at the deadline the Studio job is cancelled (no leaked
  compute) and the task fails.
- ``report_studio_failure``, the ``on_failure_callback``, names the Studio URL of the failed job (send
  it to your chat or pager instead of the log).
- ``summary`` runs whatever happened (``trigger_rule="all_done"``) and lists each job's Studio URL.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from studio_provider.operators.job import StudioRunJobOperator

JOBS = Path(__file__).resolve().parent / "studio_jobs"
TASKS = ("flaky_job", "bad_input_job", "slow_job")
log = logging.getLogger(__name__)


# --8<-- [start:callback]
def report_studio_failure(context: Any) -> None:
    """``on_failure_callback``: say which Studio object failed and where to look.

    The provider's task errors carry ``url``, ``remote_id`` and ``status`` of the Studio job.
    """
    error = context.get("exception")
    url = getattr(error, "url", None) or "(no Studio URL: the job was never created)"
    status = getattr(error, "status", None) or "unknown"
    log.error(
        "STUDIO FAILURE %s.%s: job status %s, see %s (%s)",
        context["ti"].dag_id,
        context["ti"].task_id,
        status,
        url,
        error,
    )


# --8<-- [end:callback]

with DAG(
    dag_id="studio_failure_handling",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["datachain-studio", "example"],
    doc_md=__doc__,
    default_args={"on_failure_callback": report_studio_failure, "deferrable": True, "poll_interval": 2},
) as dag:
    # --8<-- [start:retries]
    flaky = StudioRunJobOperator(
        task_id="flaky_job",
        query_file=str(JOBS / "flaky.py"),
        environment={"ATTEMPT": "{{ ti.try_number }}"},
        retries=2,
        retry_delay=timedelta(seconds=30),
    )
    # --8<-- [end:retries]

    bad_input = StudioRunJobOperator(task_id="bad_input_job", query_file=str(JOBS / "bad_input.py"))

    # --8<-- [start:timeout]
    slow = StudioRunJobOperator(
        task_id="slow_job",
        query_file=str(JOBS / "slow.py"),
        # An absolute deadline, kept across retries: the trigger reports it, the
        # job is cancelled, the task fails. (Airflow's execution_timeout does
        # not bound a deferred wait.)
        timeout=timedelta(seconds=20),
    )
    # --8<-- [end:timeout]

    @task(trigger_rule="all_done")
    def summary(ti: Any = None) -> dict[str, str | None]:
        """Each job's Studio URL (pushed before waiting, so failed tasks have one too)."""
        urls = {task_id: ti.xcom_pull(task_ids=task_id, key="job_url") for task_id in TASKS}
        for task_id, url in urls.items():
            print(f"{task_id}: {url}")
        return urls

    [flaky, bad_input, slow] >> summary()
