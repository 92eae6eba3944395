"""The Studio API as methods: every call of :mod:`.endpoints`, bound once for sync and once for async.

``StudioApi`` and ``AsyncStudioApi`` hold no request logic of their own: each attribute wraps the one
definition in :mod:`.endpoints` and hands the built request to the class's ``_execute``. The clients
here, and the Airflow hooks, only supply ``_execute`` (how to get the team and a transport).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from . import endpoints
from .config import StudioConfig
from .request import ApiRequest
from .transport import AsyncTransport, SyncTransport

P = ParamSpec("P")
T = TypeVar("T")

#: Builds a call's request for a team.
RequestFactory = Callable[[str], ApiRequest[T]]


def _method_signature(build: Callable[..., Any]) -> inspect.Signature:
    # The public signature is the definition's, with ``self`` in place of the leading ``team``.
    signature = inspect.signature(build)
    params = list(signature.parameters.values())[1:]
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    returns = signature.return_annotation
    if isinstance(returns, str) and returns.startswith("ApiRequest[") and returns.endswith("]"):
        returns = returns[len("ApiRequest[") : -1]
    return signature.replace(parameters=[this, *params], return_annotation=returns)


def sync_method(build: Callable[Concatenate[str, P], ApiRequest[T]]) -> Callable[Concatenate[Any, P], T]:
    """Bind an endpoint definition as a blocking method of a class that implements ``_execute``."""

    @functools.wraps(build)
    def method(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = self._execute(lambda team: build(team, *args, **kwargs))
        return result

    method.__signature__ = _method_signature(build)  # type: ignore[attr-defined]
    return method


def async_method(
    build: Callable[Concatenate[str, P], ApiRequest[T]],
) -> Callable[Concatenate[Any, P], Awaitable[T]]:
    """Bind an endpoint definition as a coroutine method of a class that implements ``_execute``."""

    @functools.wraps(build)
    async def method(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result: T = await self._execute(lambda team: build(team, *args, **kwargs))
        return result

    method.__signature__ = _method_signature(build)  # type: ignore[attr-defined]
    return method


class StudioApi:
    """Every Studio call as a blocking method. Subclasses implement :meth:`_execute`."""

    def _execute(self, make: RequestFactory[T]) -> T:
        raise NotImplementedError

    list_jobs = sync_method(endpoints.list_jobs)
    get_job = sync_method(endpoints.get_job)
    create_job = sync_method(endpoints.create_job)
    cancel_job = sync_method(endpoints.cancel_job)
    get_job_logs = sync_method(endpoints.get_job_logs)
    get_log_blob = sync_method(endpoints.get_log_blob)
    upload_file = sync_method(endpoints.upload_file)
    list_clusters = sync_method(endpoints.list_clusters)
    list_datasets = sync_method(endpoints.list_datasets)
    get_dataset_info = sync_method(endpoints.get_dataset_info)
    get_dataset_job_versions = sync_method(endpoints.get_dataset_job_versions)
    ls = sync_method(endpoints.ls)
    trigger_pipeline = sync_method(endpoints.trigger_pipeline)
    run_pipeline = sync_method(endpoints.run_pipeline)
    get_pipeline = sync_method(endpoints.get_pipeline)
    list_pipelines = sync_method(endpoints.list_pipelines)
    pause_pipeline = sync_method(endpoints.pause_pipeline)
    resume_pipeline = sync_method(endpoints.resume_pipeline)
    duplicate_pipeline = sync_method(endpoints.duplicate_pipeline)
    remove_job_from_pipeline = sync_method(endpoints.remove_job_from_pipeline)
    update_pipeline_settings = sync_method(endpoints.update_pipeline_settings)
    create_schedule = sync_method(endpoints.create_schedule)
    update_schedule = sync_method(endpoints.update_schedule)
    delete_schedule = sync_method(endpoints.delete_schedule)
    get_schedule = sync_method(endpoints.get_schedule)
    list_schedules = sync_method(endpoints.list_schedules)
    list_access_groups = sync_method(endpoints.list_access_groups)
    create_access_group = sync_method(endpoints.create_access_group)
    update_access_group = sync_method(endpoints.update_access_group)
    delete_access_group = sync_method(endpoints.delete_access_group)
    list_access_group_members = sync_method(endpoints.list_access_group_members)
    add_access_group_member = sync_method(endpoints.add_access_group_member)
    update_access_group_member = sync_method(endpoints.update_access_group_member)
    remove_access_group_member = sync_method(endpoints.remove_access_group_member)
    list_access_rules = sync_method(endpoints.list_access_rules)
    create_access_rule = sync_method(endpoints.create_access_rule)
    update_access_rule = sync_method(endpoints.update_access_rule)
    delete_access_rule = sync_method(endpoints.delete_access_rule)


class AsyncStudioApi:
    """Every Studio call as a coroutine method. Subclasses implement :meth:`_execute`."""

    async def _execute(self, make: RequestFactory[T]) -> T:
        raise NotImplementedError

    list_jobs = async_method(endpoints.list_jobs)
    get_job = async_method(endpoints.get_job)
    create_job = async_method(endpoints.create_job)
    cancel_job = async_method(endpoints.cancel_job)
    get_job_logs = async_method(endpoints.get_job_logs)
    get_log_blob = async_method(endpoints.get_log_blob)
    upload_file = async_method(endpoints.upload_file)
    list_clusters = async_method(endpoints.list_clusters)
    list_datasets = async_method(endpoints.list_datasets)
    get_dataset_info = async_method(endpoints.get_dataset_info)
    get_dataset_job_versions = async_method(endpoints.get_dataset_job_versions)
    ls = async_method(endpoints.ls)
    trigger_pipeline = async_method(endpoints.trigger_pipeline)
    run_pipeline = async_method(endpoints.run_pipeline)
    get_pipeline = async_method(endpoints.get_pipeline)
    list_pipelines = async_method(endpoints.list_pipelines)
    pause_pipeline = async_method(endpoints.pause_pipeline)
    resume_pipeline = async_method(endpoints.resume_pipeline)
    duplicate_pipeline = async_method(endpoints.duplicate_pipeline)
    remove_job_from_pipeline = async_method(endpoints.remove_job_from_pipeline)
    update_pipeline_settings = async_method(endpoints.update_pipeline_settings)
    create_schedule = async_method(endpoints.create_schedule)
    update_schedule = async_method(endpoints.update_schedule)
    delete_schedule = async_method(endpoints.delete_schedule)
    get_schedule = async_method(endpoints.get_schedule)
    list_schedules = async_method(endpoints.list_schedules)
    list_access_groups = async_method(endpoints.list_access_groups)
    create_access_group = async_method(endpoints.create_access_group)
    update_access_group = async_method(endpoints.update_access_group)
    delete_access_group = async_method(endpoints.delete_access_group)
    list_access_group_members = async_method(endpoints.list_access_group_members)
    add_access_group_member = async_method(endpoints.add_access_group_member)
    update_access_group_member = async_method(endpoints.update_access_group_member)
    remove_access_group_member = async_method(endpoints.remove_access_group_member)
    list_access_rules = async_method(endpoints.list_access_rules)
    create_access_rule = async_method(endpoints.create_access_rule)
    update_access_rule = async_method(endpoints.update_access_rule)
    delete_access_rule = async_method(endpoints.delete_access_rule)


#: The names of all API calls, in the order of :mod:`.endpoints`.
API_CALLS: tuple[str, ...] = tuple(
    name for name, value in vars(StudioApi).items() if not name.startswith("_") and callable(value)
)


class StudioClient(StudioApi):
    """A blocking Studio client: one pooled HTTP connection set, retries, typed results.

    :param config: URL, token, team and HTTP settings (see :meth:`StudioConfig.resolve`).
    :param transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(self, config: StudioConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._transport = SyncTransport(config, transport=transport)

    def _execute(self, make: RequestFactory[T]) -> T:
        return self.send(make(self.config.team))

    def send(self, request: ApiRequest[T]) -> T:
        """Send a request built by :mod:`.endpoints` (with retries) and return its result."""
        return self._transport.send(request)

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StudioClient(url={self.config.url!r}, team={self.config.team!r})"


class AsyncStudioClient(AsyncStudioApi):
    """The asyncio Studio client; the same calls as :class:`StudioClient`, as coroutines.

    :param config: URL, token, team and HTTP settings.
    :param transport: an httpx async transport to use instead of the network (tests).
    """

    def __init__(self, config: StudioConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = AsyncTransport(config, transport=transport)

    async def _execute(self, make: RequestFactory[T]) -> T:
        return await self.send(make(self.config.team))

    async def send(self, request: ApiRequest[T]) -> T:
        """Send a request built by :mod:`.endpoints` (with retries) and return its result."""
        return await self._transport.send(request)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncStudioClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncStudioClient(url={self.config.url!r}, team={self.config.team!r})"
