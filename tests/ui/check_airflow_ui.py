"""`make test-ui`: the `make up` stack checked as a person would, in a real browser.

Starts the `make up` stack (tools/stack.py: the Studio emulator and Airflow's components) on free ports,
triggers ``studio_etl_chain`` through Airflow's REST API and waits for it to succeed (scheduler, worker and
triggerer as real processes), then drives headless Debian Chromium with Playwright through the UI: log in,
find the stack's ``datachain_studio_default`` connection in Admin > Connections, open its form (its Standard
and Extra Fields), press its Test button (it must succeed), check what Test shows for a connection without
a port, read the task log's Studio lines, follow the "DataChain Studio Job" link to the emulator's page of
that job (its status and log lines). The screenshots the documentation shows are written to
``docs/images/`` (each is used by a page there); the others go to ``airflow-home/test-ui/screenshots/``.

The file name keeps it out of plain ``pytest`` and ``make test`` (it needs Chromium and a few minutes);
`make test-ui` names it explicitly.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
from tools.local_studio import CONN_ID, TEAM, TOKEN, port_is_free  # noqa: E402
from tools.stack import DEFAULT_PORT, DEFAULT_STUDIO_PORT, PASSWORD, USER, Stack  # noqa: E402

HOME = ROOT / "airflow-home" / "test-ui"
SHOTS = HOME / "screenshots"
#: The screenshots the documentation shows (docs/*.md use each of them).
DOC_IMAGES = ROOT / "docs" / "images"
DAG_ID = "studio_etl_chain"
CHROMIUM = "/usr/bin/chromium"
# What the machine's probe used to run Chromium headless as root in a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PORTLESS_CONN_ID = "datachain_studio_without_port"

pytestmark = pytest.mark.timeout(900)


def stack_class() -> type[Stack]:
    """``tools.stack.Stack``, or with ``STUDIO_UI_STACK=production`` (``make test-ui-production``) the
    production-shaped stack of ``tools/production_stack.py``, which has the same interface."""
    if os.environ.get("STUDIO_UI_STACK") == "production":
        from tools.production_stack import ProductionStack

        return ProductionStack  # type: ignore[return-value]
    return Stack


def doc_image(name: str) -> Path:
    """Where a screenshot the documentation shows goes: ``docs/images`` for the `make up` stack (the one the
    pages describe), the screenshots folder for another stack."""
    folder = DOC_IMAGES if stack_class() is Stack else SHOTS
    return folder / name


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    cls = stack_class()
    ports: dict[str, int | None] = {}
    if cls is Stack:
        # `make up`'s ports when they are free, so the screenshots show the URLs a user sees; free ones otherwise.
        ports = {
            name: port if port_is_free(port) else None
            for name, port in (("port", DEFAULT_PORT), ("studio_port", DEFAULT_STUDIO_PORT))
        }
    with cls(HOME, **ports) as running:
        SHOTS.mkdir(parents=True, exist_ok=True)
        yield running


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    # Generous: on a busy machine SQLite's write lock can hold a request for its 30 s busy timeout.
    with stack.client(timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def dag_run(api: httpx.Client) -> dict[str, Any]:
    """One run of studio_etl_chain, triggered through the REST API, finished."""
    assert api.patch(f"/api/v2/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
    created = api.post(f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None})
    assert created.status_code == 200, created.text
    run_id = created.json()["dag_run_id"]
    deadline = time.monotonic() + 420
    state = "queued"
    while time.monotonic() < deadline and state not in ("success", "failed"):
        time.sleep(3)
        state = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
    tasks = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert state == "success", {task["task_id"]: task["state"] for task in tasks}
    return {"run_id": run_id, "tasks": {task["task_id"]: task for task in tasks}}


@pytest.fixture(scope="module")
def portless_connection(stack: Stack, api: httpx.Client) -> dict[str, Any]:
    """A datachain_studio connection to the emulator without a port, as the UI's form stores one."""
    body = {
        "connection_id": PORTLESS_CONN_ID,
        "conn_type": "datachain_studio",
        "host": stack.studio_url,
        "password": TOKEN,
        "extra": json.dumps({"team": TEAM}),
    }
    assert api.post("/api/v2/connections", json=body).status_code == 201
    return body


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(stack: Stack, browser: Any) -> Iterator[Any]:
    """A logged-in page (the simple auth manager's login form)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(stack.url)
    # The UI redirects to the login form in steps; waiting for the form itself rides out an aborted step.
    page.locator("input[name=username]").wait_for(timeout=60_000)
    assert "/auth/login" in page.url, page.url
    page.screenshot(path=str(SHOTS / "login.png"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
    yield page
    context.close()


#: The extra fields of the connection form, as the provider declares them (conn-fields).
EXTRA_FIELD_LABELS = ("Team", "Auth scheme", "Timeout (seconds)", "Verify TLS certificates", "Max retries")


def test_connection_is_listed_and_its_test_button_works(stack: Stack, page: Any) -> None:
    """The connection `make up` stores is in Admin > Connections, its form shows the provider's fields (the
    standard ones and every extra one), and the list's Test button reaches the provider's
    test_connection() (the stored port makes Airflow 3.3.2's request match the stored connection)."""
    page.goto(f"{stack.url}/connections")
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    row.first.wait_for(timeout=30_000)
    listed = row.first.inner_text()
    assert "datachain_studio" in listed and stack.studio_url.split("://")[1] in listed, listed
    page.wait_for_timeout(500)
    page.screenshot(path=str(doc_image("connections-list.png")))
    page.set_viewport_size({"width": 1400, "height": 1250})  # the whole form, without scrolling
    row.first.get_by_role("button", name="Edit Connection").click()
    for label in ("Studio URL", "Token"):
        page.get_by_text(label, exact=True).first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(doc_image("connection-form.png")))
    # Every extra field: Airflow 3.3's Edit form shows those the stored extra holds (make up stores all).
    page.get_by_text("Extra Fields", exact=True).click()
    for label in EXTRA_FIELD_LABELS:
        page.get_by_text(label, exact=True).first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(doc_image("connection-extra-fields.png")))
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 1400, "height": 900})

    row.first.get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope=toast][data-part=root]")
    toast.first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(doc_image("connection-test-button.png")))
    shown = " | ".join(text.replace("\n", ": ") for text in toast.all_inner_texts())
    assert "Test Connection Successful" in shown, shown
    assert f"as team '{TEAM}'" in shown, shown


def test_test_button_on_a_connection_without_a_port(
    stack: Stack, api: httpx.Client, portless_connection: dict[str, Any], page: Any
) -> None:
    """What docs/connection.md says of a connection without a port (any one added through the form): Airflow
    3.3.2's Test button answers "Bad Request" (its UI sends port 0 and the masked password, fixed upstream by
    apache/airflow PR 73298); the API with the full body, which the CLI's test matches, reaches
    test_connection(). A newer Airflow must show success."""
    tested = api.post("/api/v2/connections/test", json=portless_connection).json()
    assert tested["status"] is True, tested
    assert f"as team '{TEAM}'" in tested["message"]

    page.goto(f"{stack.url}/connections")
    row = page.get_by_role("row").filter(has_text=PORTLESS_CONN_ID)
    row.first.get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope=toast][data-part=root]")
    toast.first.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    shown = " | ".join(text.replace("\n", ": ") for text in toast.all_inner_texts())
    (SHOTS / "test-button-without-port.txt").write_text(shown + "\n")
    import airflow

    if airflow.__version__ == "3.3.2":
        assert "Bad Request" in shown, shown
    else:
        assert "Bad Request" not in shown and "Successful" in shown, shown


def test_task_log_shows_studio_lines(stack: Stack, api: httpx.Client, dag_run: dict[str, Any], page: Any) -> None:
    run_id = dag_run["run_id"]
    job_id = api.get(
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/extract_cities/xcomEntries/job_id"
    ).json()["value"]
    page.goto(f"{stack.url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/extract_cities")
    page.get_by_text(f"[studio {job_id}] extract: read 6 cities").first.wait_for(timeout=60_000)
    page.screenshot(path=str(doc_image("task-log.png")))
    body = page.locator("body").inner_text()
    assert body.count(f"[studio {job_id}] extract:") >= 7  # the header line and the six cities


def test_extra_link_opens_the_studio_job(
    stack: Stack, api: httpx.Client, dag_run: dict[str, Any], page: Any
) -> None:
    run_id = dag_run["run_id"]
    base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/extract_cities"
    job_url = api.get(f"{base}/xcomEntries/job_url").json()["value"]
    assert job_url.startswith(f"{stack.studio_url}/team/{TEAM}/datasets/jobs/")
    page.goto(f"{stack.url}/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/extract_cities")
    page.get_by_text("Details", exact=True).click()
    link = page.get_by_text("DataChain Studio Job", exact=True).first
    link.wait_for(timeout=60_000)
    page.screenshot(path=str(doc_image("extra-link.png")))
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == job_url  # the link leads to the emulator's URL of this very job

    # The Studio page behind the link: the job, its status, its own log lines and the dataset it wrote.
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    tab.get_by_text("extract: read 6 cities from cities.csv").first.wait_for(timeout=30_000)
    text = tab.locator("body").inner_text()
    assert "Job extract_cities.py" in text, text[:2000]
    assert job_id in text and "COMPLETE" in text, text[:2000]
    assert "Prague" in text and "Datasets written" in text and "cities@v1.0.0" in text, text[:2000]
    tab.screenshot(path=str(doc_image("studio-job-page.png")))
