"""The pages a person reads behind the provider's links: a job, a pipeline run, a dataset, the index.

Fetched over real HTTP from a running emulator, without a token, from the loopback address; every value
that a job's author controls comes back escaped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pytest

from studio_provider.emulator import EmulatorServer
from studio_provider.emulator.app import create_app
from studio_provider.emulator.config import EmulatorConfig, is_loopback
from studio_provider.emulator.html_render import MAX_LOG_LINES
from studio_provider.emulator.runtime import Emulator
from tests.conftest import EMULATOR_OTHER_TEAM, EMULATOR_TEAM
from tests.emulator.helpers import client_for, create_job, wait_for, wait_job

pytestmark = pytest.mark.integration

HOSTILE_NAME = '<img src=x onerror="alert(1)">'
HOSTILE_LINE = "<script>alert('log')</script>"
HOSTILE_ERROR = "bad & <b>worse</b> \"quoted\" 'single'"


class Page(HTMLParser):
    """A fetched page: its text (tags dropped, entities decoded), its links, its element ids."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.links: dict[str, str] = {}
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self._text: list[str] = []
        self._href: str | None = None
        self._anchor: list[str] = []
        self.feed(source)
        self.text = "".join(self._text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a":
            self._href, self._anchor = values.get("href"), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links["".join(self._anchor)] = self._href
            self._href = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._href is not None:
            self._anchor.append(data)


def fetch(url: str, status: int = 200) -> Page:
    """GET a page with no token at all, as a browser would."""
    response = httpx.get(url, timeout=15)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    return Page(response.text)


def follow(server: EmulatorServer, page: Page, text: str) -> Page:
    href = page.links[text]
    assert href.startswith("/"), href  # links stay on the emulator, whatever its address
    return fetch(urljoin(server.url, href))


def simulated(client: httpx.Client, team: str, name: str, **env: Any) -> dict[str, Any]:
    lines = ["STUDIO_EMULATOR_EXECUTOR=simulated", "STUDIO_EMULATOR_DURATION=0.05"]
    lines += [f"STUDIO_EMULATOR_{key.upper()}={value}" for key, value in env.items()]
    return create_job(client, team, "print('simulated')", query_name=name, environment="\n".join(lines))


# ---- a job ------------------------------------------------------------------------------------------------


def test_a_failed_jobs_page_shows_what_happened_escaped(studio_emulator: EmulatorServer) -> None:
    query = (
        "import sys\n"
        f"print({HOSTILE_LINE!r})\n"
        "print('::dataset-write pages_written num_objects=7 size=3072')\n"
        f"sys.stderr.write({HOSTILE_ERROR!r} + '\\n')\n"
        "sys.exit(3)\n"
    )
    with client_for(studio_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, query, query_name=HOSTILE_NAME)
        done = wait_job(client, EMULATOR_TEAM, job["id"])
    assert done["status"] == "FAILED"
    # The URL the job carries (and the provider's extra link opens) is the page.
    assert urlsplit(job["url"]).path == f"/team/{EMULATOR_TEAM}/datasets/jobs/{job['id']}"
    page = fetch(job["url"])

    # Escaped: the hostile values show as text, and never as markup.
    assert HOSTILE_LINE in page.text and HOSTILE_NAME in page.text and HOSTILE_ERROR in page.text
    assert "&lt;script&gt;alert(&#x27;log&#x27;)&lt;/script&gt;" in page.source
    assert "<script" not in page.source and "<img" not in page.source and "<b>" not in page.source
    assert "script" not in page.tags and "img" not in page.tags
    # What a person looks for: the status, the times, the exit code, the error, the log lines.
    for label in ("status", "created", "started", "finished", "exit code", "error message"):
        assert label in page.text
    assert "FAILED" in page.text and "exit code3" in page.text.replace("\n", "")
    assert "::dataset-write pages_written num_objects=7 size=3072" in page.text
    assert page.text.count(HOSTILE_ERROR) >= 2  # the error message and the stderr tail
    # The dataset it wrote, linked to the dataset's page, which links back to the job.
    dataset = follow(studio_emulator, page, "@local.default.pages_written@v1.0.0")
    assert "v1.0.0" in dataset.ids
    assert "FAILED (3)" in dataset.text and "7" in dataset.text and "3.0 KiB" in dataset.text
    back = follow(studio_emulator, dataset, HOSTILE_NAME)
    assert HOSTILE_LINE in back.text and job["id"] in back.text


def test_a_running_job_page_reloads_itself_until_the_job_ends(studio_emulator: EmulatorServer, tmp_path: Any) -> None:
    gate = tmp_path / "gate"
    query = (
        "import os, time\nprint('started', flush=True)\n"
        f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.02)\n"
    )
    with client_for(studio_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, query, query_name="gated")
        wait_job(client, EMULATOR_TEAM, job["id"], ("RUNNING",))
        running = fetch(job["url"])
        gate.write_text("open")
        assert wait_job(client, EMULATOR_TEAM, job["id"])["status"] == "COMPLETE"
    assert '<meta http-equiv="refresh" content="2">' in running.source
    assert "RUNNING" in running.text
    finished = fetch(job["url"])
    assert "http-equiv" not in finished.source and "COMPLETE" in finished.text


def test_a_long_log_shows_its_newest_lines_and_says_how_many_are_hidden(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(executor="simulated")
    total = MAX_LOG_LINES + 3
    with client_for(server) as client:
        job = simulated(client, EMULATOR_TEAM, "chatty", log_lines=total)
        wait_job(client, EMULATOR_TEAM, job["id"])
    page = fetch(job["url"])
    assert "3 earlier lines are not shown." in page.text
    assert f"Simulated log line {total}/{total}" in page.text
    assert f"Simulated log line 3/{total}\n" not in page.text and f"Simulated log line 4/{total}" in page.text


def test_another_teams_job_and_unknown_ids_are_html_404s(studio_emulator: EmulatorServer) -> None:
    with client_for(studio_emulator) as client:
        job = create_job(client, EMULATOR_TEAM, "print('mine')", query_name="team-a-secret-name")
        wait_job(client, EMULATOR_TEAM, job["id"])
    base = studio_emulator.url
    other = fetch(f"{base}/team/{EMULATOR_OTHER_TEAM}/datasets/jobs/{job['id']}", 404)
    assert "team-a-secret-name" not in other.text
    fetch(f"{base}/team/{EMULATOR_TEAM}/datasets/jobs/no-such-job", 404)
    fetch(f"{base}/team/{EMULATOR_TEAM}/datasets/pipelines/no-such-pipeline", 404)
    fetch(f"{base}/team/{EMULATOR_TEAM}/datasets/dataset/%40local/default/no-such-dataset", 404)
    missing = fetch(f"{base}/team/{quote('<b>nobody</b>', safe='')}", 404)
    assert "<b>nobody</b>" in missing.text and "<b>" not in missing.source
    elsewhere = fetch(f"{base}/team/<b>nobody</b>/x", 404)  # no such page at all
    assert "<b>nobody</b>/x" in elsewhere.text and "<b>" not in elsewhere.source


# ---- a pipeline run ---------------------------------------------------------------------------------------


def test_a_pipeline_runs_page_lists_its_job_runs_and_links_their_jobs(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(executor="simulated")
    with client_for(server) as client:
        raw = simulated(client, EMULATOR_TEAM, "make-raw", writes="pg_raw")
        wait_job(client, EMULATOR_TEAM, raw["id"])
        clean = simulated(client, EMULATOR_TEAM, "make <clean>", reads="pg_raw", writes="pg_clean")
        wait_job(client, EMULATOR_TEAM, clean["id"])
        body = {"datasets": ["pg_clean"], "team_name": EMULATOR_TEAM}
        definition = client.post("/datachain/pipeline/trigger", json=body).json()["pipeline"]
        run = client.post(
            "/datachain/pipeline/run", json={"definition_id": definition["pipeline_id"], "team_name": EMULATOR_TEAM}
        ).json()["pipeline"]

        def finished() -> dict[str, Any] | None:
            data = client.get(
                "/datachain/pipeline/status", params={"team_name": EMULATOR_TEAM, "pipeline_id": run["pipeline_id"]}
            ).json()
            return data if data["status"] == "COMPLETED" else None

        done = wait_for(finished, what="the pipeline run to complete")
    page = fetch(f"{server.url}/team/{EMULATOR_TEAM}/datasets/pipelines/{run['pipeline_id']}")
    assert run["name"] in page.text and "COMPLETED" in page.text and "2 of 2" in page.text
    assert "make <clean>" in page.text and "<clean>" not in page.source
    assert page.text.count("COMPLETE") >= 3  # the run, and each job run
    # Each job run links the job this run started for it, and the original job it re-runs.
    for item in done["job_runs"]:
        assert item["created_job_id"] != item["job_id"]
        assert page.links[item["created_job_id"]].endswith(f"/datasets/jobs/{item['created_job_id']}")
        assert page.links[item["job_id"]].endswith(f"/datasets/jobs/{item['job_id']}")
    created = {item["name"]: item["created_job_id"] for item in done["job_runs"]}
    job_page = follow(server, page, created["make-raw"])
    assert "make-raw" in job_page.text and "COMPLETE" in job_page.text
    assert job_page.links[run["name"]].endswith(run["pipeline_id"])  # back to the pipeline
    # The definition lists this run.
    definition_page = follow(server, page, definition["name"])
    assert "definition" in definition_page.text and run["pipeline_id"] in definition_page.links


# ---- the index and a team -----------------------------------------------------------------------------------


def test_the_index_lists_every_teams_recent_jobs_pipelines_and_datasets(
    emulator_factory: Callable[..., EmulatorServer],
) -> None:
    server = emulator_factory(executor="simulated")
    with client_for(server) as client:
        job = simulated(client, EMULATOR_TEAM, "indexed <job>", writes="idx_ds")
        wait_job(client, EMULATOR_TEAM, job["id"])
        definition = client.post(
            "/datachain/pipeline/trigger", json={"datasets": ["idx_ds"], "team_name": EMULATOR_TEAM}
        ).json()["pipeline"]
    index = fetch(server.url + "/")
    assert f"Team {EMULATOR_TEAM}" in index.text and f"Team {EMULATOR_OTHER_TEAM}" in index.text
    assert "indexed <job>" in index.links and definition["name"] in index.links
    assert "@local.default.idx_ds" in index.links
    assert "No jobs yet." in index.text  # team B has none
    team = follow(server, index, "indexed <job>")
    assert "indexed <job>" in team.text
    team_page = fetch(f"{server.url}/team/{EMULATOR_TEAM}")
    assert "indexed <job>" in team_page.links and f"Team {EMULATOR_OTHER_TEAM}" not in team_page.text


# ---- who may see them ---------------------------------------------------------------------------------------


def test_pages_need_no_token_but_the_api_still_does(studio_emulator: EmulatorServer) -> None:
    assert httpx.get(studio_emulator.url + "/", timeout=15).status_code == 200
    api = httpx.get(f"{studio_emulator.api_url}/datachain/jobs/", params={"team_name": EMULATOR_TEAM}, timeout=15)
    assert api.status_code == 401
    assert api.json() == {"message": "Authentication credentials were not provided."}


def test_a_forwarding_header_cannot_make_a_client_remote_or_local(studio_emulator: EmulatorServer) -> None:
    # The socket's peer decides; a header is not believed either way.
    response = httpx.get(studio_emulator.url + "/", headers={"X-Forwarded-For": "192.0.2.9"}, timeout=15)
    assert response.status_code == 200


def _asgi_get(app: Any, path: str, client: tuple[str, int]) -> tuple[int, bytes]:
    """One GET straight into the ASGI app, from the peer ``client`` (no socket can fake a remote peer here)."""
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver")], "client": client, "server": ("127.0.0.1", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return status[0], b"".join(body)


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("192.0.2.7", False), ("10.0.0.1", False), ("fd00::2", False), ("::ffff:192.0.2.7", False), ("", False)],
)
def test_pages_answer_only_the_loopback_address(tmp_path: Any, peer: str, allowed: bool) -> None:
    config = EmulatorConfig(tokens={"t": ["team-x"]}, executor="simulated", host="0.0.0.0", data_dir=tmp_path)
    emulator = Emulator(config)
    app = create_app(config, emulator=emulator)
    for path in ("/", "/team/team-x", "/team/team-x/datasets/jobs/j", "/team/team-x/datasets/pipelines/p"):
        status, body = _asgi_get(app, path, (peer, 5000))
        if allowed:
            assert status in (200, 404), (path, status)
        else:
            assert status == 403, (path, status)
            assert b"loopback" in body and b"team-x" not in body
    assert is_loopback(peer) is allowed


def test_pages_are_never_faulted_nor_counted(emulator_factory: Callable[..., EmulatorServer]) -> None:
    server = emulator_factory(executor="simulated")
    server.injector.add_rule("outage", seconds=60)
    server.injector.reset_observations()
    assert httpx.get(server.url + "/", timeout=15).status_code == 200
    assert httpx.get(f"{server.url}/team/{EMULATOR_TEAM}", timeout=15).status_code == 200
    assert server.injector.counters()["total"] == 0
    with client_for(server) as client:
        assert client.get("/datachain/clusters/", params={"team_name": EMULATOR_TEAM}).status_code == 503
