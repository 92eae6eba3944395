"""Every image in docs/images is shown by a page of the documentation, and every screenshot the browser
check (tests/ui/check_airflow_ui.py, `make test-ui`) writes there is one of them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_every_image_is_used_and_every_screenshot_is_an_image_of_the_docs() -> None:
    images = {path.name for path in (DOCS / "images").iterdir() if path.is_file()}
    pages = "\n".join(path.read_text() for path in DOCS.rglob("*.md"))
    used = set(re.findall(r"\(images/([\w.-]+)\)", pages))
    assert images == used, {"unused": sorted(images - used), "missing": sorted(used - images)}
    check = (ROOT / "tests" / "ui" / "check_airflow_ui.py").read_text()
    written = set(re.findall(r'doc_image\("([\w.-]+)"\)', check))
    assert written == images, {"not refreshed by make test-ui": sorted(images - written)}
