"""Names that moved between the supported Airflow releases (3.1 to 3.3), imported from one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined,no-redef]


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker, wherever this Airflow keeps it."""
    try:
        from airflow.sdk.log import mask_secret as _mask_secret
    except ImportError:  # pragma: no cover - older layouts
        try:
            from airflow.sdk.execution_time.secrets_masker import (  # type: ignore[no-redef]
                mask_secret as _mask_secret,
            )
        except ImportError:
            return
    _mask_secret(secret)


async def aget_connection(conn_id: str) -> Connection:
    """Read a connection without blocking the event loop.

    Airflow 3.1.0's ``BaseHook.aget_connection`` needs the task supervisor even for connections that a
    secrets backend (such as ``AIRFLOW_CONN_*`` variables) holds, so outside a supervised process it
    fails with an ImportError; the blocking lookup, run in a worker thread, works there.
    """
    from airflow.sdk import BaseHook

    try:
        return await BaseHook.aget_connection(conn_id)
    except ImportError:
        from asgiref.sync import sync_to_async

        return await sync_to_async(BaseHook.get_connection)(conn_id)


__all__ = ["AirflowNotFoundException", "aget_connection", "mask_secret"]
