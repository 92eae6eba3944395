"""Dataset lookups against the emulator over real HTTP: by full reference and plain name, the latest
version, the versions a job produced (with namespace and project), and clear errors for bad references
before any request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from studio_provider.client import StudioClient, StudioError
from studio_provider.client.datasets import DatasetRef
from studio_provider.client.lookups import dataset_ref, find_dataset, latest_version, produced_versions
from studio_provider.emulator import EmulatorServer
from tests.dataset_helpers import config_for, run_writer, seed

pytestmark = pytest.mark.integration


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
