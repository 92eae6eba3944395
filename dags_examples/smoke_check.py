"""`make demo` for now: a Studio job driven through StudioHook against the local Studio emulator.

It starts the emulator on a free loopback port, points the default `datachain_studio` connection at it
(as an AIRFLOW_CONN_ variable, the way a deployment would), then uploads a file, submits a Python job that
reads it and declares a dataset, waits for the job, and prints its logs and the dataset it produced.
Exits non-zero when anything is off.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="studio-demo-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from studio_provider.emulator.config import EmulatorConfig
from studio_provider.emulator.server import EmulatorServer

TOKEN = "demo-token-0123456789"
TEAM = "demo-team"
JOB = """\
from pathlib import Path
rows = Path("cities.csv").read_text().splitlines()[1:]
print(f"read {len(rows)} cities")
for row in rows:
    print("  ", row)
print(f"::dataset-write cities num_objects={len(rows)}")
"""


def main() -> int:
    config = EmulatorConfig(tokens={TOKEN: [TEAM]}, executor="local")
    with EmulatorServer(config) as emulator:
        os.environ["AIRFLOW_CONN_DATACHAIN_STUDIO_DEFAULT"] = json.dumps(
            {"conn_type": "datachain_studio", "host": emulator.url, "password": TOKEN, "extra": {"team": TEAM}}
        )
        from studio_provider.hooks.studio import StudioHook

        hook = StudioHook()
        print(f"Studio emulator at {emulator.url}; connection test: {hook.test_connection()[1]}")

        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "cities.csv"
            csv.write_text("name,country\nPrague,CZ\nLisbon,PT\nOsaka,JP\n")
            uploaded = hook.upload_file(file=csv)
        job = hook.create_job(query=JOB, query_type="PYTHON", query_name="cities.py", files=[uploaded.id])
        print(f"submitted job {job.id} ({job.status.value})")

        deadline = time.monotonic() + 60
        while not job.status.is_terminal and time.monotonic() < deadline:
            time.sleep(0.5)
            job = hook.get_job(job_id=job.id)
        print(f"job {job.id} finished: {job.status.value} (exit code {job.exit_code})")
        for line in hook.get_job_logs(job_id=job.id):
            print(f"  [studio] {line.message}", end="" if line.message.endswith("\n") else "\n")
        produced = hook.get_dataset_job_versions(job_id=job.id)
        print("datasets produced:", ", ".join(f"{d.dataset_name}@v{d.version}" for d in produced) or "none")
        hook.close()
        ok = job.status.is_success and [d.dataset_name for d in produced] == ["cities"]
    print("demo OK" if ok else "demo FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
