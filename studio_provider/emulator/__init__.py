"""A local DataChain Studio emulator: the real protocol over real sockets, jobs that really run.

``EmulatorServer`` runs it in-process (tests); ``python -m studio_provider.emulator`` runs it from a shell.
It needs the ``emulator`` extra (FastAPI, uvicorn, python-multipart): the names below are imported on first
use, so that importing the package, or its command line, without the extra can say so in one line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .requirements import missing_distributions, missing_message

if TYPE_CHECKING:
    from .app import create_app
    from .config import EmulatorConfig
    from .server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "create_app"]

_HOMES = {"EmulatorConfig": ".config", "EmulatorServer": ".server", "create_app": ".app"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(home, __name__)
    except ImportError as exc:
        missing = missing_distributions()
        if not missing:
            raise
        raise ImportError(missing_message(missing)) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value
