"""Studio job that fails on its first Airflow try and succeeds on the next (a stand-in for a flaky
source). ``ATTEMPT`` is the Airflow try number, passed in the job's environment."""

import os
import sys

attempt = int(os.environ.get("ATTEMPT", "1"))
print(f"flaky: Airflow try {attempt}")
if attempt < 2:
    sys.exit("flaky: the source was not ready (this try fails on purpose)")
print("flaky: the source answered; done")
