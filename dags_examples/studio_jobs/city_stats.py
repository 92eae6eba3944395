"""Studio job: read the ``cities`` dataset and save population totals per country as ``city_stats``.

``INPUT_DATASET`` names the version to read (``cities@v1.0.0``, passed by Airflow from the first job's
XCom), or just ``cities`` for the newest version. On Studio the read is ``dc.read_dataset(name,
version=...)``; the emulator has no rows to hand out, so the uploaded ``cities.csv`` stands in for them
and a ``::dataset-read`` line records the lineage.
"""

import csv
import os
from collections import Counter
from pathlib import Path

source = os.environ.get("INPUT_DATASET") or "cities"
print(f"::dataset-read {source}")
totals: Counter[str] = Counter()
with Path("cities.csv").open(encoding="utf-8") as rows:
    for row in csv.DictReader(rows):
        totals[row["country"]] += int(row["population"])
print(f"city_stats: read {source}; population by country:")
for country, population in totals.most_common():
    print(f"city_stats:   {country}  {population:>10,}")
print(f"::dataset-write city_stats num_objects={len(totals)}")
