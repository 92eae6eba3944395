"""DAGs for the provider's DAG-run tests (run with ``dag.test()`` against the emulator)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator

WORDS = [f"dagline-{i:02d}" for i in range(1, 7)]
ENVIRONMENT = {
    "STUDIO_EMULATOR_EXECUTOR": "simulated",
    "STUDIO_EMULATOR_DURATION": "1",
    "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(WORDS),
}

with DAG("studio_job_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StudioRunJobOperator(
        task_id="run_job",
        query="print('{{ dag_run.run_id }}')",
        query_name="dag_job.py",
        environment=ENVIRONMENT,
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
    )

with DAG("studio_job_bad_input", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as bad_input_dag:
    # Fails at the start of execute, before any request: no job, so no job_url XCom for its link.
    StudioRunJobOperator(task_id="missing_script", query_file="no-such-script.py", deferrable=True)

#: The run-date template of docs/jobs.md: a manual run has no logical date, so no ``{{ ds }}``.
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG("studio_job_run_date", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as run_date_dag:
    StudioRunJobOperator(
        task_id="dated_job",
        query="print('dated')",
        environment={"STUDIO_EMULATOR_EXECUTOR": "simulated", "STUDIO_EMULATOR_DURATION": "0.1", "RUN_DATE": RUN_DATE},
        deferrable=False,
        poll_interval=0.2,
        timeout=60,
    )
    StudioRunJobOperator(
        task_id="ds_job",
        query="print('ds')",
        environment={"STUDIO_EMULATOR_EXECUTOR": "simulated", "STUDIO_EMULATOR_DURATION": "0.1", "RUN_DATE": "{{ ds }}"},
        deferrable=False,
        poll_interval=0.2,
        timeout=60,
    )
