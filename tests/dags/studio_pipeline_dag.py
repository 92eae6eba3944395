"""A DAG for the pipeline DAG-run test (run with ``dag.test()`` against the emulator): trigger and run a
pipeline deferred, then check it with a deferred sensor addressed through XCom."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.pipeline import StudioTriggerPipelineOperator
from studio_provider.sensors.pipeline import StudioPipelineSensor

with DAG("studio_pipeline_deferrable", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    run = StudioTriggerPipelineOperator(
        task_id="run_pipeline",
        datasets=["features", "stats"],
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
        stream_logs=True,
    )
    check = StudioPipelineSensor(
        task_id="check_pipeline",
        pipeline_id="{{ ti.xcom_pull(task_ids='run_pipeline', key='pipeline_id') }}",
        deferrable=True,
        poll_interval=0.5,
        timeout=60,
    )
    run >> check
