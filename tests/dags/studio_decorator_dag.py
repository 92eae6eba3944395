"""A DAG for the ``@task.datachain_studio`` DAG-run test (``dag.test()`` against the emulator's local
executor, which runs the generated script as a real Python process)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG("studio_decorator", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task
    def pick_words() -> list[str]:
        return ["alpha", "beta", "gamma"]

    @task.datachain_studio(deferrable=True, poll_interval=0.5, timeout=120, environment={"GREETING": "hi"})
    def shout(words: list[str], repeat: int, run_id: str | None = None) -> dict[str, object]:
        """Print each word; return what the job saw."""
        import os

        for word in words * repeat:
            print(f"word-{word}")
        return {"count": len(words) * repeat, "job": os.environ["DATACHAIN_JOB_ID"], "run_id": run_id}

    shout(pick_words(), repeat=2)
