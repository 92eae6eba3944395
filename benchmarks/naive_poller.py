"""The reference design the wait benchmark compares against: a naive status poller.

It waits the way several comparable providers' triggers do: every ``interval`` seconds it opens a new
``httpx.AsyncClient`` (a new connection and TLS handshake), reads the job's status once, closes the client,
and sleeps. It is written for the benchmark only and is not part of the provider.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

# The job statuses after which nothing changes (studio-protocol.md).
TERMINAL = frozenset({"COMPLETE", "FAILED", "CANCELED", "TASK"})


async def naive_wait(
    api_url: str, token: str, team: str, job_id: str, *, interval: float, verify: Any
) -> dict[str, Any]:
    """Poll ``job_id`` until it is terminal, with a new HTTP client per poll; return the final event.

    :param api_url: the Studio API base (``https://host/api``).
    :param token: the Studio token.
    :param team: the team.
    :param job_id: the job to wait for.
    :param interval: seconds between polls.
    :param verify: httpx's ``verify`` (a CA bundle path for the benchmark's self-signed server).
    """
    while True:
        try:
            async with httpx.AsyncClient(
                base_url=api_url, headers={"Authorization": f"Bearer {token}"}, verify=verify, timeout=30
            ) as client:
                response = await client.get(
                    "datachain/jobs/", params={"job_id": job_id, "team_name": team, "limit": 1}
                )
            response.raise_for_status()
            job = response.json()[0]
            status = str(job.get("status"))
            if status in TERMINAL:
                return {"status": status, "job_id": job_id, "time": time.time()}
        except (httpx.HTTPError, ValueError, IndexError):
            pass  # like the comparable providers' triggers, try again at the next interval
        await asyncio.sleep(interval)
