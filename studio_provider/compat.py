"""Names that moved between the supported Airflow releases (3.1 to 3.3), imported from one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[attr-defined,no-redef]
        AirflowNotFoundException,
        AirflowSkipException,
    )


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, the default of every ``deferrable`` parameter."""
    try:
        from airflow.sdk import conf
    except ImportError:  # pragma: no cover - Airflow 3.1 keeps it in core
        from airflow.configuration import conf  # type: ignore[no-redef,assignment]
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


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


def task_state_store(context: Mapping[str, Any]) -> Any | None:
    """The task's ``task_state_store`` (Airflow 3.3+; shared by every try of one task instance), or
    ``None`` on older Airflow, where the submission rule falls back to a marker lookup."""
    return context.get("task_state_store")


async def atask_instance_state(ti: Any) -> str | None:
    """The current state of the task instance ``ti`` (a trigger's ``task_instance``) in Airflow's database,
    read from a trigger without blocking the loop (``None``: no state, as after a clear).

    :raises LookupError: when this Airflow or process cannot tell (outside a triggerer, an older layout),
        or the task instance is not there.
    """
    from asgiref.sync import sync_to_async

    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    except ImportError as exc:  # pragma: no cover - older layouts
        raise LookupError(f"this Airflow cannot read task states from a trigger ({exc})") from exc
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else int(map_index)
    states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
        dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index
    )
    key = ti.task_id if map_index < 0 else f"{ti.task_id}_{map_index}"
    by_task = states.get(ti.run_id) or {}
    if key not in by_task:
        raise LookupError(f"no task instance {ti.dag_id}/{ti.run_id}/{key}")
    state = by_task[key]
    return None if state is None else str(getattr(state, "value", state))


def nested_event_extras_supported() -> bool:
    """Whether an asset event's ``extra`` may hold a nested dict when it is recorded through an
    ``AssetAlias``: Airflow before 3.1.2 hashes the extra's values there and fails on a dict
    (apache/airflow#57352)."""
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    return Version(airflow_version).release >= (3, 1, 2)


def trigger_on_kill_supported() -> bool:
    """Whether the triggerer calls ``BaseTrigger.on_kill()`` when a user kills a deferred task (3.3+)."""
    from airflow.triggers.base import BaseTrigger

    return callable(getattr(BaseTrigger, "on_kill", None))


def _xcom_backend() -> Any | None:
    try:
        from airflow.sdk.execution_time.xcom import XCom
    except ImportError:  # pragma: no cover - older layouts
        return None
    return XCom if callable(getattr(XCom, "aset", None)) and callable(getattr(XCom, "aget_one", None)) else None


async def aset_task_xcom(ti: Any, key: str, value: Any) -> bool:
    """Store an XCom of the task instance ``ti`` (a trigger's ``task_instance``) without blocking the loop;
    ``False`` where this Airflow (or the process) cannot (only a triggerer's triggers can, on 3.3+)."""
    backend = _xcom_backend()
    if backend is None or ti is None:
        return False
    await backend.aset(
        key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=getattr(ti, "map_index", -1)
    )
    return True


async def aget_task_xcom(ti: Any, key: str) -> Any:
    """Read an XCom of the task instance ``ti`` without blocking the loop (``None`` where it cannot)."""
    backend = _xcom_backend()
    if backend is None or ti is None:
        return None
    return await backend.aget_one(
        key=key, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=getattr(ti, "map_index", -1)
    )


def get_xcom_value(ti_key: Any, key: str) -> Any:
    """Read one XCom of a task instance from an operator link's ``get_link`` (which runs on the worker at
    the end of every try); ``None`` when the task pushed none.

    ``XCom.get_value`` asks for the one entry, and when there is none (a task that failed before it
    submitted anything) Airflow's task client logs ``[error] XCom not found`` in the task log. The task's
    entries of ``key`` over all map indexes (``XCom.get_all``) come back empty instead, without an error:
    asked first, they settle the usual cases (none, or an unmapped task's one value).
    """
    try:
        from airflow.sdk.execution_time.xcom import XCom
    except ImportError:  # pragma: no cover - older layouts
        from airflow.sdk.bases.xcom import BaseXCom as XCom  # type: ignore[no-redef]
    get_all = getattr(XCom, "get_all", None)
    if callable(get_all):
        values = get_all(key=key, dag_id=ti_key.dag_id, task_id=ti_key.task_id, run_id=ti_key.run_id)
        if not values:
            return None
        if getattr(ti_key, "map_index", -1) < 0 and len(values) == 1:
            return values[0]
    # A mapped task whose instances pushed: read this instance's own entry.
    return XCom.get_value(ti_key=ti_key, key=key)


__all__ = [
    "AirflowNotFoundException",
    "AirflowSkipException",
    "aget_connection",
    "aget_task_xcom",
    "aset_task_xcom",
    "default_deferrable",
    "get_xcom_value",
    "mask_secret",
    "task_state_store",
    "trigger_on_kill_supported",
]
