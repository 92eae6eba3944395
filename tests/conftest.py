"""Shared fixtures: an isolated Airflow home, and the local Studio emulator.

Airflow reads its configuration when it is first imported, so the environment is set here, at the top,
before any test module imports ``airflow``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="studio-provider-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags_examples")
# The provider's environment fallback must not pick up a developer's real Studio settings.
for _name in ("DATACHAIN_STUDIO_TOKEN", "DATACHAIN_STUDIO_TEAM", "DATACHAIN_STUDIO_URL"):
    os.environ.pop(_name, None)

# ---- emulator fixtures (below) ----
