"""The ETL chain written with TaskFlow: ``@task.datachain_studio`` runs a Python function as a Studio job.

The decorated function's source, called with its arguments as JSON literals, is the job's script, so
the function must be self-contained: imports inside it, no closures or module-level names. Arguments
may come from other tasks (XCom); what the function returns comes back as the task's XCom value.
Everything else is ``StudioRunJobOperator``'s: one Studio job per task, deferred waiting with the
job's log lines in the task log, the deadline, the "DataChain Studio Job" link.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task

from studio_provider.assets import studio_datasets_alias


# --8<-- [start:dag]
@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["datachain-studio", "example"],
    doc_md=__doc__,
)
def studio_taskflow() -> None:
    @task
    def cities() -> list[dict[str, Any]]:
        """An ordinary Airflow task: where the rows come from (a config file, an API, ...)."""
        return [
            {"name": "Prague", "country": "CZ", "population": 1357326},
            {"name": "Lisbon", "country": "PT", "population": 545796},
            {"name": "Osaka", "country": "JP", "population": 2752412},
            {"name": "Porto", "country": "PT", "population": 231962},
        ]

    # --8<-- [start:studio_task]
    @task.datachain_studio(
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
        environment={"STAGE": "example"},
        outlets=[studio_datasets_alias()],
    )
    def load_cities(rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Runs in Studio. On Studio: ``dc.read_values(...).save("city_populations")``."""
        import os

        for row in rows:
            print(f"load: {row['name']} ({row['country']})")
        print(f"::dataset-write city_populations num_objects={len(rows)}")
        return {"rows": len(rows), "stage": os.environ["STAGE"], "job": os.environ.get("DATACHAIN_JOB_ID")}

    # --8<-- [end:studio_task]

    @task.datachain_studio(deferrable=True, poll_interval=2, outlets=[studio_datasets_alias()])
    def country_totals(rows: list[dict[str, Any]], loaded: dict[str, Any]) -> dict[str, int]:
        """Runs in Studio: reads city_populations, saves the totals per country."""
        from collections import Counter

        print("::dataset-read city_populations")
        totals = Counter()
        for row in rows:
            totals[row["country"]] += row["population"]
        print(f"totals over {loaded['rows']} rows: {dict(totals)}")
        print(f"::dataset-write country_totals num_objects={len(totals)}")
        return dict(totals)

    @task
    def report(totals: dict[str, int], ti: Any = None) -> None:
        """Back in Airflow: the Studio job's return value and its URL, from XCom."""
        print(f"largest country: {max(totals, key=totals.__getitem__)}")
        print(f"Studio job: {ti.xcom_pull(task_ids='country_totals', key='job_url')}")

    rows = cities()
    report(country_totals(rows, load_cities(rows)))


studio_taskflow()
# --8<-- [end:dag]
