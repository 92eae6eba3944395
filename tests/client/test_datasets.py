"""Dataset references: the one grammar shared by the client's checks and the emulator."""

from __future__ import annotations

import pytest

from studio_provider.client.datasets import DatasetRef, normalize_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cats", DatasetRef("cats")),
        ("cats@v1.2.3", DatasetRef("cats", version="1.2.3")),
        ("cats@v2", DatasetRef("cats", version="2.0.0")),
        ("@acme.vision.dogs", DatasetRef("dogs", "@acme", "vision")),
        ("@acme.vision.dogs@v1.0.0", DatasetRef("dogs", "@acme", "vision", "1.0.0")),
        ("  my-data_set.v2  ", DatasetRef("my-data_set.v2")),
    ],
)
def test_parse(text: str, expected: DatasetRef) -> None:
    assert DatasetRef.parse(text) == expected


@pytest.mark.parametrize("text", ["cats", "cats@v1.2.3", "@acme.vision.dogs", "@acme.vision.dogs@v1.0.0"])
def test_str_round_trips(text: str) -> None:
    assert str(DatasetRef.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "invalid dataset reference"),
        ("my cats", "invalid dataset reference"),
        ("cats@v1.x", "invalid dataset version"),
        ("@acme.dogs", "expected @namespace.project.name"),
        ("@acme..dogs", "expected @namespace.project.name"),
        ("cats/evil", "invalid dataset name"),
    ],
)
def test_malformed_references_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        DatasetRef.parse(text)


def test_normalize_version() -> None:
    assert [normalize_version(v) for v in ("v1", "1.2", "v1.2.3", " 4.0.1 ")] == [
        "1.0.0",
        "1.2.0",
        "1.2.3",
        "4.0.1",
    ]
    with pytest.raises(ValueError, match=r"vX\.Y\.Z"):
        normalize_version("latest")
