"""Fixtures of the reliability suite: an emulator with the suite's recognisable tokens, and the figures
every scenario records, printed at the end of the run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from studio_provider.emulator import EmulatorServer
from tests.reliability.helpers import FIGURES, OTHER_TEAM, OTHER_TOKEN, TEAM, TOKEN


@pytest.fixture
def rel_emulator(emulator_factory: Callable[..., EmulatorServer]) -> EmulatorServer:
    """A fresh emulator (simulated executor) whose tokens are the suite's: team A and team B."""
    return emulator_factory(
        executor="simulated", tokens={TOKEN: [TEAM], OTHER_TOKEN: [OTHER_TEAM]}, ws_ping_interval=1.0
    )


@pytest.fixture
def rel_connection(studio_connection: Callable[..., str], rel_emulator: EmulatorServer) -> str:
    """``datachain_studio_default`` pointed at :func:`rel_emulator` with the suite's token."""
    return studio_connection(rel_emulator, token=TOKEN, team=TEAM)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {json.dumps(value, default=str)}")
