"""A griffe extension for `make docs` (mkdocs.yml loads it): the API reference as a reader wants it.

- Sphinx roles in the docstrings (``:class:`~a.b.C```, ``:meth:`name```, ...) are rendered as code, linked
  to the object's entry when the reference documents it (mkdocs-autorefs' optional references: an object
  the reference does not show stays plain code). The docstrings keep Sphinx syntax for Airflow's tooling.
- A parameter whose default is a module constant (``studio_conn_id=DEFAULT_CONN_ID``) shows the constant's
  value (``"datachain_studio_default"``), which is what a DAG author needs to know.
"""

from __future__ import annotations

import ast
import html
import json
import re
from typing import Any

import griffe

#: ``:role:`target``` and ``:py:role:`target```, with the usual target forms: ``~a.b.C`` (shown as ``C``),
#: ``!name`` (not linked), ``title <a.b.C>``.
ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|exc|data|obj|const|type|deco):`(?P<target>[^`]+)`")
TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<path>[^<>]+)>$")


def _reference(obj: griffe.Object, target: str) -> str:
    """The HTML of one role: an optional cross-reference, or plain code when it cannot be resolved."""
    titled = TITLED.match(target)
    title, path = (titled["title"], titled["path"]) if titled else (None, target)
    linked = not path.startswith("!")
    path = path.lstrip("!~.")
    shown = title or (path.rsplit(".", 1)[-1] if target.lstrip("!").startswith("~") else path)
    code = f"<code>{html.escape(shown)}</code>"
    if not linked:
        return code
    if "." not in path:
        try:
            path = obj.resolve(path)
        except (griffe.NameResolutionError, KeyError, ValueError, AttributeError):
            return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'


def _constant(func: griffe.Function, name: str, loader: griffe.GriffeLoader) -> str | None:
    """The literal value of the module constant ``name`` as seen from ``func``, as Python source."""
    try:
        target = loader.modules_collection[func.resolve(name)]
    except (griffe.NameResolutionError, KeyError, ValueError, AttributeError):
        return None
    if not isinstance(target, griffe.Attribute) or not isinstance(target.value, str):
        return None
    try:
        value = ast.literal_eval(target.value)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value) if isinstance(value, (int, float, bool)) else None


class SphinxRolesAndConstants(griffe.Extension):
    """See the module's docstring; only this project's package is changed (not those loaded to resolve its
    imports, such as Airflow)."""

    packages = ("studio_provider",)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name not in self.packages:
            return
        todo: list[griffe.Object] = [pkg]
        while todo:
            obj = todo.pop()
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(lambda match, obj=obj: _reference(obj, match["target"]),
                                               obj.docstring.value)
            if isinstance(obj, griffe.Function):
                for parameter in obj.parameters:
                    if isinstance(parameter.default, griffe.ExprName):
                        value = _constant(obj, parameter.default.name, loader)
                        if value is not None:
                            parameter.default = value
            todo.extend(member for member in obj.members.values() if not member.is_alias)
