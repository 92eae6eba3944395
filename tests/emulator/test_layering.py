"""The emulator's modules form layers: no module imports (even for type checking only) one that imports it back."""

from __future__ import annotations

import ast
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
