"""Late events on the proctor's dashboard, in headless Chromium against real daphne, expiry
worker, Redis and MariaDB."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from attempts.models import Attempt
from tests.browser.conftest import choose, open_dashboard_tapping_its_socket, open_exam, question_ids
from tests.factories import make_exam, make_user
from tests.helpers import UNKNOWN_ID, set_deadline

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_late_answer_saved_event_never_reopens_an_ended_row(web, pages):
    proctor = make_user(is_staff=True)
    student = make_user()
    exam = make_exam(questions=4, duration_minutes=30)
    board = pages.open("proctor")
    sockets = open_dashboard_tapping_its_socket(board, web.base_url, proctor, exam.pk)

    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    choose(page, question_ids(exam)[0], "A")
    attempt = Attempt.objects.get(user=student, exam=exam)
    row = board.locator(f"#attempt-rows tr[data-attempt-id='{attempt.pk}']")
    expect(row.locator(".answered")).to_have_text("1 / 4")
    set_deadline(attempt, 2)
    expect(row).to_have_attribute("data-status", "timeout")

    # An answer_saved event that arrives after the timeout event (delivered late), then a
    # marker: frames are handled in order, so once the marker's row shows, the late one was handled.
    late = {"type": "answer_saved", "attempt_id": attempt.pk, "status": "ongoing", "answered": 1}
    marker = {
        "type": "attempt_started",
        "attempt_id": UNKNOWN_ID,
        "status": "ongoing",
        "user": {"username": "marker"},
        "answered": 0,
        "total_questions": 4,
        "remaining_seconds": 60,
        "started_at": "2000-01-01T00:00:00Z",
    }
    sockets[-1].send(json.dumps(late))
    sockets[-1].send(json.dumps(marker))
    expect(board.locator(f"#attempt-rows tr[data-attempt-id='{UNKNOWN_ID}']")).to_be_visible()
    expect(row).to_have_attribute("data-status", "timeout")
    expect(row.locator(".status")).to_have_text("Timed out")
    expect(row.locator(".score")).to_have_text("1 (25%)")
    expect(row.locator(".remaining")).to_have_text("—")
    expect(board.locator("#count-timeout")).to_have_text("1")
    expect(board.locator("#count-ongoing")).to_have_text("1")  # the marker only
