"""Studio job: load the uploaded ``cities.csv`` and save it as the ``cities`` dataset.

On DataChain Studio this is ``dc.read_csv("cities.csv").save("cities")``. The local emulator keeps
dataset metadata, not rows, and learns what a job wrote from a ``::dataset-write`` line on stdout
(docs/emulator.md), so the script prints one.
"""

import csv
import os
from pathlib import Path

with Path("cities.csv").open(encoding="utf-8") as source:
    rows = list(csv.DictReader(source))
run_id = os.environ.get("AIRFLOW_RUN_ID", "-")
print(f"extract: read {len(rows)} cities from cities.csv (Airflow run {run_id})")
for row in rows:
    print(f"extract:   {row['name']:<8} {row['country']}  {int(row['population']):>9,}")
print(f"::dataset-write cities num_objects={len(rows)}")
