"""The provider's structure, read from its source: layers whose imports only go down, no import cycle,
and no reaching into other libraries' private state.

The layers, bottom to top (see docs/architecture.md):

    client (requests, transports, models)  <  client.lookups, client.schedule_sync  <  client.waiting
    <  compat  <  hooks  <  exceptions, links  <  assets  <  triggers  <  operators | sensors
    <  decorators  <  get_provider_info

A module may import from its own layer (without a cycle) and from any layer below; operators and sensors
never import each other. The emulator is a world of its own (tests/emulator/test_layering.py): nothing
here imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import studio_provider

ROOT = Path(studio_provider.__file__).resolve().parent
PACKAGE = "studio_provider"

LAYERS: list[tuple[str, ...]] = [
    ("studio_provider",),  # the package's face: its version
    ("studio_provider.client",),
    ("studio_provider.client.lookups", "studio_provider.client.schedule_sync"),
    ("studio_provider.client.waiting",),
    ("studio_provider.compat",),
    ("studio_provider.hooks",),
    ("studio_provider.exceptions", "studio_provider.links"),
    ("studio_provider.assets",),
    ("studio_provider.triggers",),
    ("studio_provider.operators", "studio_provider.sensors"),
    ("studio_provider.decorators",),
    ("studio_provider.get_provider_info",),
]
SIBLINGS_APART = ("studio_provider.operators", "studio_provider.sensors")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def provider_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in ROOT.rglob("*.py")
        if "emulator" not in path.relative_to(ROOT).parts and "testing" not in path.relative_to(ROOT).parts
    }


def imports_of(name: str, path: Path) -> set[str]:
    """Every provider module ``path`` imports, anywhere (TYPE_CHECKING blocks and function bodies too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                folder = ROOT.parent.joinpath(*target.split("."))
                submodules = {
                    alias.name
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists() or (folder / alias.name / "__init__.py").exists()
                }
                found.update(f"{target}.{sub}" for sub in submodules)
                if len(submodules) < len(node.names):  # names defined by the module itself
                    found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(PACKAGE))
    return found


def graph() -> dict[str, set[str]]:
    modules = provider_modules()
    return {name: {target for target in imports_of(name, path) if target in modules} - {name} for name, path in modules.items()}


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = index, prefix.count(".")
    assert best >= 0, f"{module} is in no layer: place it in LAYERS"
    return best


def group_of(module: str) -> str:
    return next((prefix for prefix in SIBLINGS_APART if module.startswith(prefix)), module)


def test_the_graph_sees_known_edges() -> None:
    edges = graph()
    assert "studio_provider.client.waiting.follower" in edges["studio_provider.triggers.job"] | {
        target for source in edges if source.startswith("studio_provider.client.waiting") for target in edges[source]
    }
    assert "studio_provider.operators.base" in edges["studio_provider.operators.job"]


def test_every_import_goes_down_or_stays_in_its_layer() -> None:
    upward = []
    for source, targets in graph().items():
        for target in targets:
            if target != PACKAGE and layer_of(target) > layer_of(source):
                upward.append(f"{source} -> {target}")
            elif {group_of(source), group_of(target)} == set(SIBLINGS_APART):
                upward.append(f"{source} -> {target} (operators and sensors stay apart)")
    assert upward == []


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(edges[node]):
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            raise AssertionError(" -> ".join(cycle))


def test_nothing_at_the_package_root_but_its_face_and_shared_types() -> None:
    root = sorted(path.name for path in ROOT.glob("*.py"))
    assert root == ["__init__.py", "compat.py", "exceptions.py", "get_provider_info.py", "links.py"]


def _own_private_names() -> set[str]:
    """Private names the provider defines itself: its functions, classes, module-level names, and the
    attributes its classes set on ``self`` or ``cls``."""
    names: set[str] = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {name for name in names if name.startswith("_")}


def test_no_private_attributes_of_other_libraries_and_no_patching() -> None:
    """A triggerer runs other providers' triggers in the same process: the provider must neither read or
    write another library's private attributes nor change a class or module it imported."""
    own = _own_private_names()
    found = []
    for name, path in provider_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        for node in ast.walk(tree):
            named = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "setattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            )
            if named:
                attr = str(node.args[1].value)  # type: ignore[attr-defined]
                if attr.startswith("_") and not attr.startswith("__") and attr not in own:
                    found.append(f"{name}:{node.lineno} {node.func.id}(..., {attr!r})")  # type: ignore[attr-defined]
            if not isinstance(node, ast.Attribute):
                continue
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if private and node.attr not in own:
                found.append(f"{name}:{node.lineno} reads or writes .{node.attr}")
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(node.ctx, ast.Store) and isinstance(base, ast.Name) and base.id in imported:
                found.append(f"{name}:{node.lineno} assigns {base.id}.…{node.attr}")
    assert found == []
