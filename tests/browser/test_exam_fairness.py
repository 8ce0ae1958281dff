"""The exam page never costs a student an answer, a second or an attempt: in headless Chromium
against real daphne, expiry worker, Redis and MariaDB, with real short deadlines."""

from __future__ import annotations

import math
import time

import pytest
from playwright.sync_api import expect

from attempts.models import Answer, Attempt
from tests.browser.conftest import RIGHT, choose, open_exam, option, question_ids, sign_in, the_attempt
from tests.factories import make_exam, make_user, start_attempt
from tests.helpers import set_deadline, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# How early the page may lock before the real deadline: its own margin (100 ms) plus honest
# room for a loaded 2-core machine. Never later than the deadline.
EARLIEST_LOCK_SECONDS = 1.0
SAVE_RETRIES_SECONDS = 7  # exam-saves.js: retries after random waits of at most 1, 2 and 4 s
SUB_SECOND_OFFSETS = [0.05, 0.35, 0.65, 0.95]

# Records, in the page, the Date.now() at which the option inputs first became disabled.
WATCH_LOCK = """
(() => {
  const locked = () => {
    const input = document.querySelector("#question-list input[type=radio]");
    return input !== null && input.matches(":disabled");
  };
  new MutationObserver(() => {
    if (window.__lockedAt === undefined && locked()) window.__lockedAt = Date.now();
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["disabled"] });
})();
"""


def block_the_attempt_socket(page) -> None:
    page.route_web_socket("**/ws/attempts/**", lambda route: route.close(code=1011, reason="blocked by the test"))


def deadline_at_offset(fraction: float, at_least: float) -> float:
    """A moment `fraction` past a whole second, at least `at_least` seconds from now."""
    return math.floor(time.time() + at_least) + 1 + fraction


def lock_minus_deadline(page, attempt: Attempt, timeout: float) -> float:
    """Wait for the page to lock its inputs; seconds from the attempt's deadline_at to the lock."""
    page.wait_for_function("window.__lockedAt !== undefined", timeout=timeout * 1000)
    locked_at = page.evaluate("window.__lockedAt") / 1000
    attempt.refresh_from_db()
    return locked_at - attempt.deadline_at.timestamp()


def test_a_timeout_while_away_shows_its_result_and_starts_again_only_on_click(web, pages):
    student = make_user()
    exam = make_exam(questions=4, duration_minutes=30, title="Away")
    ids = question_ids(exam)
    first_tab = pages.open("first-tab")
    open_exam(first_tab, web.base_url, student.username, exam.pk)
    choose(first_tab, ids[0], RIGHT[0])
    choose(first_tab, ids[1], RIGHT[1])
    attempt = the_attempt(student, exam)
    first_tab.close()

    # The attempt times out while no tab is open: the worker ends it just after its deadline.
    set_deadline(attempt, 1)
    wait_until(lambda: Attempt.objects.get(pk=attempt.pk).status == "timeout", timeout=15, what="the worker's timeout")

    page = pages.open("second-tab")
    starts: list[str] = []
    page.on("request", lambda request: "/api/exam/timer/start/" in request.url and starts.append(request.url))
    sign_in(page, web.base_url, student.username, next_path=f"/exam/{exam.pk}/")
    result = page.locator("#result")
    expect(result).to_be_visible()
    expect(result).to_have_attribute("data-status", "timeout")
    expect(page.locator("#result-title")).to_have_text("Time expired: your result")
    expect(page.locator("#result-score")).to_have_text("2")
    expect(page.locator("#result-total")).to_have_text("4")
    expect(page.locator("#result-percentage")).to_have_text("50%")
    expect(page.locator("#new-attempt")).to_be_visible()
    expect(page.locator("#questions")).to_be_hidden()
    pages.screenshot(page, "exam-timed-out-while-away")
    assert starts == [], "the page asked to start before the student clicked"
    assert Attempt.objects.filter(user=student, exam=exam).count() == 1

    page.click("#new-attempt")
    page.wait_for_selector(".question")
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("input[type=radio]:checked")).to_have_count(0)
    expect(page.locator(f"#q-{ids[0]} input").first).to_be_enabled()
    rows = list(Attempt.objects.filter(user=student, exam=exam).order_by("pk").values_list("pk", "status"))
    assert len(rows) == 2, rows
    assert rows[0] == (attempt.pk, "timeout")
    assert rows[1][1] == "ongoing"
    assert len(starts) == 1


@pytest.mark.parametrize("fraction", SUB_SECOND_OFFSETS)
def test_the_page_locks_by_itself_at_or_just_before_the_deadline(web, pages, fraction):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    page = pages.open("exam")
    page.add_init_script(WATCH_LOCK)
    open_exam(page, web.base_url, student.username, exam.pk)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    attempt = the_attempt(student, exam)

    set_deadline(attempt, deadline_at_offset(fraction, 3) - time.time())
    early = lock_minus_deadline(page, attempt, timeout=15)
    print(f"socket, deadline .{round(fraction * 100):02d} past a second: lock - deadline_at = {early * 1000:+.0f} ms")
    assert early <= 0, f"the inputs locked {early * 1000:.0f} ms after the deadline"
    assert early >= -EARLIEST_LOCK_SECONDS, f"the inputs locked {-early * 1000:.0f} ms before the deadline"
    expect(page.locator("#expired-banner")).to_be_visible()


@pytest.mark.parametrize("fraction", [0.05, 0.65])
def test_the_page_locks_by_itself_at_the_deadline_with_its_socket_blocked(web, pages, fraction):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    # The attempt exists before the page opens: with the socket down only the start reply and
    # the first `remaining` poll can tell the page its deadline.
    attempt = start_attempt(student, exam)
    set_deadline(attempt, deadline_at_offset(fraction, 8) - time.time())
    page = pages.open("exam")
    block_the_attempt_socket(page)
    page.add_init_script(WATCH_LOCK)
    open_exam(page, web.base_url, student.username, exam.pk)
    expect(page.locator("#connection")).to_have_attribute("data-state", "polling")

    early = lock_minus_deadline(page, attempt, timeout=20)
    print(f"no socket, deadline .{round(fraction * 100):02d} past a second: lock - deadline = {early * 1000:+.0f} ms")
    assert early <= 0, f"the inputs locked {early * 1000:.0f} ms after the deadline"
    assert early >= -EARLIEST_LOCK_SECONDS, f"the inputs locked {-early * 1000:.0f} ms before the deadline"
    expect(page.locator("#expired-banner")).to_be_visible()


def block_answers(page) -> dict:
    """Make submit-answer unreachable for the page while blocked["on"]; counts the refused tries."""
    blocked = {"on": True, "refused": 0}

    def route(request_route):
        if blocked["on"]:
            blocked["refused"] += 1
            request_route.abort("connectionrefused")
        else:
            request_route.continue_()

    page.route("**/api/exam/timer/submit-answer/", route)
    return blocked


def wait_for_retries_to_run_out(page, blocked: dict) -> None:
    def gave_up():
        page.wait_for_timeout(50)  # Playwright runs the route handlers only while it is called
        return blocked["refused"] >= 4  # the first try and its three retries

    wait_until(gave_up, timeout=SAVE_RETRIES_SECONDS + 10, what="the save's retries to run out")


def test_submit_sends_again_a_save_that_failed_its_retries(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    first, second = question_ids(exam)
    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    choose(page, first, RIGHT[0])

    blocked = block_answers(page)
    option(page, second, RIGHT[1]).click()
    wait_for_retries_to_run_out(page, blocked)
    assert not Answer.objects.filter(question_id=second).exists()

    blocked["on"] = False
    page.click("#submit-exam")
    page.click("#confirm-ok")
    expect(page.locator("#result-title")).to_have_text("Exam submitted")
    expect(page.locator("#result-score")).to_have_text("2")
    assert Answer.objects.get(question_id=second).selected_option == RIGHT[1]
    attempt = Attempt.objects.get(user=student, exam=exam)
    assert (attempt.status, attempt.score) == ("completed", 2)


def test_a_failed_save_is_sent_again_once_the_server_answers_again(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30)
    question = question_ids(exam)[0]
    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    blocked = block_answers(page)
    option(page, question, "C").click()
    wait_for_retries_to_run_out(page, blocked)
    # The browser never went offline: no `online` event will come. The socket's next tick
    # shows the server is there again.
    blocked["on"] = False
    expect(page.locator(f"#save-{question}")).to_have_text("Saved", timeout=10_000)
    assert Answer.objects.get(question_id=question).selected_option == "C"
