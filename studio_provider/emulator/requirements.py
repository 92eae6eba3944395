"""What the emulator needs beyond the provider's own dependencies, and the one line that says so.

Standard library only: this is checked before anything imports FastAPI or uvicorn, so that a missing extra
is a clear message instead of a traceback.
"""

from __future__ import annotations

import importlib

EXTRA_INSTALL = "pip install 'airflow-provider-datachain-studio[emulator]'"

# (distribution, module names that provide it: any one will do). python-multipart is imported by Starlette
# only when a form is parsed, so without this check the first upload would fail, not the start.
_NEEDED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fastapi", ("fastapi",)),
    ("starlette", ("starlette",)),
    ("uvicorn", ("uvicorn",)),
    ("python-multipart", ("python_multipart", "multipart")),
)


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def missing_distributions() -> list[str]:
    """The emulator's dependencies that cannot be imported here, by distribution name."""
    return [name for name, modules in _NEEDED if not any(_importable(module) for module in modules)]


def missing_message(missing: list[str]) -> str:
    """One line naming what is missing and the command that installs it."""
    return f"the Studio emulator needs {', '.join(missing)} (not installed): {EXTRA_INSTALL}"
