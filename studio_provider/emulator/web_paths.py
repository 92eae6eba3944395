"""Where Studio shows things to a person: the web paths of a team's jobs, pipelines and datasets.

The job path is the one Studio's job objects carry in ``url`` and the pipeline path the one the provider
builds from it; the dataset path is the emulator's own. Each path segment is percent-encoded, so a team or
a name can hold any character but ``/``. Standard library only: ``jobs`` builds job URLs with it.
"""

from __future__ import annotations

from urllib.parse import quote

TEAM_PREFIX = "/team/"


def _segment(value: str) -> str:
    return quote(value, safe="")


def team_path(team: str) -> str:
    """The team's overview page."""
    return f"{TEAM_PREFIX}{_segment(team)}"


def job_path(team: str, job_id: str) -> str:
    """``/team/<team>/datasets/jobs/<job_id>``."""
    return f"{team_path(team)}/datasets/jobs/{_segment(job_id)}"


def pipeline_path(team: str, pipeline_id: str) -> str:
    """``/team/<team>/datasets/pipelines/<pipeline_id>``."""
    return f"{team_path(team)}/datasets/pipelines/{_segment(pipeline_id)}"


def dataset_path(team: str, namespace: str, project: str, name: str) -> str:
    """``/team/<team>/datasets/dataset/<namespace>/<project>/<name>`` (the namespace with its ``@``)."""
    parts = "/".join(_segment(part) for part in (namespace, project, name))
    return f"{team_path(team)}/datasets/dataset/{parts}"


def is_page_path(path: str) -> bool:
    """Whether ``path`` is one of the pages (the index or anything under ``/team/``), not the API."""
    return path == "/" or path.startswith(TEAM_PREFIX)
