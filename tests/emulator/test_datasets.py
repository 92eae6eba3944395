"""The dataset convention, the dataset endpoints, the admin seed and msgpack ``ls``."""

from __future__ import annotations

import struct
from datetime import datetime

import httpx
import msgpack
import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.emulator.datasets import parse_directive, parse_ref
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_OTHER_TOKEN, EMULATOR_TEAM
from tests.emulator.helpers import client_for, create_job, simulated_job, wait_job

pytestmark = pytest.mark.integration


def info(client: httpx.Client, name: str, namespace: str = "@local", project: str = "default") -> httpx.Response:
    return client.get(
        "/datachain/datasets/info",
        params={"team_name": EMULATOR_TEAM, "namespace": namespace, "project": project, "name": name},
    )


def test_reference_forms() -> None:
    assert parse_ref("cats") == parse_ref("@local.default.cats")
    assert parse_ref("cats@v1.2.3").version == "1.2.3"
    qualified = parse_ref("@acme.vision.dogs@v2.0.0")
    assert (qualified.namespace, qualified.project, qualified.name, qualified.version) == ("@acme", "vision", "dogs", "2.0.0")
    assert parse_ref("cats@3").version == "3.0.0" and parse_ref("cats@v3.1").version == "3.1.0"
    assert parse_ref("some.dotted-name_1@v0.0.1").name == "some.dotted-name_1"
    hostile = "cats@v" + "9" * 5000  # int() of 5,000 digits would raise a ValueError of its own, or cost time
    for bad in ("", "@a.b", "@a.b.c.d", "@a..c", "@a.b c.d", "name@vX", "bad name", "cats@v1.2.3.4", "cats@", hostile):
        with pytest.raises(ValueError, match="invalid dataset"):
            parse_ref(bad)
    directive = parse_directive("::dataset-write cats num_objects=5 size=100\n")
    assert directive is not None and (directive.action, directive.num_objects, directive.size) == ("write", 5, 100)
    assert parse_directive("just output") is None


def test_a_job_declares_what_it_wrote_and_read(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator) as client:
        writer = create_job(
            client, EMULATOR_TEAM,
            "print('::dataset-write conv-photos num_objects=12 size=3456')\n"
            "print('::dataset-write @acme.vision.conv-labels@v2.1.0')\n",
        )
        assert wait_job(client, EMULATOR_TEAM, writer["id"])["status"] == "COMPLETE"
        second = create_job(client, EMULATOR_TEAM, "print('::dataset-read conv-photos')\nprint('::dataset-write conv-photos')\n")
        assert wait_job(client, EMULATOR_TEAM, second["id"])["status"] == "COMPLETE"

        photos = info(client, "conv-photos")
        assert photos.status_code == 200
        versions = photos.json()["versions"]
        assert [(item["version"], item["status"], item["job_id"]) for item in versions] == [
            ("1.0.0", 4, writer["id"]),
            ("1.0.1", 4, second["id"]),
        ]
        assert (versions[0]["num_objects"], versions[0]["size"]) == (12, 3456)
        assert photos.json()["project"]["namespace"]["name"] == "@local"
        # The namespace may be given without its "@".
        labels = info(client, "conv-labels", namespace="acme", project="vision")
        assert labels.status_code == 200 and labels.json()["versions"][0]["version"] == "2.1.0"

        produced = client.get(
            "/datachain/datasets/dataset_job_versions", params={"team_name": EMULATOR_TEAM, "job_id": writer["id"]}
        ).json()
        pairs = {(item["dataset_name"], item["version"]) for item in produced["dataset_versions"]}
        assert pairs == {("conv-photos", "1.0.0"), ("conv-labels", "2.1.0")}

        listed = client.get("/datachain/datasets", params={"team_name": EMULATOR_TEAM, "prefix": "conv-"}).json()
        assert {item["name"] for item in listed} == {"conv-photos", "conv-labels"}
        assert studio_emulator.state.jobs[second["id"]].reads == [
            {"dataset": "@local.default.conv-photos", "version": "1.0.0", "job_id": writer["id"]}
        ]
    with client_for(studio_emulator, EMULATOR_OTHER_TOKEN) as other:
        theirs = other.get("/datachain/datasets", params={"team_name": EMULATOR_OTHER_TEAM, "prefix": "conv-"}).json()
        assert theirs == []


def test_versions_of_a_failed_job_are_failed(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, "print('::dataset-write broken-ds')\nraise SystemExit(1)\n")
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "FAILED"
        assert info(client, "broken-ds").json()["versions"][0]["status"] == 3


def test_unknown_dataset_and_missing_parameters(emulator_client: httpx.Client) -> None:
    assert info(emulator_client, "no-such-dataset").status_code == 404
    missing = emulator_client.get("/datachain/datasets/dataset_job_versions", params={"team_name": EMULATOR_TEAM})
    assert missing.status_code == 400
    unknown_job = emulator_client.get(
        "/datachain/datasets/dataset_job_versions", params={"team_name": EMULATOR_TEAM, "job_id": "nope"}
    )
    assert unknown_job.status_code == 404


def test_simulated_writes(emulator_client: httpx.Client) -> None:
    job = simulated_job(emulator_client, EMULATOR_TEAM, duration=0.05, writes="sim-a,sim-b@v3.0.0")
    wait_job(emulator_client, EMULATOR_TEAM, job["id"])
    assert info(emulator_client, "sim-b").json()["versions"][0]["version"] == "3.0.0"
    assert info(emulator_client, "sim-a").json()["versions"][0]["job_id"] == job["id"]


def test_admin_seed_dataset(studio_emulator: EmulatorServer, emulator_client: httpx.Client) -> None:
    response = httpx.post(
        f"{studio_emulator.url}/_emulator/datasets",
        json={"name": "seeded", "version": "1.4.0", "num_objects": 9, "team_name": EMULATOR_TEAM},
        headers=studio_emulator.headers(),
    )
    assert response.status_code == 200, response.text
    versions = info(emulator_client, "seeded").json()["versions"]
    assert [(item["version"], item["status"], item["num_objects"], item["job_id"]) for item in versions] == [
        ("1.4.0", 4, 9, None)
    ]


def _ext_hook(code: int, data: bytes) -> object:
    # The official client's decoding of extension type 42, written from the protocol note.
    assert code == 42
    if len(data) == 8:
        return datetime.fromtimestamp(struct.unpack("!d", data)[0])
    timestamp, _offset = struct.unpack("!dl", data)
    return datetime.fromtimestamp(timestamp).astimezone()


def test_ls_is_msgpack_with_datetime_extension(studio_emulator: EmulatorServer) -> None:
    headers = studio_emulator.headers()
    for key in ("photos/a.jpg", "photos/b.jpg", "photos/sub/c.jpg"):
        seeded = httpx.post(
            f"{studio_emulator.url}/_emulator/storage",
            json={"source": f"s3://ls-bucket/{key}", "content": "x" * 10, "team_name": EMULATOR_TEAM},
            headers=headers,
        )
        assert seeded.status_code == 200
    response = httpx.post(
        f"{studio_emulator.api_url}/datachain/ls",
        json={"source": "s3://ls-bucket/photos", "team_name": EMULATOR_TEAM},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/msgpack")
    content = msgpack.unpackb(response.content, ext_hook=_ext_hook)
    entries = {entry["name"]: entry for entry in content["data"]}
    assert set(entries) == {"a.jpg", "b.jpg", "sub"}
    assert (entries["a.jpg"]["dir_type"], entries["a.jpg"]["size"]) == (0, 10)
    assert entries["sub"]["dir_type"] == 1
    assert entries["a.jpg"]["path_str"] == "s3://ls-bucket/photos/a.jpg"
    assert isinstance(entries["a.jpg"]["last_modified"], datetime)

    missing = httpx.post(
        f"{studio_emulator.api_url}/datachain/ls",
        json={"source": "s3://ls-bucket/nothing", "team_name": EMULATOR_TEAM},
        headers=headers,
    )
    assert missing.status_code == 404
    # Errors on ls are msgpack too: the official client decodes every ls body as msgpack.
    assert msgpack.unpackb(missing.content)["message"]
    escape = httpx.post(
        f"{studio_emulator.api_url}/datachain/ls",
        json={"source": "s3://ls-bucket/../../..", "team_name": EMULATOR_TEAM},
        headers=headers,
    )
    assert escape.status_code == 400
