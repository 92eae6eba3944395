"""Dataset conveniences against the emulator over real HTTP: lookups by full reference and plain name, the
latest version, the versions a job produced (with namespace and project), version targets, the wait, and
clear errors for bad references before any request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from studio_provider.client import AsyncStudioClient, StudioClient, StudioConfig, StudioError
from studio_provider.client.dataset_wait import (
    DatasetInfo,
    DatasetVersionInfo,
    Verdict,
    VersionTarget,
    dataset_ref,
    find_dataset,
    latest_version,
    new_versions,
    produced_versions,
    wait_for_version,
)
from studio_provider.client.datasets import DatasetRef
from studio_provider.client.errors import StudioDeadlineExceeded
from studio_provider.client.wait import Deadline
from studio_provider.emulator import EmulatorServer
from tests.emulator.helpers import client_for, create_job, wait_job

pytestmark = pytest.mark.integration


def seed(server: EmulatorServer, name: str, version: str | None = None, **fields: Any) -> dict[str, Any]:
    """A COMPLETE dataset version, through the emulator's admin API."""
    body = {"name": name, "team_name": server.team, **fields}
    if version:
        body["version"] = version
    response = httpx.post(f"{server.url}/_emulator/datasets", json=body, headers=server.headers(), timeout=15)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def run_writer(server: EmulatorServer, writes: str, *, exit_code: int = 0, duration: float = 0.05) -> str:
    """A simulated job that writes ``writes``; waits for it to end and returns its id."""
    env = {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": duration,
        "STUDIO_EMULATOR_WRITES": writes,
        "STUDIO_EMULATOR_EXIT_CODE": exit_code,
    }
    with client_for(server) as client:
        job = create_job(
            client, server.team, "print(1)", environment="\n".join(f"{k}={v}" for k, v in env.items())
        )
        wait_job(client, server.team, job["id"])
    return str(job["id"])


def start_writer(server: EmulatorServer, writes: str, duration: float = 1.0, **env: Any) -> str:
    """A simulated job that writes ``writes`` and ends ``duration`` seconds later (not awaited)."""
    values = {
        "STUDIO_EMULATOR_EXECUTOR": "simulated",
        "STUDIO_EMULATOR_DURATION": duration,
        "STUDIO_EMULATOR_WRITES": writes,
        **env,
    }
    with client_for(server) as client:
        environment = "\n".join(f"{k}={v}" for k, v in values.items())
        return str(create_job(client, server.team, "print(1)", environment=environment)["id"])


def config_for(server: EmulatorServer) -> StudioConfig:
    return StudioConfig.resolve(url=server.url, token=server.token, team=server.team, environ={})


@pytest.fixture
def client(fresh_emulator: EmulatorServer) -> Iterator[StudioClient]:
    with StudioClient(config_for(fresh_emulator)) as studio:
        yield studio


def test_find_by_full_reference_and_plain_name(fresh_emulator: EmulatorServer, client: StudioClient) -> None:
    seed(fresh_emulator, "@acme.vision.thumbs", "1.0.0", num_objects=3, size=30)
    seed(fresh_emulator, "@acme.vision.thumbs", "1.2.0")
    seed(fresh_emulator, "@acme.vision.thumbs", "1.10.0")

    info = find_dataset(client, DatasetRef.parse("@acme.vision.thumbs"))
    assert info is not None and (info.namespace, info.project, info.name) == ("acme", "vision", "thumbs")
    assert [v.version for v in info.versions] == ["1.0.0", "1.2.0", "1.10.0"]  # ordered as versions
    assert info.versions[0].num_objects == 3 and info.versions[0].size == 30 and info.versions[0].status == 4
    assert find_dataset(client, DatasetRef.parse("thumbs")) == info  # a plain name, unambiguous
    latest = latest_version(client, DatasetRef.parse("@acme.vision.thumbs"))
    assert latest is not None and latest.version == "1.10.0"
    assert find_dataset(client, DatasetRef.parse("@acme.vision.nothing")) is None
    assert find_dataset(client, DatasetRef.parse("nothing")) is None


def test_an_ambiguous_plain_name_is_an_error(fresh_emulator: EmulatorServer, client: StudioClient) -> None:
    seed(fresh_emulator, "@acme.vision.dup")
    seed(fresh_emulator, "@acme.audio.dup")
    with pytest.raises(StudioError, match=r"ambiguous .*@acme.audio.dup.*@acme.vision.dup"):
        find_dataset(client, DatasetRef.parse("dup"))


def test_produced_versions_carry_namespace_project_and_status(
    fresh_emulator: EmulatorServer, client: StudioClient
) -> None:
    # Another dataset of the same name elsewhere must not be mistaken for the job's.
    seed(fresh_emulator, "@other.place.cats", "1.0.1")
    job_id = run_writer(fresh_emulator, "@acme.zoo.cats@v1.0.1,@acme.zoo.dogs")
    produced = produced_versions(client, job_id)
    assert [(v.namespace, v.project, v.name, v.version, v.status, v.job_id) for v in produced] == [
        ("acme", "zoo", "cats", "1.0.1", 4, job_id),
        ("acme", "zoo", "dogs", "1.0.0", 4, job_id),
    ]


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

    async def wait() -> tuple[Verdict, DatasetVersionInfo | None]:
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
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await asyncio.to_thread(run_writer, fresh_emulator, "@acme.zoo.birds", duration=0.5)
            return await waiting

    verdict, version = asyncio.run(wait())
    assert verdict is Verdict.READY and version is not None and version.version == "1.0.0"
    assert readings[0] is None  # it waited while the dataset did not exist


def test_the_wait_ends_failed_for_a_failed_version_and_at_the_deadline(
    fresh_emulator: EmulatorServer,
) -> None:
    run_writer(fresh_emulator, "@acme.zoo.fish", exit_code=1)

    async def wait(target: VersionTarget, seconds: float) -> tuple[Verdict, DatasetVersionInfo | None]:
        async with AsyncStudioClient(config_for(fresh_emulator)) as studio:
            ref = DatasetRef.parse("@acme.zoo.fish")
            return await wait_for_version(
                studio, ref, target, deadline=Deadline.after(seconds), poll_interval=0.1
            )

    verdict, version = asyncio.run(wait(VersionTarget(version="1.0.0"), 30))
    assert verdict is Verdict.FAILED and version is not None and version.status == 3
    assert version.error_message and "did not complete" in version.error_message
    with pytest.raises(StudioDeadlineExceeded, match=r"version 9\.0\.0 of Studio dataset"):
        asyncio.run(wait(VersionTarget(version="9"), 0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "my cats"}, "dataset: invalid dataset reference"),
        ({"dataset": "@acme.cats"}, "expected @namespace.project.name"),
        ({"dataset": "cats@v1.x"}, "invalid dataset version"),
        ({"dataset": "cats", "name": "cats"}, "not both"),
        ({}, "Pass the dataset"),
        ({"name": "cats", "namespace": "acme"}, "namespace and project together"),
        ({"name": "cats", "namespace": "a.b", "project": "p"}, "without dots"),
        ({"dataset": "@a.b.cats", "namespace": "x", "project": "b"}, "pass one of them"),
        ({"dataset": 42}, "must be a dataset reference string"),
    ],
)
def test_bad_references_fail_before_any_request(
    fresh_emulator: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    before = len(fresh_emulator.injector.requests())
    with pytest.raises(ValueError, match=message):
        dataset_ref(**kwargs)
    assert len(fresh_emulator.injector.requests()) == before


def test_reference_parts_make_one_reference() -> None:
    assert dataset_ref(name="cats", namespace="@acme", project="zoo") == DatasetRef.parse("@acme.zoo.cats")
    assert dataset_ref("cats@v2", namespace="acme", project="zoo") == DatasetRef.parse("@acme.zoo.cats@v2")
