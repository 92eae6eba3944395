"""A DAG for the mapped-job DAG-run test (run with ``dag.test()`` against the emulator): one deferrable
Studio job per map index, each printing its own log lines."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator

MAP_SIZE = 3


def words(index: int) -> list[str]:
    """The log lines the job of map index ``index`` prints (one distinct word each)."""
    return [f"mapped{index}-{line}" for line in range(1, 4)]


with DAG("studio_job_mapped", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StudioRunJobOperator.partial(
        task_id="run_jobs",
        query="print('{{ ti.map_index }}')",
        query_name="mapped.py",
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
    ).expand(
        environment=[
            {
                "STUDIO_EMULATOR_EXECUTOR": "simulated",
                "STUDIO_EMULATOR_DURATION": "1",
                "STUDIO_EMULATOR_LOG_TEXT": "\\n".join(words(index)),
            }
            for index in range(MAP_SIZE)
        ]
    )
