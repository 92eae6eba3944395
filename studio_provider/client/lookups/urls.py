"""Where Studio shows things: the web addresses of jobs and pipelines, checked before they are trusted.

A URL Studio sends (a job's or a pipeline's ``url``) ends up behind a button in Airflow's UI and in XCom,
so it is used only when it is an ``http``/``https`` URL on the connection's own Studio host; otherwise
the address is built from the connection (``<studio>/team/<team>/datasets/jobs/<id>``, and
``…/pipelines/<id>``), the layout Studio's pages use.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from ..config import StudioConfig
from ..models import Job, Pipeline

#: The longest URL accepted from the server.
MAX_URL = 2048


def web_url(config: StudioConfig) -> str:
    """Studio's web address: the API URL without its trailing ``/api``.

    :param config: the client configuration.
    """
    return config.url[: -len("/api")] if config.url.endswith("/api") else config.url


def trusted_url(config: StudioConfig, url: object) -> str | None:
    """``url`` when it is an ``http``/``https`` URL on the connection's Studio host (any port), else
    ``None``.

    :param config: the connection (its host is the one allowed).
    :param url: what the server sent.
    """
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(ord(char) < 0x21 for char in url):
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        allowed = (urlsplit(config.url).hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or host != allowed or parts.username:
        return None
    return url


def _page(config: StudioConfig, kind: str, object_id: str) -> str:
    team = quote(config.team, safe="")
    return f"{web_url(config)}/team/{team}/datasets/{kind}/{quote(str(object_id), safe='')}"


def job_url(config: StudioConfig, job: Job | str) -> str:
    """Where a job is shown in Studio: the server's ``url`` when :func:`trusted_url` accepts it, else
    ``<studio>/team/<team>/datasets/jobs/<job_id>``.

    :param config: the client configuration (URL and team).
    :param job: the job, or its id.
    """
    if isinstance(job, Job):
        sent = trusted_url(config, job.url)
        if sent is not None:
            return sent
        job = job.id
    return _page(config, "jobs", job)


def pipeline_url(config: StudioConfig, pipeline: Pipeline | str) -> str:
    """Where a pipeline is shown in Studio: the server's ``url`` when :func:`trusted_url` accepts it,
    else ``<studio>/team/<team>/datasets/pipelines/<pipeline_id>``.

    :param config: the client configuration (URL and team).
    :param pipeline: the pipeline, or its id.
    """
    if isinstance(pipeline, Pipeline):
        sent = trusted_url(config, pipeline.raw.get("url"))
        if sent is not None:
            return sent
        pipeline = pipeline.pipeline_id
    return _page(config, "pipelines", pipeline)


__all__ = ["MAX_URL", "job_url", "pipeline_url", "trusted_url", "web_url"]
