"""API errors and the handlers that turn every error into ``{"message": ...}``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .msgpack_wire import packb


class ApiError(Exception):
    """An error answered with ``status`` and ``{"message": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def _describe_validation(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        location = ".".join(str(item) for item in error.get("loc", ()) if item != "body")
        parts.append(f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg")))
    return "; ".join(parts) or "Invalid request"


def error_body(path: str, message: str) -> tuple[bytes, str]:
    """The error body and its media type: ``{"message": ...}`` as JSON, or as msgpack on ``datachain/ls``
    (the official client decodes every ``ls`` body so)."""
    if path.rstrip("/").endswith("/datachain/ls"):
        return packb({"data": None, "message": message}), "application/msgpack"
    return json.dumps({"message": message}).encode(), "application/json"


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An error answer for ``request`` (see :func:`error_body`)."""
    body, media_type = error_body(request.url.path, message)
    return Response(body, status_code=status, headers=headers, media_type=media_type)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error body ``{"message": ...}``, validation errors included (as 400)."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.message, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, _describe_validation(list(exc.errors())))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
