"""Studio pipeline schedules kept in sync from code.

The schedules below are the source of truth. Each run of this DAG finds (or creates, once) the Studio
pipeline that rebuilds ``city_stats`` and brings every declared schedule to its declaration: created
when missing, updated only where it differs, left alone when it matches. Running it twice changes
nothing the second time; the task log says what it did. Trigger it after changing the declarations
(or let it run daily to undo hand edits in Studio).

In Studio each schedule's name carries this DAG's marker (``city-stats-nightly [airflow:…]``): the sync
changes only schedules this DAG created with its connection's token, and fails naming any other schedule
of a declared name instead of touching it (see docs/schedules.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from studio_provider.client.lookups import definitions_from
from studio_provider.hooks.studio import StudioHook
from studio_provider.operators.schedule import StudioSyncScheduleOperator

# --8<-- [start:declarations]
#: The declared schedules of the city_stats pipeline, keyed by schedule name.
SCHEDULES = {
    "city-stats-nightly": {"cron_expression": "0 2 * * *", "paused": False},
    # kept, not firing
    "city-stats-weekly-full": {"cron_expression": "30 3 * * 0", "paused": True},
}
# --8<-- [end:declarations]
DATASETS = ["city_stats"]

with DAG(
    dag_id="studio_schedules",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["datachain-studio", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def pipeline_for_datasets() -> str:
        """The name of the pipeline definition that rebuilds ``DATASETS``: the newest existing one, else a
        new one (Studio builds it from the datasets' lineage)."""
        hook = StudioHook()
        existing = definitions_from(hook, DATASETS)
        definition = existing[0] if existing else hook.trigger_pipeline(datasets=DATASETS)
        print(f"pipeline {definition.name} ({definition.pipeline_id}) rebuilds {', '.join(DATASETS)}")
        return str(definition.name)

    pipeline_name = pipeline_for_datasets()

    # --8<-- [start:sync]
    for schedule_name, declared in SCHEDULES.items():
        pipeline_name >> StudioSyncScheduleOperator(
            task_id=f"sync_{schedule_name.replace('-', '_')}",
            schedule_name=schedule_name,
            pipeline_name="{{ ti.xcom_pull(task_ids='pipeline_for_datasets') }}",
            cron_expression=declared["cron_expression"],
            paused=declared["paused"],
        )
    # --8<-- [end:sync]
