"""The fault-injection CLI flags and the ``--fault`` spec syntax.

``add_fault_arguments`` adds ``--fault``, ``--latency``, ``--outage`` and ``--fault-seed`` to a parser;
``parse_fault_spec`` turns a ``--fault`` value into rule fields (``FaultInjector.configure_from_args``
applies them). See ``docs/emulator-faults.md`` for the syntax.
"""

from __future__ import annotations

import argparse
from typing import Any

from .fault_rules import KINDS, FaultSpecError, build_rule

__all__ = ["add_fault_arguments", "parse_fault_spec"]

_ACTION_ALIASES = {
    "error": "error",
    "latency": "latency",
    "delay": "latency",
    "drop": "drop",
    "reset": "drop",
    "outage": "outage",
    "ws_disconnect": "ws_disconnect",
    "ws-disconnect": "ws_disconnect",
    "lose_response": "lose_response",
    "lose-response": "lose_response",
}
_INT_OPTIONS = frozenset({"status", "retry_after", "count", "after", "after_frames"})
_FLOAT_OPTIONS = frozenset({"seconds", "rate"})
_STR_OPTIONS = frozenset({"mode", "message"})


def _convert_option(name: str, raw: str) -> Any:
    try:
        if name in _INT_OPTIONS:
            return int(raw)
        if name in _FLOAT_OPTIONS:
            return float(raw)
    except ValueError:
        kind = "an integer" if name in _INT_OPTIONS else "a number"
        raise FaultSpecError(f"option '{name}' needs {kind}, got {raw!r}") from None
    if name in _STR_OPTIONS:
        return raw
    raise FaultSpecError(f"unknown option '{name}'")


def parse_fault_spec(text: str) -> dict[str, Any]:
    """Parse a ``--fault`` value into rule fields.

    Syntax: ``[METHOD ]PATH=ACTION[:KEY=VALUE]...`` where ACTION is a status code (an ``error`` rule) or
    one of error, latency, drop (alias reset), outage, ws_disconnect, lose_response; KEY is a rule field
    (``rate``, ``count``, ``after``, ``retry_after``, ``seconds``, ``after_frames``, ``mode``, ``status``,
    ``message``; ``-`` may stand for ``_``). Examples: ``POST /api/datachain/jobs/=503:rate=0.2``,
    ``GET /api/datachain/jobs/=429:retry_after=2:count=3``,
    ``/api/logs/follow/=ws_disconnect:after_frames=2``.
    """
    target, sep, rest = text.partition("=")
    target = target.strip()
    if not sep or not target or not rest:
        raise FaultSpecError("expected [METHOD ]PATH=ACTION[:KEY=VALUE]...")
    if " " in target:
        method, path = target.split(None, 1)
        path = path.strip()
    else:
        method, path = "*", target
    action, *options = rest.split(":")
    action = action.strip().lower()
    spec: dict[str, Any] = {"method": method, "path": path}
    if action.isdigit():
        spec["kind"] = "error"
        spec["status"] = int(action)
    elif action in _ACTION_ALIASES:
        spec["kind"] = _ACTION_ALIASES[action]
    else:
        raise FaultSpecError(f"unknown action {action!r}: use a status code or one of {', '.join(KINDS)}")
    for option in options:
        key, eq, value = option.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq or not key:
            raise FaultSpecError(f"option {option!r} is not KEY=VALUE")
        spec[key] = _convert_option(key, value.strip())
    # Validate now so that the flag fails at parse time, not when the server starts.
    build_rule(spec)
    return spec


def _fault_arg(text: str) -> str:
    try:
        parse_fault_spec(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--fault`` (repeatable), ``--latency``, ``--outage`` and ``--fault-seed`` to ``parser``."""
    group = parser.add_argument_group("fault injection (see docs/emulator-faults.md)")
    group.add_argument(
        "--fault",
        action="append",
        default=[],
        type=_fault_arg,
        metavar="SPEC",
        help="inject a fault: '[METHOD ]PATH=ACTION[:KEY=VALUE]...', e.g. "
        "'POST /api/datachain/jobs/=503:rate=0.2' (repeatable)",
    )
    group.add_argument(
        "--latency",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="add latency to every request",
    )
    group.add_argument(
        "--outage",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="every API request fails with 503 for SECONDS from start",
    )
    group.add_argument("--fault-seed", type=int, default=None, metavar="N", help="seed for rate-based faults")
