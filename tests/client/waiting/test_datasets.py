"""Waiting on datasets: version targets, the wait for a version (a result, never an exception) against
the emulator over real HTTP, and the watcher's new versions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from studio_provider.client import AsyncStudioClient
from studio_provider.client.dataset_info import DatasetInfo, DatasetVersionInfo
from studio_provider.client.datasets import DatasetRef
from studio_provider.client.waiting import DatasetWaitResult, Deadline, Verdict, VersionTarget, WaitEnd
from studio_provider.client.waiting.datasets import new_versions, wait_for_version
from studio_provider.emulator import EmulatorServer
from tests.dataset_helpers import config_for, run_writer

pytestmark = pytest.mark.integration


def info_of(*versions: tuple[str, int]) -> DatasetInfo:
    return DatasetInfo.from_dict(
        {
            "name": "ds",
            "project": {"name": "p", "namespace": {"name": "@n"}},
            "versions": [{"version": v, "status": s, "error_message": "boom"} for v, s in versions],
        }
    )


def test_version_targets() -> None:
    info = info_of(("1.0.0", 4), ("1.0.1", 3), ("1.1.0", 2))
    assert VersionTarget(version="v1.0.0").judge(info)[0] is Verdict.READY
    verdict, failed = VersionTarget(version="1.0.1").judge(info)
    assert verdict is Verdict.FAILED and failed is not None and failed.version == "1.0.1"
    assert VersionTarget(version="1.1.0").judge(info)[0] is Verdict.WAIT  # PENDING
    assert VersionTarget(version="2").judge(info)[0] is Verdict.WAIT  # not there yet
    # Newer than 1.0.0: 1.0.1 failed but 1.1.0 may still complete.
    assert VersionTarget(after_version="1.0.0").judge(info)[0] is Verdict.WAIT
    assert (
        VersionTarget(after_version="1.0.0").judge(info_of(("1.0.0", 4), ("1.0.1", 3)))[0] is Verdict.FAILED
    )
    ready = VersionTarget(min_version="1.0.0").judge(info_of(("1.0.0", 4), ("1.2.0", 4)))
    assert ready[0] is Verdict.READY and ready[1] is not None and ready[1].version == "1.2.0"
    assert VersionTarget().judge(None)[0] is Verdict.WAIT
    assert [v.version for v in new_versions(info_of(("1.0.0", 4), ("1.1.0", 4)), ["1.0.0"])] == ["1.1.0"]
    with pytest.raises(ValueError, match="min_version must be a version"):
        VersionTarget(min_version="latest")
    with pytest.raises(ValueError, match="mutually exclusive"):
        VersionTarget(version="1", min_version="1")


def test_version_info_round_trips() -> None:
    version = info_of(("1.0.0", 4)).versions[0]
    assert DatasetVersionInfo.from_dict(version.to_dict()) == version
    assert str(version.ref) == "@n.p.ds@v1.0.0"


def test_wait_for_a_version_a_later_job_writes(fresh_emulator: EmulatorServer) -> None:
    ref = DatasetRef.parse("@acme.zoo.birds")
    readings: list[Any] = []

    async def wait() -> DatasetWaitResult:
        async with AsyncStudioClient(config_for(fresh_emulator)) as studio:
            waiting = asyncio.ensure_future(
                wait_for_version(
                    studio,
                    ref,
                    VersionTarget(version="1.0.0"),
                    deadline=Deadline.after(60),
                    poll_interval=0.1,
                    on_change=readings.append,
                )
            )
            for _ in range(1500):  # until its first reading (bounded): the dataset is not there yet
                if readings:
                    break
                await asyncio.sleep(0.02)
            assert readings == [None] and not waiting.done()
            await asyncio.to_thread(run_writer, fresh_emulator, "@acme.zoo.birds", duration=0.5)
            return await waiting

    result = asyncio.run(wait())
    version = result.version_info
    assert result.verdict == Verdict.READY.value and version is not None and version.version == "1.0.0"
    assert readings[0] is None  # it waited while the dataset did not exist


def test_the_wait_ends_failed_for_a_failed_version_and_at_the_deadline(
    fresh_emulator: EmulatorServer,
) -> None:
    run_writer(fresh_emulator, "@acme.zoo.fish", exit_code=1)

    async def wait(target: VersionTarget, seconds: float) -> DatasetWaitResult:
        async with AsyncStudioClient(config_for(fresh_emulator)) as studio:
            ref = DatasetRef.parse("@acme.zoo.fish")
            return await wait_for_version(
                studio, ref, target, deadline=Deadline.after(seconds), poll_interval=0.1
            )

    result = asyncio.run(wait(VersionTarget(version="1.0.0"), 30))
    version = result.version_info
    assert result.verdict == Verdict.FAILED.value and version is not None and version.status == 3
    assert version.error_message and "did not complete" in version.error_message
    late = asyncio.run(wait(VersionTarget(version="9"), 0.5))
    assert late.end is WaitEnd.DEADLINE and "version 9.0.0 of Studio dataset" in late.message
