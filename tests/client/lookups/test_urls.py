"""Web addresses of Studio objects: the server's URL only when it is on the connection's Studio host."""

from __future__ import annotations

import pytest

from studio_provider.client import Job, StudioConfig
from studio_provider.client.lookups import job_url, pipeline_url, trusted_url
from tests.pipeline_helpers import pipeline_reading

CONFIG = StudioConfig.resolve(url="https://studio.example.com", token="t", team="my team")


def test_pipeline_url_prefers_the_servers_and_otherwise_follows_the_job_pages() -> None:
    assert pipeline_url(CONFIG, "p/1") == "https://studio.example.com/team/my%20team/datasets/pipelines/p%2F1"
    sent = pipeline_reading("RUNNING", [], url="https://studio.example.com/x")
    assert pipeline_url(CONFIG, sent) == "https://studio.example.com/x"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example.net/team/x/datasets/jobs/1",
        "https://studio.example.com.evil.net/jobs/1",
        "https://user:pw@studio.example.com/jobs/1",
        "ftp://studio.example.com/jobs/1",
        "//studio.example.com/jobs/1",
        "https://studio.example.com/jobs/1\njavascript:x",
        "https://studio.example.com:99999/jobs/1",
        "https://studio.example.com/" + "x" * 3000,
        "",
        None,
        42,
    ],
)
def test_an_untrusted_server_url_is_replaced_by_the_built_one(url: object) -> None:
    assert trusted_url(CONFIG, url) is None
    job = Job.from_dict({"id": "42", "status": "RUNNING", "url": url if isinstance(url, str) else None})
    assert job_url(CONFIG, job) == "https://studio.example.com/team/my%20team/datasets/jobs/42"
    reading = pipeline_reading("RUNNING", [], url=url)
    assert pipeline_url(CONFIG, reading) == "https://studio.example.com/team/my%20team/datasets/pipelines/p-1"


def test_a_server_url_on_the_studio_host_is_kept_whatever_its_port_or_scheme() -> None:
    for url in ("https://studio.example.com/team/t/datasets/jobs/42", "http://STUDIO.example.com:8080/j/42"):
        assert trusted_url(CONFIG, url) == url
        assert job_url(CONFIG, Job.from_dict({"id": "42", "status": "RUNNING", "url": url})) == url
