"""What a job operator sends besides its script: files found where the DAG lives, ``.env`` and requirements
files as the ``datachain`` CLI reads them, and the Airflow context the job can see.

Everything here only reads local files and the task's context; nothing is sent. Errors name the parameter
and the fix (:class:`~studio_provider.exceptions.StudioInputError`: retrying cannot help).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from studio_provider.exceptions import StudioInputError

log = logging.getLogger(__name__)

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def dag_folder(context: Mapping[str, Any]) -> Path | None:
    """The folder of the DAG file the task belongs to (``None`` when unknown)."""
    fileloc = getattr(context.get("dag"), "fileloc", None)
    return Path(fileloc).resolve().parent if isinstance(fileloc, str) and fileloc else None


def local_path(name: str, value: object, base: Path | None) -> Path:
    """A local file given as ``value``: ``~`` expanded, a relative path taken from the DAG file's folder.

    :param name: the parameter, for messages.
    :param value: the path.
    :param base: the DAG file's folder (``None``: the worker's current directory).
    :raises StudioInputError: when it is not an existing file.
    """
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise StudioInputError(f"{name} must be a path to a local file, got {value!r}.")
    path = Path(str(value)).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        where = f" (relative paths start at the DAG file's folder, {base})" if base is not None else ""
        raise StudioInputError(f"{name}: {str(path)!r} does not exist or is not a file{where}; check the path.")
    return path


def local_paths(name: str, values: object, base: Path | None) -> list[Path]:
    """Several local files (see :func:`local_path`)."""
    if values in (None, "", []):
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise StudioInputError(f"{name} must be a list of local paths, got {values!r}.")
    return [local_path(name, item, base) for item in values]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``#`` comments, blank lines, ``export`` and quotes allowed),
    as ``datachain job run --env-file`` reads it.

    :raises StudioInputError: naming the line that is not ``KEY=VALUE``.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise StudioInputError(f"env_file {str(path)!r} line {number} is not KEY=VALUE: {line[:80]!r}.")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def read_requirements_file(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file (comments and blank lines dropped), as
    ``datachain job run --req-file`` reads it."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split(" #", 1)[0].strip()
        if text and not text.startswith("#"):
            lines.append(text)
    return lines


def airflow_environment(context: Mapping[str, Any], *, with_params: bool) -> dict[str, str]:
    """The DAG run's identity as environment variables, named as Airflow names them for a task's own
    process (``AIRFLOW_CTX_DAG_ID``, ``AIRFLOW_CTX_DAG_RUN_ID``, ``AIRFLOW_CTX_TASK_ID``,
    ``AIRFLOW_CTX_TRY_NUMBER``, ``AIRFLOW_CTX_LOGICAL_DATE`` when the run has one, ``AIRFLOW_CTX_MAP_INDEX``
    for a mapped task), the DAG's ``params`` as JSON in ``AIRFLOW_CTX_PARAMS`` when asked, and OpenLineage
    parent run information when the OpenLineage provider is installed (as the Databricks operator passes it).

    :param context: the task's context.
    :param with_params: add the DAG's ``params``.
    """
    ti = context.get("ti")
    values: dict[str, Any] = {
        "AIRFLOW_CTX_DAG_ID": getattr(ti, "dag_id", None),
        "AIRFLOW_CTX_DAG_RUN_ID": getattr(ti, "run_id", None),
        "AIRFLOW_CTX_TASK_ID": getattr(ti, "task_id", None),
        "AIRFLOW_CTX_TRY_NUMBER": getattr(ti, "try_number", None),
    }
    map_index = getattr(ti, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        values["AIRFLOW_CTX_MAP_INDEX"] = map_index
    logical_date = context.get("logical_date")
    if logical_date is not None:
        values["AIRFLOW_CTX_LOGICAL_DATE"] = logical_date.isoformat() if hasattr(logical_date, "isoformat") else logical_date
    if with_params:
        params = context.get("params") or {}
        try:
            values["AIRFLOW_CTX_PARAMS"] = json.dumps(dict(params), default=str, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise StudioInputError(f"pass_dag_params: the DAG's params cannot be passed as JSON ({exc}).") from exc
    values.update(openlineage_parent(ti))
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def openlineage_parent(ti: Any) -> dict[str, str]:
    """OpenLineage's parent run of the job (this task's run), when the OpenLineage provider is installed."""
    try:
        from airflow.providers.openlineage.plugins import macros
    except ImportError:
        return {}
    try:
        return {  # the provider's macros are untyped
            "OPENLINEAGE_PARENT_JOB_NAMESPACE": str(macros.lineage_job_namespace()),  # type: ignore[no-untyped-call]
            "OPENLINEAGE_PARENT_JOB_NAME": str(macros.lineage_job_name(ti)),
            "OPENLINEAGE_PARENT_RUN_ID": str(macros.lineage_run_id(ti)),
            "OPENLINEAGE_ROOT_PARENT_JOB_NAMESPACE": str(macros.lineage_root_job_namespace(ti)),
            "OPENLINEAGE_ROOT_PARENT_JOB_NAME": str(macros.lineage_root_job_name(ti)),
            "OPENLINEAGE_ROOT_PARENT_RUN_ID": str(macros.lineage_root_run_id(ti)),
        }
    except Exception as exc:  # lineage is a convenience: the job runs without it
        log.info("No OpenLineage parent run information for the job (%s).", exc)
        return {}


__all__ = [
    "airflow_environment",
    "dag_folder",
    "local_path",
    "local_paths",
    "openlineage_parent",
    "read_env_file",
    "read_requirements_file",
]
