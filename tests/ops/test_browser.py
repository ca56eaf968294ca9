"""The Prefect UI in headless Chromium: a served run's summary artifact reads on its page.

Prefect 3.8 ships two UIs: `/runs/flow-run/ID` is the classic one, `/v2/runs/flow-run/ID`
the new one that `/` opens by default. In the new UI the flow run page has an
"Artifacts" tab listing the run's artifacts as cards; a card opens the artifact's key
(every version of it, one per run), and the version of this run opens its own page,
where the markdown is rendered. The test walks that path as a person would.

Chromium is Debian's (`apt-get install chromium`, as .ci/run does), driven by
Playwright without downloading a browser of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.conftest import PrefectServer, ServedRun

pytestmark = [pytest.mark.flow, pytest.mark.ops]

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 30_000  # the UI's first load compiles nothing but fetches ~2 MB of scripts


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("no Chromium: `apt-get install -y chromium` (.ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def test_the_flow_run_page_shows_the_run_summary_artifact(
    browser: object,
    served_run: ServedRun,
    prefect_server: PrefectServer,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    flow_run = served_run.flow_run
    artifact = prefect_server.api.artifacts(flow_run["id"])["newswatch-run-summary"]
    heading = artifact["data"].splitlines()[0].removeprefix("# ")  # "newswatch run 1"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{prefect_server.url}/v2/runs/flow-run/{flow_run['id']}")
        expect(page.get_by_text(flow_run["name"]).first).to_be_visible()
        page.get_by_role("tab", name="Artifacts").click()
        page.get_by_role("link", name="newswatch-run-summary").click()
        page.locator(f"a[href$='/artifacts/artifact/{artifact['id']}']").click()

        rendered = page.get_by_test_id("markdown-display")
        expect(rendered.get_by_role("heading", name=heading)).to_be_visible()
        expect(rendered).to_contain_text("2 new articles")
        expect(rendered).to_contain_text("news")
        screenshot = tmp_path / "prefect-ui-run-summary.png"
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
