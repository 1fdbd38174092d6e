"""The /ui page in a real browser (Debian's chromium, driven by playwright through its executable path; nothing
downloads a browser): submit text-to-video, watch the job's progress bar reach 100 % through the event stream, and
the finished video play. The screenshot lands in tests/output/ (git-ignored) as the test's artifact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import System

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "output"
# Headless as root on a machine without outside network: no sandbox, no GPU, and none of chromium's own calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A missing browser fails the test: `make test` installs it (dev/install-browser.sh), so its absence is a bug.
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make browser` (dev/install-browser.sh)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def test_ui_submits_text_to_video_shows_progress_to_100_and_plays_the_video(system: System, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{system.release.api_url}/ui")
    page.fill("#prompt", "a red cube on a table")
    for name, value in {"num_frames": 9, "width": 64, "height": 64, "fps": 8, "num_inference_steps": 12}.items():
        page.fill(f"#{name}", str(value))
    with page.expect_response(lambda r: r.request.method == "POST" and "/api/v1/generate/" in r.url) as submitted:
        page.click("#submit")
    assert submitted.value.status == 202, submitted.value.text()
    job_id = submitted.value.json()["job_id"]
    system.submitted.append(job_id)
    row = page.locator(f'#jobs li[data-job-id="{job_id}"]')
    # The row follows the event stream: processing with a moving bar, then completed at 100 %.
    row.locator(".job-status", has_text="completed").wait_for(timeout=180_000)
    assert row.locator(".percent").inner_text() == "100 %"
    assert row.locator("progress").evaluate("p => p.value") == 100
    video = row.locator("video")
    video.wait_for(timeout=30_000)
    page.wait_for_function(
        "id => { const v = document.querySelector(`li[data-job-id='${id}'] video`); return v && v.readyState >= 2 }",
        arg=job_id,
        timeout=30_000,
    )
    video.evaluate("v => v.play()")
    assert video.evaluate("v => v.videoWidth") == 64
    # The poster (fetched from /api/v1/job/{id}/poster with the page's key) is the player's thumbnail.
    assert (video.get_attribute("poster") or "").startswith("blob:")
    assert row.locator("a.download").get_attribute("href")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-text-to-video.png"), full_page=True)
    assert errors == []
