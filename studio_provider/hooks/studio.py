"""Airflow hooks for DataChain Studio: the ``datachain_studio`` connection type.

The hooks only turn an Airflow connection into a :class:`~studio_provider.client.StudioConfig`; every
API call comes from :mod:`studio_provider.client`, so ``StudioHook`` (blocking, for operators) and
``StudioAsyncHook`` (coroutines, for triggers) offer the same methods with the same arguments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from studio_provider.client import (
    AsyncStudioApi,
    AsyncStudioClient,
    StudioApi,
    StudioAuthenticationError,
    StudioClient,
    StudioConfig,
    StudioError,
    StudioTLSError,
    StudioTransportError,
)
from studio_provider.client.api import RequestFactory
from studio_provider.client.config import DEFAULT_URL, ENV_TEAM, ENV_TOKEN
from studio_provider.compat import AirflowNotFoundException, aget_connection, mask_secret

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")

CONN_TYPE = "datachain_studio"
DEFAULT_CONN_ID = "datachain_studio_default"
EXTRA_FIELDS = ("team", "auth_scheme", "timeout", "verify", "max_retries")


def connection_extras(conn: Connection | None) -> dict[str, Any]:
    """The connection's extras, accepting both plain keys and the UI's ``extra__datachain_studio__``
    prefixed form."""
    if conn is None:
        return {}
    raw = conn.extra_dejson if isinstance(conn.extra_dejson, Mapping) else {}
    extras: dict[str, Any] = {}
    for key in EXTRA_FIELDS:
        value = raw.get(key)
        if value in (None, ""):
            value = raw.get(f"extra__{CONN_TYPE}__{key}")
        if value not in (None, ""):
            extras[key] = value
    return extras


def _connection_url(conn: Connection) -> str | None:
    """The Studio URL from the host field; a host given without a scheme gets one from ``schema``
    (``http``/``https``) or ``https``, and the port field is kept."""
    host = (conn.host or "").strip()
    if not host:
        return None
    if "://" in host:
        return host
    scheme = conn.schema if conn.schema in ("http", "https") else "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}"


def config_from_connection(conn: Connection | None, *, team: str | None = None) -> StudioConfig:
    """Build a checked :class:`StudioConfig` from an Airflow connection, falling back to the
    ``DATACHAIN_STUDIO_*`` environment variables for what the connection lacks.

    :param conn: the connection, or ``None`` to use the environment only.
    :param team: a team overriding the connection's ``team`` extra.
    :raises ValueError: when the token or team is missing, or a setting is invalid.
    """
    extras = connection_extras(conn)
    source = f"Airflow connection {conn.conn_id!r}" if conn is not None else "the environment"
    config = StudioConfig.resolve(
        url=_connection_url(conn) if conn is not None else None,
        token=conn.password if conn is not None else None,
        team=team or extras.get("team"),
        extras=extras,
        source=source,
    )
    # A token from the environment is not masked by Airflow on its own, unlike a connection password.
    mask_secret(config.token)
    return config


class _StudioConnection:
    """What both hooks share: the connection type, its form, and settings resolution."""

    conn_name_attr = "studio_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "DataChain Studio"

    def __init__(
        self, studio_conn_id: str = DEFAULT_CONN_ID, *, team: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.studio_conn_id = studio_conn_id
        self.team = team

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow 3.1 (3.2+ reads ``ui-field-behaviour`` from the provider
        info)."""
        return {
            "hidden_fields": ["login", "schema", "port"],
            "relabeling": {"host": "Studio URL", "password": "Token"},
            "placeholders": {
                "host": DEFAULT_URL,
                "password": "Studio token (datachain auth token)",
                "team": "my-team",
                "auth_scheme": "Bearer",
                "timeout": "30",
                "max_retries": "3",
            },
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form on Airflow 3.1 (3.2+ reads ``conn-fields``).

        The form libraries live in the optional FAB package; without it Airflow skips the widgets.
        """
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, StringField

        return {
            "team": StringField(lazy_gettext("Team"), widget=BS3TextFieldWidget()),
            "auth_scheme": StringField(
                lazy_gettext("Auth scheme (Bearer or token)"), widget=BS3TextFieldWidget()
            ),
            "timeout": IntegerField(lazy_gettext("Timeout (seconds)"), widget=BS3TextFieldWidget()),
            "verify": BooleanField(lazy_gettext("Verify TLS certificates"), default=True),
            "max_retries": IntegerField(lazy_gettext("Max retries"), widget=BS3TextFieldWidget()),
        }

    def _resolve_config(self, conn: Connection | None) -> StudioConfig:
        return config_from_connection(conn, team=self.team)

    def _fallback_allowed(self, exc: AirflowNotFoundException) -> None:
        # The default connection may be absent when everything comes from DATACHAIN_STUDIO_* variables.
        if self.studio_conn_id == DEFAULT_CONN_ID and os.environ.get(ENV_TOKEN):
            return
        create = (
            f"The Airflow connection {self.studio_conn_id!r} is not defined. Create a '{CONN_TYPE}' "
            f"connection with that id (UI, `airflow connections add`, or an "
            f"AIRFLOW_CONN_{self.studio_conn_id.upper()} environment variable)"
        )
        if self.studio_conn_id == DEFAULT_CONN_ID:
            # Only the default connection may come from the DataChain CLI's variables alone.
            raise AirflowNotFoundException(f"{create}, or set {ENV_TOKEN} and {ENV_TEAM}.") from exc
        raise AirflowNotFoundException(
            f"{create}. ({ENV_TOKEN} and {ENV_TEAM} stand in only for the default connection, "
            f"{DEFAULT_CONN_ID!r}.)"
        ) from exc


class StudioHook(_StudioConnection, BaseHook, StudioApi):
    """Interact with DataChain Studio: jobs, pipelines, schedules, datasets and access control.

    Every method of :class:`~studio_provider.client.StudioApi` is available (``create_job``,
    ``get_job``, ``list_jobs``, ``trigger_pipeline``, ...), with the API reference's argument names.

    :param studio_conn_id: the ``datachain_studio`` connection to use.
    :param team: the team to work in, overriding the connection's ``team`` extra.
    """

    @cached_property
    def config(self) -> StudioConfig:
        """The resolved settings (the connection, then the environment)."""
        try:
            conn: Connection | None = self.get_connection(self.studio_conn_id)
        except AirflowNotFoundException as exc:
            self._fallback_allowed(exc)
            conn = None
        return self._resolve_config(conn)

    @cached_property
    def client(self) -> StudioClient:
        """The hook's client: one pooled set of HTTP connections, reused by every call."""
        return StudioClient(self.config)

    def get_conn(self) -> StudioClient:
        """Return the Studio client (Airflow's hook protocol)."""
        return self.client

    def _execute(self, make: RequestFactory[T]) -> T:
        return self.client.send(make(self.config.team))

    def close(self) -> None:
        """Close pooled connections, if any were opened."""
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap call (list one job) and say what happened in words a user can act on."""
        try:
            config = self.config
            self.list_jobs(limit=1)
        except ValueError as exc:
            return False, f"Invalid configuration: {exc}"
        except AirflowNotFoundException as exc:
            return False, str(exc)
        except StudioAuthenticationError as exc:
            if exc.status == 403:
                return False, (
                    f"Access denied (403): the token is valid but has no access to team "
                    f"{self.config.team!r}. Check the 'team' extra and the token's scopes. "
                    f"Studio said: {exc.server_message}"
                )
            return False, (
                f"Authentication failed (401): Studio at {self.config.url} rejected the token. "
                f"Check the connection's password. Studio said: {exc.server_message}"
            )
        except StudioTLSError as exc:
            return False, f"TLS error: {exc}"
        except StudioTransportError as exc:
            return False, f"Studio is unreachable: {exc}"
        except StudioError as exc:
            return False, f"Studio answered with an error: {exc}"
        finally:
            self.close()
        return True, f"Connected to DataChain Studio at {config.url} as team {config.team!r}."

    def __repr__(self) -> str:
        return f"StudioHook(studio_conn_id={self.studio_conn_id!r})"


class StudioAsyncHook(_StudioConnection, BaseHook, AsyncStudioApi):
    """The asyncio twin of :class:`StudioHook`, for triggers: the same methods, as coroutines.

    The connection is read without blocking the event loop.

    :param studio_conn_id: the ``datachain_studio`` connection to use.
    :param team: the team to work in, overriding the connection's ``team`` extra.
    """

    def __init__(
        self, studio_conn_id: str = DEFAULT_CONN_ID, *, team: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(studio_conn_id, team=team, **kwargs)
        self._config: StudioConfig | None = None
        self._client: AsyncStudioClient | None = None

    async def get_config(self) -> StudioConfig:
        """The resolved settings (the connection, then the environment)."""
        if self._config is None:
            try:
                conn: Connection | None = await aget_connection(self.studio_conn_id)
            except AirflowNotFoundException as exc:
                self._fallback_allowed(exc)
                conn = None
            self._config = self._resolve_config(conn)
        return self._config

    async def get_async_conn(self) -> AsyncStudioClient:
        """The hook's async client, created on first use in the running event loop."""
        if self._client is None:
            self._client = AsyncStudioClient(await self.get_config())
        return self._client

    async def _execute(self, make: RequestFactory[T]) -> T:
        client = await self.get_async_conn()
        return await client.send(make(client.config.team))

    async def aclose(self) -> None:
        """Close pooled connections, if any were opened."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def __repr__(self) -> str:
        return f"StudioAsyncHook(studio_conn_id={self.studio_conn_id!r})"
