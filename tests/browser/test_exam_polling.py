"""The exam page's polling fallback cannot melt a recovering server (issue 12): its polls are
random, not in step with other pages, and a 429 or 503 with Retry-After holds its requests
back for at least that long, saying so in words; a save the server asked to wait for still
lands. In headless Chromium against real daphne, expiry worker, Redis and MariaDB.

The page's requests are timed in the page itself (Date.now() when it called fetch, recorded
by an init script that only watches), not in this test's Python: Playwright hands its events
and route handlers to Python only while the test calls into it, so Python's clock would see
them late.
"""

from __future__ import annotations

import json
import re
import time
from email.utils import formatdate
from itertools import pairwise

import pytest
from playwright.sync_api import expect

from attempts.models import Answer
from tests.browser.conftest import implied_deadline, open_exam, option, question_ids, the_attempt
from tests.factories import make_exam, make_user
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = 5
# exam-socket.js: polls about every 10 s (8 to 12 s at random); the first one after a lost
# socket at a random moment of the first 10 s.
POLL_MIN_SECONDS = 8.0
POLL_MAX_SECONDS = 12.0
FIRST_POLL_MAX_SECONDS = 10.0
# A timer fires late on a loaded 2-core machine, never early; Date.now() and setTimeout round
# to whole milliseconds.
LATE_SECONDS = 1.0
EARLY_SECONDS = 0.01
# Ten intervals (two per page) spread over less than this would be pages polling on one fixed
# period, in step; ten random draws over 8 to 12 s do so with a chance under one in ten million.
SPREAD_AT_LEAST_SECONDS = 0.5
# The countdown runs on the page's own clock between polls: it stays this close to deadline_at.
CLOCK_ERROR_MAX_SECONDS = 1.0
RETRY_AFTER_SECONDS = 3

RECORD_FETCHES = """
(() => {
  window.__fetches = [];
  const fetch = window.fetch;
  window.fetch = function (input, init) {
    const url = String(input && input.url ? input.url : input);
    window.__fetches.push({ url, at: Date.now(), body: (init && init.body) || null });
    return fetch.apply(this, arguments);
  };
})();
"""


def fetches(page, path: str) -> list[dict]:
    """The page's fetches to URLs containing `path`, in order: {url, at (s, Date.now()), body}."""
    found = [item for item in page.evaluate("window.__fetches") if path in item["url"]]
    return [dict(item, at=item["at"] / 1000) for item in found]


def wait_for(page, predicate, *, timeout: float, what: str):
    """Wait on a condition with a deadline, letting Playwright run meanwhile (it relays the socket's frames)."""
    return wait_until(
        predicate, timeout=timeout, interval=0.1, what=what, sleep=lambda s: page.wait_for_timeout(s * 1000)
    )


class AttemptSocket:
    """A page's attempt socket routed through the test: connected to the real server until drop()."""

    def __init__(self, page) -> None:
        self.live: list[tuple[object, object]] = []  # (page side, server side) of each open socket
        self.dropped_at: float | None = None  # time.time() of the drop
        self.refused = 0
        page.route_web_socket("**/ws/attempts/**", self._handle)

    def _handle(self, route) -> None:
        if self.dropped_at is not None:
            self.refused += 1
            route.close(code=1011, reason="the server is restarting (the test)")
            return
        self.live.append((route, route.connect_to_server()))

    def drop(self) -> None:
        """As a restarting server does: close the open socket (1012) and refuse the reconnects."""
        self.dropped_at = time.time()
        for page_side, server_side in self.live:
            page_side.close(code=1012, reason="service restart (the test)")
            server_side.close(code=1000, reason="the test dropped the socket")


def test_pages_that_lose_their_socket_together_poll_at_random_moments_within_the_bounds(web, pages):
    exam = make_exam(questions=2, duration_minutes=30, title="Restart")
    tabs = []
    for index in range(PAGES):
        student = make_user()
        page = pages.open(f"exam-{index}")
        page.add_init_script(RECORD_FETCHES)
        socket = AttemptSocket(page)
        open_exam(page, web.base_url, student.username, exam.pk)
        tabs.append((student, page, socket))
    for _, page, _ in tabs:
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    # Every socket closes in the same instant, as when their server restarts; REST still works.
    for _, _, socket in tabs:
        socket.drop()
    first_page = tabs[0][1]

    def three_polls_each():
        return all(
            len([item for item in fetches(page, "/remaining/") if item["at"] >= socket.dropped_at]) >= 3
            for _, page, socket in tabs
        )

    wait_for(
        first_page,
        three_polls_each,
        timeout=FIRST_POLL_MAX_SECONDS + 2 * POLL_MAX_SECONDS + 10,
        what="three polls on every page",
    )

    firsts, intervals = [], []
    for _, page, socket in tabs:
        times = [item["at"] for item in fetches(page, "/remaining/") if item["at"] >= socket.dropped_at]
        firsts.append(times[0] - socket.dropped_at)
        intervals.extend(later - earlier for earlier, later in pairwise(times[:3]))
        expect(page.locator("#connection")).to_have_attribute("data-state", "polling")
        expect(page.locator("#connection")).to_contain_text("checking the time about every 10 s")
        assert socket.refused >= 1, "the page should keep trying its socket while it polls"
    print(f"first poll after the drop (s): {[round(first, 2) for first in firsts]}")
    print(f"poll intervals (s): {[round(interval, 2) for interval in intervals]}")

    assert all(-EARLY_SECONDS <= first <= FIRST_POLL_MAX_SECONDS + LATE_SECONDS for first in firsts), firsts
    # Pages polling at once as the socket closed (what the page did before): all within a second.
    assert max(firsts) > 1.0, f"every page polled at once after the drop: {firsts}"
    assert all(POLL_MIN_SECONDS - EARLY_SECONDS <= gap <= POLL_MAX_SECONDS + LATE_SECONDS for gap in intervals)
    assert max(intervals) - min(intervals) >= SPREAD_AT_LEAST_SECONDS, f"polls in step: {intervals}"

    # Polls 8 to 12 s apart do not make the countdown wrong: it runs on the page's own clock.
    for student, page, _ in tabs:
        deadline = the_attempt(student, exam).deadline_at.timestamp()
        error = implied_deadline(page) - deadline
        assert abs(error) <= CLOCK_ERROR_MAX_SECONDS, f"the page's clock is {error:+.2f} s off"
    pages.screenshot(first_page, "exam-polling-after-restart")


def refuse(route, status: int, retry_after: str) -> None:
    route.fulfill(
        status=status,
        headers={"Retry-After": retry_after},
        content_type="application/json",
        body=json.dumps({"error": "The server is busy.", "code": "busy"}),
    )


def test_a_save_refused_with_503_and_retry_after_waits_then_lands_and_the_newer_choice_wins(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    first, second = question_ids(exam)
    page = pages.open("exam")
    page.add_init_script(RECORD_FETCHES)
    open_exam(page, web.base_url, student.username, exam.pk)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    refusals = {"left": 1, "status": 503}

    def busy_then_real(route):
        if refusals["left"] > 0:
            refusals["left"] -= 1
            refuse(route, refusals["status"], str(RETRY_AFTER_SECONDS))
        else:
            route.continue_()

    page.route("**/api/exam/timer/submit-answer/", busy_then_real)

    # The 503 with Retry-After: 3 is said in words on the question's save line.
    option(page, first, "B").click()
    status = page.locator(f"#save-{first}")
    expect(status).to_have_attribute("data-state", "retrying")
    expect(status).to_contain_text("Saving… the server asked us to wait")
    waited = int(re.search(r"wait (\d+) s", status.text_content()).group(1))
    assert waited >= RETRY_AFTER_SECONDS, status.text_content()
    pages.screenshot(page, "exam-save-asked-to-wait")

    # The student changes their mind during the wait: the newer choice is what is sent and kept.
    option(page, first, "C").click()
    expect(status).to_have_text("Saved", timeout=15_000)
    assert Answer.objects.get(attempt__user=student, question_id=first).selected_option == "C"
    sent = fetches(page, "/submit-answer/")
    assert [json.loads(item["body"])["selected_option"] for item in sent] == ["B", "C"], sent
    held = sent[1]["at"] - sent[0]["at"]
    print(f"503 Retry-After: {RETRY_AFTER_SECONDS}: the next save {held:.2f} s later")
    assert held >= RETRY_AFTER_SECONDS - EARLY_SECONDS, f"a save was sent {held:.2f} s after the 503"

    # 429s with Retry-After use up no retry: four in a row (more than the page's three retries),
    # each waited out, and the save still lands.
    refusals.update(left=4, status=429)
    before = len(fetches(page, "/submit-answer/"))
    option(page, second, "D").click()
    expect(page.locator(f"#save-{second}")).to_contain_text("the server asked us to wait")
    expect(page.locator(f"#save-{second}")).to_have_text("Saved", timeout=30_000)
    assert Answer.objects.get(attempt__user=student, question_id=second).selected_option == "D"
    times = [item["at"] for item in fetches(page, "/submit-answer/")[before:]]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    print(f"429 Retry-After: {RETRY_AFTER_SECONDS} four times: gaps {[round(gap, 2) for gap in gaps]} s")
    assert len(times) == 5, times
    assert all(gap >= RETRY_AFTER_SECONDS - EARLY_SECONDS for gap in gaps), gaps


def test_a_poll_refused_with_an_http_date_retry_after_holds_the_next_poll_back_and_says_so(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    page = pages.open("exam")
    page.add_init_script(RECORD_FETCHES)
    page.route_web_socket("**/ws/attempts/**", lambda route: route.close(code=1011, reason="blocked by the test"))
    asked = {"until": None}

    def busy_once(route):
        if asked["until"] is None:
            # Longer than a poll period, so that only the Retry-After can explain the wait.
            asked["until"] = int(time.time()) + POLL_MAX_SECONDS + 4  # whole seconds: an HTTP-date has no fraction
            refuse(route, 503, formatdate(asked["until"], usegmt=True))
        else:
            route.continue_()

    page.route("**/api/exam/timer/remaining/**", busy_once)
    open_exam(page, web.base_url, student.username, exam.pk)
    line = page.locator("#connection")
    expect(line).to_contain_text("the server asked us to wait: checking the time again in")
    expect(line).to_contain_text("The clock keeps counting")
    pages.screenshot(page, "exam-poll-asked-to-wait")

    wait_for(page, lambda: len(fetches(page, "/remaining/")) >= 2, timeout=30, what="the poll after the wait")
    polls = fetches(page, "/remaining/")
    asked_for, waited = asked["until"] - polls[0]["at"], polls[1]["at"] - polls[0]["at"]
    print(f"503 with Retry-After {asked_for:.2f} s ahead (an HTTP-date): the next poll {waited:.2f} s later")
    assert polls[1]["at"] >= asked["until"] - EARLY_SECONDS, "a poll was sent before the Retry-After date"
    expect(line).to_contain_text("checking the time about every 10 s")
    assert abs(implied_deadline(page) - the_attempt(student, exam).deadline_at.timestamp()) <= CLOCK_ERROR_MAX_SECONDS
