"""The emulator's modules form layers: no module imports (even for type checking only) one that imports it
back; and the emulator is a world of its own: it imports nothing of the provider, the provider nothing of it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import studio_provider.emulator as package

PACKAGE = "studio_provider.emulator"
ROOT = Path(package.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Sibling modules that ``path`` imports anywhere (TYPE_CHECKING blocks and function bodies included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
            elif node.module and node.module.startswith(PACKAGE + "."):
                base = node.module[len(PACKAGE) + 1 :]
            elif node.module == PACKAGE:
                base = None
            else:
                continue
            if base:
                found.add(base.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in ROOT.glob("*.py") if path.stem not in ("__init__", "__main__")}
    return {name: _imports(path) & modules.keys() - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(graph[node]):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state:
                found = visit(child)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_known_edges() -> None:
    graph = _graph()
    assert "state" in graph["jobs"] and "auth" in graph["routing"]


def test_no_import_cycles_among_emulator_modules() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


# ---- the emulator is a separate world: it never imports the provider, and the provider never imports it --


def _foreign_imports(path: Path) -> list[str]:
    """Imports in ``path`` of ``studio_provider`` modules outside the emulator (the package's
    ``__version__`` excepted), anywhere in the file (TYPE_CHECKING blocks and function bodies included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                continue
            if node.level >= 2:
                # ``..`` is studio_provider itself; ``...`` would leave it.
                target = ".".join(["studio_provider", *filter(None, [node.module])]) if node.level == 2 else "?"
            else:
                target = node.module or ""
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                continue
            if target == "studio_provider" and [alias.name for alias in node.names] == ["__version__"]:
                continue
            if target == "?" or target == "studio_provider" or target.startswith("studio_provider."):
                found.append(f"{path.name}:{node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if (name == "studio_provider" or name.startswith("studio_provider.")) and not (
                    name == PACKAGE or name.startswith(PACKAGE + ".")
                ):
                    found.append(f"{path.name}:{node.lineno}: import {name}")
    return found


def test_the_import_check_sees_a_foreign_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from .state import JobRecord\n"
        "from .. import __version__\n"
        "from ..client.models import JobStatus\n"
        "import studio_provider.hooks.studio\n"
        "def later():\n"
        "    from studio_provider.client import msgpack_codec\n",
        encoding="utf-8",
    )
    assert [line.split(":", 2)[1] for line in _foreign_imports(sample)] == ["3", "4", "6"]


def test_the_emulator_imports_nothing_of_the_provider_outside_itself() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 30  # the check reads the real package
    found = [line for path in files for line in _foreign_imports(path)]
    assert found == [], "\n".join(found)


# pkgutil.walk_packages would import every package it passes, the emulator's included: walk by hand.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys, traceback
imported, failed = [], []
def walk(package):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        if info.name == "studio_provider.emulator":
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:
            failed.append(info.name + ": " + traceback.format_exc(limit=1).strip().splitlines()[-1])
            continue
        imported.append(info.name)
        if info.ispkg:
            walk(module)
walk(importlib.import_module("studio_provider"))
loaded = sorted(name for name in sys.modules if name.startswith("studio_provider.emulator"))
print(json.dumps({"imported": imported, "failed": failed, "loaded": loaded}))
"""


def test_importing_every_provider_module_does_not_load_the_emulator(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["failed"] == [], result["failed"]
    # Every layer was imported (hooks, operators, triggers, the client), not a lucky few.
    assert len(result["imported"]) > 20, result["imported"]
    assert any(".operators" in name for name in result["imported"]), result["imported"]
    assert result["loaded"] == [], result["loaded"]
