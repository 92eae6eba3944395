"""Turn a Python function and its arguments into a standalone Studio job script (no Airflow import).

The script is the function's own source (its decorators stripped, dedented), a call with the arguments
decoded from one JSON string, and a line that hands the return value back through the job's log::

    from __future__ import annotations

    def count(prefix, limit=10):
        ...

    _studio_call = _studio_json.loads('{"args": ["gs://bucket/"], "kwargs": {"limit": 5}}')
    _studio_result = count(*_studio_call["args"], **_studio_call["kwargs"])
    _studio_builtins.print("\n" + <marker> + _studio_json.dumps(_studio_result), flush=True)

The marker starts a line and holds a secret of the task (:func:`return_marker`, an HMAC keyed with the
connection's token): what the job prints or reads as data cannot know it, so cannot forge the value; the
line is printed for ``None`` too.

Only what the script itself holds exists when Studio runs it: names the function reads from its module or
an enclosing function are refused here, before anything is sent, rather than failing remotely with a
``NameError``. ``from __future__ import annotations`` keeps annotations unevaluated, so an annotation may
name a type the job never imports.
"""

from __future__ import annotations

import ast
import builtins
import dis
import hashlib
import hmac
import inspect
import json
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import CodeType
from typing import Any

#: The start of the log line that carries the function's JSON-encoded return value; the task's secret
#: follows it (:func:`return_marker`).
RETURN_MARKER = "__studio_airflow_return__:"

#: Bytecode instructions that read a module-level (or builtin) name.
_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_GLOBAL_STORES = frozenset({"STORE_GLOBAL", "STORE_NAME"})
_BUILTINS = frozenset(dir(builtins))


class FunctionScriptError(ValueError):
    """The function cannot become a Studio job script, or an argument cannot be passed to it."""


def function_source(function: Callable[..., Any]) -> str:
    """The source of ``function`` as a module-level ``def``: its decorators removed, dedented.

    :param function: a plain (not ``async``, not lambda) function defined in a file.
    :raises FunctionScriptError: when the source is unavailable or is not a single plain ``def``.
    """
    name = getattr(function, "__qualname__", repr(function))
    try:
        raw = inspect.getsource(function)
    except (OSError, TypeError) as exc:
        raise FunctionScriptError(
            f"cannot read the source of {name} ({exc}): define the function in a .py file."
        ) from exc
    text = textwrap.dedent(raw)
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise FunctionScriptError(
            f"the source of {name} does not parse once dedented ({exc.msg}, line {exc.lineno}); a multi-line "
            f"string indented less than the 'def' line does this: define the function at module level."
        ) from exc
    node = tree.body[0] if len(tree.body) == 1 else None
    if isinstance(node, ast.AsyncFunctionDef):
        raise FunctionScriptError(f"{name} is async: the job script calls it directly; use a plain def.")
    if not isinstance(node, ast.FunctionDef) or node.name != function.__name__:
        raise FunctionScriptError(f"{name} must be a function defined with 'def' (a lambda is not supported).")
    # node.lineno is the 'def' line itself (decorators sit above it): keep that line and the rest.
    lines = text.splitlines()
    return "\n".join(lines[node.lineno - 1 :]).rstrip() + "\n"


def outside_names(function: Callable[..., Any], source: str) -> tuple[list[str], list[str]]:
    """Names the function needs from outside its own source: ``(closure variables, module-level names)``.

    Module-level names are the globals its code (nested functions and comprehensions included) reads, and
    the names in its parameters' default values, minus builtins, dunder names and names the function
    assigns globally itself.

    :param function: the function.
    :param source: its source as returned by :func:`function_source`.
    """
    code: CodeType = function.__code__
    closure = sorted(code.co_freevars)
    loads: set[str] = set()
    stores: set[str] = set()
    for item in _code_objects(code):
        for instruction in dis.get_instructions(item):
            if instruction.opname in _GLOBAL_LOADS:
                loads.add(str(instruction.argval))
            elif instruction.opname in _GLOBAL_STORES:
                stores.add(str(instruction.argval))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
        loads.update(n.id for n in ast.walk(default) if isinstance(n, ast.Name))
    allowed = _BUILTINS | stores | {function.__name__}
    module_names = sorted(n for n in loads - allowed if not (n.startswith("__") and n.endswith("__")))
    return closure, module_names


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _code_objects(constant)


def check_self_contained(function: Callable[..., Any], source: str) -> None:
    """Refuse a function that reads a closure variable or a module-level name (absent in the job).

    :raises FunctionScriptError: naming the variables and the fix.
    """
    closure, module_names = outside_names(function, source)
    name = function.__qualname__
    if closure:
        raise FunctionScriptError(
            f"{name} uses {', '.join(closure)} from an enclosing function (a closure); the Studio job runs "
            f"only the function's own source: pass {'them' if len(closure) > 1 else 'it'} as arguments."
        )
    if module_names:
        raise FunctionScriptError(
            f"{name} uses the module-level name(s) {', '.join(module_names)}, which do not exist in the "
            f"Studio job: import modules inside the function and pass values as arguments."
        )


def json_literal(value: Any, what: str) -> Any:
    """``value`` as JSON would carry it (tuples become lists, mappings dicts), checked to be JSON.

    :param value: an argument of the function.
    :param what: how to name it in an error, such as ``"argument 'limit'"``.
    :raises FunctionScriptError: naming the argument, when it is not JSON-serializable.
    """

    def plain(obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return dict(obj)
        if isinstance(obj, (set, frozenset)):
            raise TypeError("a set has no JSON form (pass a list)")
        raise TypeError(f"{type(obj).__name__} is not JSON-serializable")

    try:
        return json.loads(json.dumps(value, allow_nan=False, default=plain))
    except (TypeError, ValueError) as exc:  # ValueError: nan or infinity
        raise FunctionScriptError(
            f"{what} of the Studio job function must be JSON-serializable: {exc}. Pass plain values "
            f"(str, int, float, bool, None, lists and dicts of them), e.g. an ISO string for a date."
        ) from exc


def call_arguments(
    function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The function's arguments checked to bind to its signature and converted by :func:`json_literal`.

    :raises FunctionScriptError: naming the first argument that is not JSON-serializable.
    :raises TypeError: when the arguments do not fit the signature.
    """
    bound = inspect.signature(function).bind_partial(*args)
    positional_names = list(bound.arguments)
    plain_args = []
    for index, value in enumerate(args):
        label = (
            f"argument {positional_names[index]!r}"
            if index < len(positional_names)
            else f"positional argument {index + 1}"
        )
        plain_args.append(json_literal(value, label))
    plain_kwargs = {str(key): json_literal(value, f"argument {key!r}") for key, value in kwargs.items()}
    inspect.signature(function).bind(*plain_args, **plain_kwargs)
    return plain_args, plain_kwargs


def return_marker(secret: str, identity: Sequence[object]) -> str:
    """The marker of one task instance's return value: :data:`RETURN_MARKER`, then 32 hex digits of an
    HMAC-SHA256 of the task's identity keyed with ``secret`` (the connection's token), then ``:``.

    :param secret: the key.
    :param identity: the task instance (DAG id, task id, run id, map index).
    """
    text = "\x1f".join(str(part) for part in identity)
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{RETURN_MARKER}{digest[:32]}:"


def build_script(
    function: Callable[..., Any], args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *, marker: str
) -> str:
    """The Studio job script that defines ``function``, calls it with ``args``/``kwargs`` (decoded from one
    JSON string) and prints its JSON return value, ``null`` included, on a line starting with ``marker``.

    A return value that is not JSON-serializable fails the job with a ``TypeError`` saying so.

    :param marker: :func:`return_marker` of the task.
    :raises FunctionScriptError: for a function that is not self-contained or an argument that is not JSON.
    """
    source = function_source(function)
    check_self_contained(function, source)
    plain_args, plain_kwargs = call_arguments(function, args, kwargs or {})
    name = function.__name__
    call = json.dumps({"args": plain_args, "kwargs": plain_kwargs}, allow_nan=False)
    return (
        f"# Generated by @task.datachain_studio from {function.__module__}.{function.__qualname__}.\n"
        "from __future__ import annotations\n\n"
        f"{source}\n\n"
        "import builtins as _studio_builtins\n"
        "import json as _studio_json\n\n"
        f"_studio_call = _studio_json.loads({call!r})\n"
        f"_studio_result = {name}(*_studio_call['args'], **_studio_call['kwargs'])\n"
        "try:\n"
        "    _studio_text = _studio_json.dumps(_studio_result, allow_nan=False)\n"
        "except (TypeError, ValueError) as _studio_error:\n"
        "    raise TypeError(\n"
        f"        {name + ' returned a value that is not JSON-serializable: '!r} + str(_studio_error)\n"
        "    ) from None\n"
        "# A line of its own, whatever the function printed last.\n"
        f"_studio_builtins.print('\\n' + {marker!r} + _studio_text, flush=True)\n"
    )


def returned_value(text: str | None) -> tuple[bool, Any]:
    """The function's return value from what a job wait caught after the marker: ``(found, value)``.

    :param text: the caught text (``None``: no marker line was seen).
    """
    if text is None:
        return False, None
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


__all__ = [
    "RETURN_MARKER",
    "FunctionScriptError",
    "build_script",
    "call_arguments",
    "check_self_contained",
    "function_source",
    "json_literal",
    "outside_names",
    "return_marker",
    "returned_value",
]
