"""The DAG files the multi-process Airflow scenarios write into their temporary DAGs folder.

Each Studio job task prints distinct words (``<task>-w01`` ...) spread over its run, so a test can find
every line of its job in the task log and count how often each was written.
"""

from __future__ import annotations

from pathlib import Path

RESTART_DAG_ID = "reliability_triggerer_restart"
WORKER_DAG_ID = "reliability_worker_crash"
KILL_DAG_ID = "reliability_mark_failed"

#: Job tasks of the restart DAG, and how many words each job prints.
RESTART_JOB_TASKS = ("job_a", "job_b", "job_c", "job_d")
WORDS_PER_JOB = 8
PIPELINE_TASK = "pipeline"
PIPELINE_DATASET = "af-features"
JOB_SECONDS = 16  # long enough for a log checkpoint (every 5 s) before the kill
WORKER_JOB_SECONDS = 20


def words(task_id: str, count: int = WORDS_PER_JOB) -> list[str]:
    return [f"{task_id}-w{i:02d}" for i in range(1, count + 1)]


RESTART_DAG = '''
from __future__ import annotations

from pathlib import Path

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator
from studio_provider.operators.pipeline import StudioTriggerPipelineOperator


def environment(task_id, duration):
    words = "\\\\n".join(f"{{task_id}}-w{{i:02d}}" for i in range(1, {words_per_job} + 1))
    return {{
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": str(duration),
        "STUDIO_EMULATOR_LOG_TEXT": words,
    }}


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    for task_id in {job_tasks!r}:
        StudioRunJobOperator(
            task_id=task_id,
            query="print('reliability')",
            query_name=task_id + ".py",
            environment=environment(task_id, {duration}),
            deferrable=True,
            poll_interval=0.5,
            timeout=600,
            retries=0,
        )
    StudioTriggerPipelineOperator(
        task_id="{pipeline_task}",
        datasets=[{pipeline_dataset!r}],
        deferrable=True,
        poll_interval=0.5,
        stream_logs=True,
        timeout=600,
        retries=0,
    )
'''

WORKER_DAG = '''
from __future__ import annotations

from pathlib import Path

from datetime import datetime, timedelta

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StudioRunJobOperator(
        task_id="on_worker",
        query="print('worker')",
        query_name="on_worker.py",
        environment={{
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": "{duration}",
            "STUDIO_EMULATOR_LOG_TEXT": "\\\\n".join(f"on_worker-w{{i:02d}}" for i in range(1, 9)),
        }},
        deferrable=False,
        poll_interval=0.5,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
'''

KILL_DAG = '''
from __future__ import annotations

from pathlib import Path

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    StudioRunJobOperator(
        task_id="deferred",
        query="print('deferred')",
        query_name="deferred.py",
        environment={{
            "STUDIO_EMULATOR_EXECUTOR": "simulated",
            "STUDIO_EMULATOR_DURATION": "300",
            "STUDIO_EMULATOR_LOG_TEXT": "deferred-w01",
        }},
        deferrable=True,
        poll_interval=0.5,
        timeout=600,
        retries=0,
    )
'''


def write_dags(folder: Path) -> None:
    """Write the suite's DAG files into ``folder``."""
    (folder / "restart.py").write_text(
        RESTART_DAG.format(
            dag_id=RESTART_DAG_ID,
            words_per_job=WORDS_PER_JOB,
            job_tasks=RESTART_JOB_TASKS,
            duration=JOB_SECONDS,
            pipeline_task=PIPELINE_TASK,
            pipeline_dataset=PIPELINE_DATASET,
        )
    )
    (folder / "worker.py").write_text(WORKER_DAG.format(dag_id=WORKER_DAG_ID, duration=WORKER_JOB_SECONDS))
    (folder / "kill.py").write_text(KILL_DAG.format(dag_id=KILL_DAG_ID))


# ---- the production-shaped scenarios (check_production.py) ----------------------------------------------

LOST_DAG_ID = "reliability_lost_creates"
#: The worker-crash DAG with a job long enough to outlive the scheduler's notice of the dead worker (a
#: 20 s heartbeat timeout, then the retry's scheduling): the retry reconnects to a running job.
WORKER_LONG_DAG_ID = "reliability_worker_crash_long"
WORKER_LONG_JOB_SECONDS = 75
OUTAGE_DAG_ID = "reliability_outage"
#: Deferrable job tasks of the lost-responses DAG, and of the outage DAG (half of them poll).
LOST_TASKS = tuple(f"lost_{i:02d}" for i in range(20))
OUTAGE_TASKS = tuple(f"outage_{i:02d}" for i in range(8))
LOST_WORDS = 4
OUTAGE_WORDS = 10
OUTAGE_JOB_SECONDS = 60

JOBS_DAG = '''
from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from studio_provider.operators.job import StudioRunJobOperator


def environment(task_id, duration):
    words = "\\\\n".join(f"{{task_id}}-w{{i:02d}}" for i in range(1, {words} + 1))
    return {{
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": str(duration),
        "STUDIO_EMULATOR_LOG_TEXT": words,
    }}


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
         max_active_tasks=64) as dag:
    for index, task_id in enumerate({tasks!r}):
        StudioRunJobOperator(
            task_id=task_id,
            query="print('reliability')",
            query_name=task_id + ".py",
            environment=environment(task_id, {duration}),
            deferrable=True,
            use_websocket={websocket},
            poll_interval=1.0,
            timeout=900,
            retries=0,
        )
'''


def write_production_dags(folder: Path) -> None:
    """The suite's DAG files plus the production scenarios' (lost creates, outage)."""
    write_dags(folder)
    (folder / "worker_long.py").write_text(WORKER_DAG.format(dag_id=WORKER_LONG_DAG_ID, duration=WORKER_LONG_JOB_SECONDS))
    (folder / "lost.py").write_text(
        JOBS_DAG.format(dag_id=LOST_DAG_ID, words=LOST_WORDS, tasks=LOST_TASKS, duration=3, websocket="True")
    )
    (folder / "outage.py").write_text(
        JOBS_DAG.format(
            dag_id=OUTAGE_DAG_ID, words=OUTAGE_WORDS, tasks=OUTAGE_TASKS, duration=OUTAGE_JOB_SECONDS,
            websocket="index % 2 == 0",
        )
    )
