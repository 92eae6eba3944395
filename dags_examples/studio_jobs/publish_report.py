"""Studio job: publish a report of one ``city_stats`` version (``VERSION``; empty: the newest)."""

import os

dataset = os.environ.get("DATASET", "city_stats")
version = os.environ.get("VERSION", "")
reference = f"{dataset}@v{version}" if version else dataset
print(f"::dataset-read {reference}")
print(f"publish: report of {reference} published")
