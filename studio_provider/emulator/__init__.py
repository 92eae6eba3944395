"""A local DataChain Studio emulator: the real protocol over real sockets, jobs that really run.

``EmulatorServer`` runs it in-process (tests); ``python -m studio_provider.emulator`` runs it from a shell.
"""

from __future__ import annotations

from .app import create_app
from .config import EmulatorConfig
from .server import EmulatorServer

__all__ = ["EmulatorConfig", "EmulatorServer", "create_app"]
