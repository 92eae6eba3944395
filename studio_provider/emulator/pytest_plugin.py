"""The gate of the pytest plugin for testing DAGs against a local Studio (registered as ``pytest11``).

pytest loads this module in every project where the provider is installed, so it does nothing by itself:
no fixture, no import of FastAPI, uvicorn or Airflow. Only when a project asks for it does it register the
plugin proper, :mod:`studio_provider.emulator.testing` (fixtures ``datachain_studio`` and
``datachain_studio_factory``). A project asks with any one of:

- ``datachain_studio_emulator = true`` in its pytest configuration (``[tool.pytest.ini_options]``,
  ``pytest.ini``, ...);
- ``--datachain-studio-emulator`` on the command line;
- ``pytest_plugins = ["studio_provider.emulator.testing"]`` in a ``conftest.py`` (or
  ``-p studio_provider.emulator.testing``), which also works with plugin autoloading disabled.
"""

from __future__ import annotations

import pytest

PLUGIN = "studio_provider.emulator.testing"
INI_OPTION = "datachain_studio_emulator"
FLAG = "--datachain-studio-emulator"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("datachain-studio", "DataChain Studio emulator (airflow-provider-datachain-studio)")
    group.addoption(
        FLAG,
        action="store_true",
        default=False,
        help="provide the datachain_studio fixtures: a local Studio emulator and a connection to it",
    )
    parser.addini(INI_OPTION, type="bool", default=False, help="provide the datachain_studio fixtures (see " + FLAG + ")")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption(FLAG) or config.getini(INI_OPTION):
        # By module name, as pytest_plugins and -p do: a project that also lists it loads it once.
        config.pluginmanager.import_plugin(PLUGIN)
