"""What the live-control browser tests share: a student's second tab, the staff REST API, in-page time stamps."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import EXPECT_TIMEOUT_MS, Pages, open_exam
from tests.e2e.clients import RestClient
from tests.e2e.servers import ServerProcess
from tests.factories import access_token_for
from tests.helpers import PROCTOR_API


def second_tab(pages: Pages, first, name: str, base_url: str, username: str, exam_id: int):
    """A new tab in the same browser as `first`, as a student opens one: its own sign-in (the tokens are per
    tab, in sessionStorage), the same localStorage; then the exam page, live."""
    page = first.context.new_page()
    page.set_default_timeout(EXPECT_TIMEOUT_MS)
    page.on("pageerror", lambda error: pages.errors.append(f"{name}: {error}"))
    # Its screenshot at the end; its context is the first tab's, closed with it.
    pages.opened.append((name, page))
    open_exam(page, base_url, username, exam_id)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return page


def staff(web: ServerProcess, proctor) -> RestClient:
    """The staff REST API of `web` as `proctor` (what the proctor's console calls)."""
    return RestClient(web, access_token_for(proctor))


def staff_post(client: RestClient, path: str, body: dict | None = None) -> dict:
    """POST to a staff route; fails unless it answered 2xx; its JSON."""
    response = client.post(f"{PROCTOR_API}/{path}", body or {})
    assert 200 <= response.status_code < 300, (path, response.status_code, response.body)
    return response.body


def stamp_when(page, key: str, predicate: str) -> None:
    """Record in the page the Date.now() at which the JS expression `predicate` first holds.

    Checked on every change of the DOM: the page's clock comparing with the test's time.time()
    (one machine, one clock) measures how late a frame's effect showed, without polling delays.
    """
    page.evaluate(
        """([key, body]) => {
          const test = new Function("return (" + body + ");");
          window.__seen = window.__seen || {};
          const check = () => {
            if (window.__seen[key] === undefined && test()) window.__seen[key] = Date.now();
          };
          new MutationObserver(check).observe(document.body, {
            subtree: true, childList: true, characterData: true, attributes: true,
          });
          check();
        }""",
        [key, predicate],
    )


def seen_at(page, key: str, *, timeout_ms: float = EXPECT_TIMEOUT_MS) -> float:
    """When (Unix seconds, the page's clock) the predicate of `stamp_when(page, key, ...)` first held."""
    page.wait_for_function(f"window.__seen && window.__seen[{key!r}] !== undefined", timeout=timeout_ms)
    return page.evaluate(f"window.__seen[{key!r}]") / 1000


def checked(question_id: int, letter: str) -> str:
    """A predicate for `stamp_when`: that option of that question is checked."""
    return f"(document.querySelector(\"input[name='question-{question_id}'][value='{letter}']\") || {{}}).checked"
