"""The emulator's own wire vocabulary: the statuses as the specification names them, used consistently, and
msgpack datetimes as ext type 42."""

from __future__ import annotations

import ast
import re
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgpack

import studio_provider.emulator as package
from studio_provider.emulator.msgpack_wire import DATETIME_EXT_TYPE, packb
from studio_provider.emulator.vocabulary import (
    FINISHED_JOB_STATUSES,
    FINISHED_PIPELINE_STATUSES,
    JOB_STATUSES,
    PIPELINE_STATUSES,
    DatasetVersionStatus,
)

ROOT = Path(package.__file__).resolve().parent
_STATUS_WORD = re.compile(r"[A-Z][A-Z_]+")


def test_statuses_are_the_specifications() -> None:
    assert set(JOB_STATUSES) == {
        "CREATED", "QUEUED", "INIT", "RUNNING", "COMPLETE", "FAILED", "CANCELING", "CANCELED",
        "CANCELING_SCHEDULED", "SCHEDULED", "TASK", "PROVISIONING", "PENDING",
    }
    assert {"COMPLETE", "FAILED", "CANCELED", "TASK"} == FINISHED_JOB_STATUSES
    assert set(PIPELINE_STATUSES) == {"PENDING", "RUNNING", "COMPLETED", "FAILED", "PAUSED", "CANCELED"}
    # PAUSED can be resumed, so it is not final.
    assert {"COMPLETED", "FAILED", "CANCELED"} == FINISHED_PIPELINE_STATUSES
    assert {status.name: int(status) for status in DatasetVersionStatus} == {
        "CREATED": 1, "PENDING": 2, "FAILED": 3, "COMPLETE": 4, "STALE": 6, "REMOVING": 7, "REMOVED": 8,
    }


def _is_status(node: ast.AST) -> bool:
    """``status``, ``x.status``, ``statuses`` (not a module constant such as ``SIM_STATUSES``)."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "status" in name and not name.isupper()


def _mentions_status(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        return any(_is_status(child) for part in (node.left, *node.comparators) for child in ast.walk(part))
    if isinstance(node, ast.Assign):
        return any(_is_status(target) for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return _is_status(node.target)
    if isinstance(node, ast.Call):
        return _is_status(node.func) or any(
            keyword.arg is not None and "status" in keyword.arg for keyword in node.keywords
        )
    return False


def _status_literals(source: str) -> set[str]:
    """Upper-case words in comparisons with, assignments to and calls of something named like a status."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if _mentions_status(node):
            for child in ast.walk(node):
                if isinstance(child, ast.Constant) and isinstance(child.value, str) and _STATUS_WORD.fullmatch(child.value):
                    found.add(child.value)
    return found


def test_the_literal_scan_sees_statuses() -> None:
    source = (
        'job.status = "RUNING"\nif run.status in ("PAUSED", "DONE"):\n    pass\nservice.set_status(job, "QUEUED")\n'
        'SIM_STATUSES = "NOT_A_STATUS"\nadd_route(router, "/status", status, ["GET"])\n'
    )
    assert _status_literals(source) == {"RUNING", "PAUSED", "DONE", "QUEUED"}


def test_every_status_the_emulator_writes_or_compares_is_in_its_vocabulary() -> None:
    known = set(JOB_STATUSES) | set(PIPELINE_STATUSES)
    used: dict[str, set[str]] = {
        path.name: _status_literals(path.read_text(encoding="utf-8")) for path in sorted(ROOT.glob("*.py"))
    }
    assert {"RUNNING", "COMPLETED", "CANCELING_SCHEDULED"} <= set().union(*used.values())
    unknown = {name: sorted(words - known) for name, words in used.items() if words - known}
    assert unknown == {}


def _decode(payload: bytes) -> Any:
    """An independent reader of ext type 42, written from the specification's description."""

    def hook(code: int, data: bytes) -> Any:
        assert code == 42
        if len(data) == 8:
            return ("naive", struct.unpack("!d", data)[0])
        return ("aware", *struct.unpack("!dl", data))

    return msgpack.unpackb(payload, ext_hook=hook, raw=False)


def test_msgpack_datetimes_are_ext_type_42() -> None:
    aware = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2026, 1, 2, 3, 4, 5)
    body = _decode(packb({"data": [{"at": aware, "naive": naive, "name": "x", "raw": b"\x00"}], "message": ""}))
    entry = body["data"][0]
    assert DATETIME_EXT_TYPE == 42
    assert entry["at"] == ("aware", aware.timestamp(), 7200)
    assert entry["naive"] == ("naive", naive.replace(tzinfo=timezone.utc).timestamp())
    assert entry["name"] == "x" and entry["raw"] == b"\x00"
