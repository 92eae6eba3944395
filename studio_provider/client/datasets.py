"""Dataset references as Studio writes them: ``name``, ``name@vX.Y.Z``, ``@namespace.project.name`` and
``@namespace.project.name@vX.Y.Z``.

One parser for the client (to reject a malformed reference before any request) and anything that maps
Studio datasets to other names (the emulator has its own, from the spec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
_NAME = re.compile(r"^[\w.\-]+$")


def normalize_version(text: str) -> str:
    """``v1.2.3`` / ``1.2.3`` / ``v3`` → ``1.2.3`` / ``1.2.3`` / ``3.0.0``.

    :raises ValueError: when ``text`` is not a version.
    """
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"invalid dataset version {text!r}: use vX.Y.Z")
    major, minor, patch = (int(part) if part is not None else 0 for part in match.groups())
    return f"{major}.{minor}.{patch}"


@dataclass(frozen=True)
class DatasetRef:
    """A parsed dataset reference. ``namespace`` (with its leading ``@``) and ``project`` are ``None`` for a
    plain name; ``version`` is ``None`` when no version is named, else normalized to ``X.Y.Z``."""

    name: str
    namespace: str | None = None
    project: str | None = None
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse a reference.

        :raises ValueError: with a readable reason when ``text`` is malformed.
        """
        ref = text.strip() if isinstance(text, str) else ""
        if not ref or any(c.isspace() for c in ref):
            raise ValueError(f"invalid dataset reference {text!r}")
        version: str | None = None
        at = ref.rfind("@")
        if at > 0:
            ref, version = ref[:at], normalize_version(ref[at + 1 :])
        if ref.startswith("@"):
            parts = ref[1:].split(".")
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"invalid dataset reference {text!r}: expected @namespace.project.name")
            return cls(name=parts[2], namespace="@" + parts[0], project=parts[1], version=version)
        if not _NAME.match(ref):
            raise ValueError(f"invalid dataset name in {text!r}")
        return cls(name=ref, version=version)

    def __str__(self) -> str:
        text = f"{self.namespace}.{self.project}.{self.name}" if self.namespace else self.name
        return f"{text}@v{self.version}" if self.version else text
