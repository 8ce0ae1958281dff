"""The proctor's live dashboard beside a student's exam page, in headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from attempts.models import Attempt
from tests.browser.conftest import PHONE, choose, open_dashboard_tapping_its_socket, open_exam, sign_in
from tests.factories import make_exam, make_user
from tests.helpers import set_deadline

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def row_of(page, attempt_id: int):
    return page.locator(f"#attempt-rows tr[data-attempt-id='{attempt_id}']")


def test_dashboard_follows_an_attempt_from_start_to_timeout_without_reload(cluster, pages):
    # Student and proctor on two different web processes: events cross processes.
    student_web, proctor_web = cluster.start_webs(2)
    cluster.start_worker()
    proctor = make_user("proctor-ada", is_staff=True)
    student = make_user("student-bo")
    exam = make_exam(questions=4, duration_minutes=30, title="Watched")
    ids = list(exam.questions.order_by("id").values_list("id", flat=True))

    board = pages.open("proctor")
    sign_in(board, proctor_web.base_url, proctor.username, next_path=f"/proctor/exams/{exam.pk}/")
    expect(board.locator("#connection")).to_have_text("Live")
    expect(board.locator("#exam-title")).to_have_text("Watched")  # from the snapshot
    expect(board.locator("#no-attempts")).to_be_visible()
    expect(board.locator("#count-all")).to_have_text("0")
    board.evaluate("window.__sameDocument = true")  # gone if the page reloads

    page = pages.open("exam")
    open_exam(page, student_web.base_url, student.username, exam.pk)
    attempt = Attempt.objects.get(user=student, exam=exam)
    row = row_of(board, attempt.pk)
    expect(row).to_be_visible()
    expect(row.locator(".student")).to_have_text("student-bo")
    expect(row).to_have_attribute("data-status", "ongoing")
    expect(row.locator(".answered")).to_have_text("0 / 4")
    expect(board.locator("#count-ongoing")).to_have_text("1")
    # Time left counts down on the dashboard between events.
    first = row.locator(".remaining").inner_text()
    expect(row.locator(".remaining")).not_to_have_text(first)

    choose(page, ids[0], "A")  # right
    expect(row.locator(".answered")).to_have_text("1 / 4")
    choose(page, ids[1], "C")  # wrong
    expect(row.locator(".answered")).to_have_text("2 / 4")
    pages.screenshot(board, "proctor-live", doc="proctor")

    set_deadline(attempt, 3)
    expect(row).to_have_attribute("data-status", "timeout")
    expect(row.locator(".status")).to_have_text("Timed out")
    expect(row.locator(".score")).to_have_text("1 (25%)")
    expect(row.locator(".remaining")).to_have_text("—")
    expect(board.locator("#count-timeout")).to_have_text("1")
    expect(board.locator("#count-ongoing")).to_have_text("0")
    assert board.evaluate("window.__sameDocument === true"), "the dashboard reloaded"
    expect(page.locator("#expired-banner")).to_be_visible()
    pages.screenshot(board, "proctor-timeout")


def test_dashboard_resyncs_from_a_fresh_snapshot_after_a_reconnect(web, pages):
    proctor = make_user(is_staff=True)
    student = make_user()
    exam = make_exam(questions=3, duration_minutes=30)
    board = pages.open("proctor")
    sockets = open_dashboard_tapping_its_socket(board, web.base_url, proctor, exam.pk)
    assert len(sockets) == 1

    # The dashboard's socket drops; meanwhile a student starts and answers: no event reaches it.
    sockets[0].close(code=1012, reason="server restart")
    expect(board.locator("#connection")).to_contain_text("Reconnecting")
    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    choose(page, exam.questions.order_by("id").first().pk, "A")
    attempt = Attempt.objects.get(user=student)

    # The reconnect's snapshot brings what was missed.
    expect(board.locator("#connection")).to_have_text("Live", timeout=30_000)
    assert len(sockets) >= 2
    row = row_of(board, attempt.pk)
    expect(row.locator(".answered")).to_have_text("1 / 3")
    expect(row).to_have_attribute("data-status", "ongoing")


def test_a_student_cannot_open_the_dashboard(web, pages):
    student = make_user()
    exam = make_exam(questions=1)
    page = pages.open("proctor-denied", viewport=PHONE)
    sign_in(page, web.base_url, student.username, next_path=f"/proctor/exams/{exam.pk}/")
    expect(page.locator("#page-error")).to_contain_text("Staff only")
    expect(page.locator("#page-error")).to_contain_text(f"The account {student.username} is not a staff account.")
    expect(page.locator("#dashboard")).to_be_hidden()
    expect(page.locator("#attempt-rows tr")).to_have_count(0)
    pages.screenshot(page, "proctor-denied", doc="proctor-denied")
    expect(page.locator("#connection")).to_have_text("Not allowed")
