"""Fixtures for the browser tests: headless Debian Chromium driven by Playwright, against the
daphne processes and expiry workers of the `cluster` fixture (tests/e2e/).

Every page a test opens is screenshotted at the end of the test into
tests/artifacts/<test>/; with DOC_SCREENSHOTS=1 the pages named for the README are also
written to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import expect

from attempts.models import Attempt
from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401  (fixture and hook, re-exported)
from tests.e2e.servers import ARTIFACTS, ROOT
from tests.factories import PASSWORD
from tests.helpers import wait_until

CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on this machine: its closed network refuses Chromium's background
# connections (see the tool library's env notes).
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
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1100, "height": 860}
PHONE = {"width": 390, "height": 844}
# Playwright's default wait for a page element; long enough for a loaded 2-core machine.
EXPECT_TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (scripts/ensure_chromium.sh installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One headless Chromium per test module.

    Playwright's sync API keeps an asyncio loop running on this thread, and Django refuses
    ORM calls under a running loop (SynchronousOnlyOperation); the test's own ORM calls are
    still plain blocking calls on this thread, so the check is switched off, for the browser
    modules only, while the loop exists.
    """
    from playwright.sync_api import expect, sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Pages:
    """Browser tabs of one test, each in its own context (own sessionStorage, own user)."""

    browser: object
    artifacts: Path
    opened: list[tuple[str, object]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, name: str, *, viewport: dict | None = None):
        """A new tab in a fresh browser context; `name` names its screenshot."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{name}: {error}"))
        self.opened.append((name, page))
        return page

    def screenshot(self, page, name: str, *, doc: str | None = None, full_page: bool = False) -> Path:
        """Save a screenshot to the test's artifacts, and to docs/screenshots/<doc>.png when asked."""
        path = self.artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if doc and os.environ.get("DOC_SCREENSHOTS") == "1":
            DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_SCREENSHOTS / f"{doc}.png")
        return path

    def close(self) -> None:
        for name, page in self.opened:
            try:
                if not page.is_closed():
                    page.screenshot(path=str(self.artifacts / f"{name}-final.png"))
            finally:
                page.context.close()


@pytest.fixture
def pages(request, browser) -> Iterator[Pages]:
    """Opens tabs for the test; screenshots each at the end; fails the test on a page's JS error."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    artifacts = ARTIFACTS / name
    artifacts.mkdir(parents=True, exist_ok=True)
    tabs = Pages(browser=browser, artifacts=artifacts)
    yield tabs
    tabs.close()
    assert not tabs.errors, f"JavaScript errors on the pages: {tabs.errors}"


@pytest.fixture
def web(cluster):  # noqa: F811  (the fixture imported above)
    """One daphne process and one expiry worker; the pages are served by the web process."""
    server = cluster.start_web()
    cluster.start_worker()
    return server


def sign_in(page, base_url: str, username: str, *, next_path: str = "", password: str = PASSWORD) -> None:
    """Sign in through the login page, going on to `next_path` when given."""
    from urllib.parse import quote

    query = f"?next={quote(next_path)}" if next_path else ""
    page.goto(f"{base_url}/login/{query}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    if next_path:
        page.wait_for_url(f"{base_url}{next_path}")
    else:
        page.wait_for_selector("#login-done", state="visible")


def open_exam(page, base_url: str, username: str, exam_id: int) -> None:
    """Sign in and land on the exam page with its questions shown and the clock set."""
    sign_in(page, base_url, username, next_path=f"/exam/{exam_id}/")
    page.wait_for_selector(".question")
    page.wait_for_function("document.getElementById('clock').dataset.remaining !== undefined")


RIGHT = "ABCD"  # make_exam's correct options cycle A, B, C, D


def question_ids(exam) -> list[int]:
    """The exam's question ids in the order the page shows them."""
    return list(exam.questions.order_by("id").values_list("id", flat=True))


def option(page, question_id: int, letter: str):
    """The label of one option of one question, which a student clicks."""
    return page.locator(f"#q-{question_id} label.option", has=page.locator(f"input[value='{letter}']"))


def choose(page, question_id: int, letter: str) -> None:
    """Pick an option by clicking its label, as a student would, and wait until the page says saved."""
    option(page, question_id, letter).click()
    expect(page.locator(f"#save-{question_id}")).to_have_text("Saved")


def the_attempt(user, exam) -> Attempt:
    """The student's attempt of the exam, once the page has started it."""
    return wait_until(lambda: Attempt.objects.filter(user=user, exam=exam).first(), timeout=10, what="the attempt")


def open_dashboard_tapping_its_socket(board, base_url: str, proctor, exam_id: int) -> list:
    """Sign the proctor in on the dashboard with its socket routed through the test; the routes, one per connect."""
    sockets = []

    def proctor_socket(route):
        route.connect_to_server()
        sockets.append(route)

    board.route_web_socket("**/ws/proctor/**", proctor_socket)
    sign_in(board, base_url, proctor.username, next_path=f"/proctor/exams/{exam_id}/")
    expect(board.locator("#connection")).to_have_text("Live")
    return sockets


def seconds_left(page) -> float:
    """What the page's clock shows, in seconds (one decimal)."""
    return float(page.get_attribute("#clock", "data-remaining"))


def implied_deadline(page) -> float:
    """The deadline the page's clock implies, as a time.time() value."""
    before = time.time()
    left = seconds_left(page)
    return (before + time.time()) / 2 + left
