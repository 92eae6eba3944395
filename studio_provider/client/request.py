"""One Studio API call, described as data: what to send and how to read the answer.

An :class:`ApiRequest` is built once per call by the functions in :mod:`.endpoints` and then handed
to either transport (sync or async). Neither transport knows anything about a particular endpoint,
the same way httpx separates building a request from sending it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

import httpx

from . import msgpack_codec
from .errors import StudioError

T = TypeVar("T")

QueryParams = Sequence[tuple[str, str]]


class Retry(Enum):
    """How a request may be repeated after a failure."""

    #: A read, or a write whose repetition changes nothing: retried on transient failures.
    IDEMPOTENT = "idempotent"
    #: A write that creates something (a job, a pipeline run): repeated only when the request is known
    #: not to have reached Studio (connection refused, 429). Otherwise the outcome is unknown.
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    """A request to the Studio API and the decoder of its response.

    :param name: the call's name, used in error messages (``"create_job"``).
    :param method: HTTP method.
    :param path: path relative to the API base, with the API's exact slashes (``"datachain/jobs/"``).
    :param decode: turns a successful response into the call's result.
    :param params: query parameters, repeated keys allowed.
    :param json: the JSON body, if any.
    :param files: multipart files (``{"file": (filename, bytes)}``), if any.
    :param headers: extra headers (``Accept`` for msgpack).
    :param retry: whether a failure may be retried blindly.
    :param on_repeated_error: called with the error of an attempt after the first (whose answer was lost,
        so it may have done the work already): returns the call's result when the error shows the work
        is done, or re-raises it.
    :param max_bytes: the largest body read for this call (default: the transport's limit).
    """

    name: str
    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    params: QueryParams = ()
    json: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry: Retry = Retry.IDEMPOTENT
    on_repeated_error: Callable[[StudioError], T] | None = None
    max_bytes: int | None = None

    @property
    def upload_size(self) -> int:
        """The bytes of the multipart files this request sends."""
        return sum(len(content) for _, content in (self.files or {}).values())

    def httpx_kwargs(self) -> dict[str, Any]:
        """The arguments of ``httpx.Client.build_request`` for this call (URL relative to base_url)."""
        kwargs: dict[str, Any] = {"method": self.method, "url": self.path}
        if self.params:
            kwargs["params"] = list(self.params)
        if self.json is not None:
            kwargs["json"] = self.json
        if self.files is not None:
            kwargs["files"] = self.files
        if self.headers:
            kwargs["headers"] = self.headers
        return kwargs


class ServerRefusal(Exception):
    """A successful HTTP answer in which Studio reports that the call failed: ``{"ok": false, ...}``, or
    an upload in an error state. The transport turns it into a :class:`~.errors.StudioAPIError`.

    :param message: Studio's own words, when it gave any.
    """

    def __init__(self, message: str | None) -> None:
        super().__init__(message or "")
        self.message = message


def body_message(body: Any) -> str | None:
    """Studio's message in a decoded body: ``message``, ``detail`` or ``error`` (a structure as JSON)."""
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if value:
                return value if isinstance(value, str) else json.dumps(value, default=str)
    return None


def response_json(response: httpx.Response) -> Any:
    """The response's JSON body; an empty body (204) reads as ``None``.

    :raises ServerRefusal: when the body is Studio's failure envelope ``{"ok": false, ...}``.
    """
    if not response.content:
        return None
    data = response.json()
    if isinstance(data, dict) and data.get("ok") is False:
        raise ServerRefusal(body_message(data))
    return data


def response_msgpack(response: httpx.Response) -> Any:
    """The response's msgpack body, with Studio's datetime extension decoded."""
    return msgpack_codec.unpackb(response.content)
