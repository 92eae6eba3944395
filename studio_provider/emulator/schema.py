"""Declarative request specs and the one validator that checks a request against them.

Each API route has one :class:`RouteSpec` (see ``api_spec``): where ``team_name`` travels, the query
parameters and the JSON body fields it accepts, each with its type, whether it is required and its allowed
values. :func:`parse_request` authenticates, reads the body, refuses what the spec does not allow (unknown
fields, wrong types, truncating numbers, strings posing as booleans, unknown choices) with a 400 naming the
field, and answers a :class:`Call` with the team and the typed values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request

from .auth import authenticate
from .errors import bad_request

Kind = Literal["str", "int", "bool", "str_list"]
TeamPlace = Literal["query", "body"]

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Field:
    """One query parameter or body field.

    :param name: the field's name on the wire.
    :param kind: ``str``, ``int``, ``bool`` or ``str_list`` (a JSON list of strings; in the query string,
        repeated and/or comma-separated values).
    :param required: refuse the request when it is missing (``null`` counts as missing).
    :param choices: the allowed values (of a string, or of each list item).
    :param fold_case: compare ``choices`` case-insensitively and answer the canonical spelling (a
        leniency, documented per use).
    :param low: the smallest allowed integer.
    :param high: the largest allowed integer.
    :param non_empty: refuse an empty string or list.
    """

    name: str
    kind: Kind = "str"
    required: bool = False
    choices: tuple[str, ...] | None = None
    fold_case: bool = False
    low: int | None = None
    high: int | None = None
    non_empty: bool = False


@dataclass(frozen=True)
class RouteSpec:
    """What one route accepts.

    :param team: where ``team_name`` must be (``query`` for GET and multipart, ``body`` for JSON bodies).
    :param query: the query parameters besides ``team_name``.
    :param body: the JSON body fields besides ``team_name``; ``None`` when the route takes no body.
    :param one_of: groups of fields of which at least one must be given.
    """

    team: TeamPlace
    query: tuple[Field, ...] = ()
    body: tuple[Field, ...] | None = None
    one_of: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Call:
    """A validated request: its team, its typed values (absent ones are ``None``) and which were given."""

    team: str
    values: Mapping[str, Any]
    given: frozenset[str]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)


async def json_object(request: Request) -> dict[str, Any]:
    """The JSON object body (``{}`` when there is none); 400 when it is anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


def _choice(field: Field, value: str) -> str:
    if field.choices is None:
        return value
    for choice in field.choices:
        if value == choice or (field.fold_case and value.upper() == choice.upper()):
            return choice
    raise bad_request(f"{field.name} must be one of {', '.join(field.choices)}; got {value!r}")


def _int_range(field: Field, number: int) -> int:
    if (field.low is not None and number < field.low) or (field.high is not None and number > field.high):
        low = "" if field.low is None else f" >= {field.low}"
        high = "" if field.high is None else f" <= {field.high}"
        raise bad_request(f"{field.name} must be an integer{low}{high}; got {number}")
    return number


def _from_json(field: Field, value: Any) -> Any:
    """A body value checked against ``field``, never coerced from another JSON type."""
    if field.kind == "str":
        if not isinstance(value, str):
            raise bad_request(f"{field.name} must be a string")
        if field.non_empty and not value.strip():
            raise bad_request(f"{field.name} must not be empty")
        return _choice(field, value)
    if field.kind == "int":
        # bool is an int in Python and 2.7 would truncate: both are refused.
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{field.name} must be an integer; got {json.dumps(value)[:40]}")
        return _int_range(field, value)
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise bad_request(f"{field.name} must be true or false (a JSON boolean)")
        return value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"{field.name} must be a list of strings")
    if field.non_empty and not value:
        raise bad_request(f"{field.name} must not be empty")
    return [_choice(field, item) for item in value]


def _from_query(field: Field, values: list[str]) -> Any:
    """A query value checked against ``field`` (query strings are text, so this is where text is parsed)."""
    if field.kind == "str_list":
        items = [part.strip() for value in values for part in value.split(",") if part.strip()]
        return [_choice(field, item) for item in items]
    if len(values) > 1:
        raise bad_request(f"{field.name} must be given once")
    text = values[0]
    if field.kind == "int":
        if not _DIGITS.fullmatch(text):
            raise bad_request(f"{field.name} must be an integer; got {text[:40]!r}")
        return _int_range(field, int(text))
    if field.kind == "bool":
        # requests sends Python's True as "True": accept either case of true/false, nothing else.
        if text.lower() not in ("true", "false"):
            raise bad_request(f"{field.name} must be true or false; got {text[:40]!r}")
        return text.lower() == "true"
    if field.non_empty and not text.strip():
        raise bad_request(f"{field.name} must not be empty")
    return _choice(field, text)


def _team(request: Request, spec: RouteSpec, body: dict[str, Any]) -> str:
    in_query = request.query_params.get("team_name")
    in_body = body.get("team_name")
    if spec.team == "query":
        if in_query is None:
            where = " (it belongs in the query string, not the body)" if in_body is not None else ""
            raise bad_request(f"team_name is required in the query string{where}")
        team: Any = in_query
    else:
        if in_body is None:
            where = " (it belongs in the JSON body, not the query string)" if in_query is not None else ""
            raise bad_request(f"team_name is required in the JSON body{where}")
        team = in_body
    if not isinstance(team, str) or not team.strip():
        raise bad_request("team_name must be a non-empty string")
    return authenticate(request.app.state.emulator.config.tokens, request.headers.get("authorization"), team)


async def parse_request(request: Request, spec: RouteSpec) -> Call:
    """Authenticate ``request`` and check it against ``spec`` (see the module docstring)."""
    body = await json_object(request) if spec.body is not None else {}
    team = _team(request, spec, body)
    values: dict[str, Any] = {}
    given: set[str] = set()
    known_query = {field.name: field for field in spec.query}
    for name in request.query_params:
        if name != "team_name" and name not in known_query:
            raise bad_request(f"unknown query parameter {name!r}")
    for field in spec.query:
        raw = request.query_params.getlist(field.name)
        if raw:
            values[field.name] = _from_query(field, raw)
            given.add(field.name)
    fields = {field.name: field for field in spec.body or ()}
    for name, value in body.items():
        if name == "team_name":
            continue
        if name not in fields:
            raise bad_request(f"unknown field {name!r}")
        if value is not None:  # null means "not given": the official client sends every field
            values[name] = _from_json(fields[name], value)
            given.add(name)
    for field in (*spec.query, *(spec.body or ())):
        if field.required and field.name not in given:
            raise bad_request(f"{field.name} is required")
    for group in spec.one_of:
        if not given.intersection(group):
            raise bad_request(f"one of {', '.join(group)} is required")
    return Call(team, values, frozenset(given))
