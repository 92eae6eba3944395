"""Studio job that runs far longer than the task allows: the task's deadline cancels it."""

import time

print("slow: starting a long computation", flush=True)
for minute in range(60):
    print(f"slow: minute {minute}", flush=True)
    time.sleep(60)
