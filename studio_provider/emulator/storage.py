"""A per-team fake object store on disk, listed by ``datachain/ls``.

``s3://bucket/a/b.txt`` of team T lives at ``<data_dir>/storage/T/s3/bucket/a/b.txt``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import bad_request


def split_source(source: str) -> tuple[str, str]:
    """``("s3", "bucket/path")`` for ``s3://bucket/path``; a bare path is scheme ``local``."""
    if "\x00" in source:
        raise bad_request("invalid source: it contains a NUL character")
    if "://" in source:
        scheme, _, rest = source.partition("://")
    else:
        scheme, rest = "local", source
    if not scheme.isalnum():
        raise bad_request(f"invalid source {source!r}")
    return scheme, rest.strip("/")


def resolve(root: Path, team: str, source: str) -> Path:
    """The on-disk path of ``source`` for ``team``; 400 if it would escape the team's storage."""
    scheme, rest = split_source(source)
    base = (root / "storage" / team / scheme).resolve()
    target = (base / rest).resolve() if rest else base
    if target != base and base not in target.parents:
        raise bad_request(f"invalid source {source!r}")
    return target


def _entry(source_prefix: str, path: Path) -> dict[str, Any]:
    stat = path.stat()
    is_dir = path.is_dir()
    uri = source_prefix.rstrip("/") + "/" + path.name + ("/" if is_dir else "")
    return {
        "path_str": uri,
        "path": uri,
        "name": path.name,
        "is_latest": True,
        "last_modified": datetime.fromtimestamp(stat.st_mtime, timezone.utc),
        "dir_type": 1 if is_dir else 0,
        "size": None if is_dir else stat.st_size,
        "version": "",
        "etag": "",
    }


def list_source(root: Path, team: str, source: str) -> list[dict[str, Any]] | None:
    """Entries under ``source`` (a file lists itself); None when it does not exist."""
    target = resolve(root, team, source)
    if not target.exists():
        return None
    if target.is_file():
        parent = source.rstrip("/").rsplit("/", 1)[0]
        return [_entry(parent, target)]
    return [_entry(source, child) for child in sorted(target.iterdir())]


def put_object(root: Path, team: str, source: str, content: bytes) -> Path:
    """Write an object; 400 unless ``source`` names a key inside a bucket (``s3://bucket/key``), or when a
    path component is already an object (so one bad write cannot break the team's later ones)."""
    _, rest = split_source(source)
    bucket, _, key = rest.partition("/")
    if not bucket or not key.strip("/"):
        raise bad_request(f"invalid source {source!r}: expected SCHEME://BUCKET/KEY")
    target = resolve(root, team, source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    except OSError as exc:
        raise bad_request(f"cannot write {source!r}: {exc.strerror}") from None
    return target
