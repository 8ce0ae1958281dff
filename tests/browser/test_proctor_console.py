"""The proctor's console in headless Chromium, through the page only (clicks and keys), against real
daphne, expiry worker, Redis and MariaDB: a row's extend, end, reopen, the exam-wide extension,
announcements, the results CSV, the audit trail, and the API's errors shown in words.

Each effect is checked in the database, on the dashboard's row, and where it is cheap on the
student's real attempt socket (tests/browser/student_socket.py).
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from attempts import services
from attempts.models import Announcement, Attempt, AttemptEvent
from attempts.services import control
from tests.browser.conftest import open_dashboard_tapping_its_socket, sign_in
from tests.browser.student_socket import StudentSocket
from tests.factories import access_token_for, make_exam, make_user
from tests.helpers import set_deadline, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PRESENCE_KEYS = ("connected", "offline_seconds", "offline_since", "offline_credited_seconds")


def row_of(page, attempt_id: int):
    return page.locator(f"#attempt-rows tr[data-attempt-id='{attempt_id}']")


def panel_of(page, attempt_id: int):
    return page.locator(f"#attempt-rows tr.panel-row[data-panel-for='{attempt_id}']")


def open_console(pages, server, proctor, exam, *, name: str = "proctor"):
    board = pages.open(name)
    sign_in(board, server.base_url, proctor.username, next_path=f"/proctor/exams/{exam.pk}/")
    expect(board.locator("#connection")).to_have_text("Live")
    return board


def press_button(page, name: str, key: str = "Enter") -> None:
    """Reach a button by its accessible name and press it from the keyboard."""
    button = page.get_by_role("button", name=name, exact=True)
    button.focus()
    page.keyboard.press(key)


def seconds_shown(text: str) -> int:
    """'09:58' or '1:02:03' -> seconds."""
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


def deadline_of(attempt: Attempt) -> float:
    return Attempt.objects.get(pk=attempt.pk).deadline_at.timestamp()


def test_a_proctor_extends_one_student_then_everyone_still_working(cluster, pages):
    web = cluster.start_web()
    cluster.start_worker()
    proctor = make_user("proctor-ida", is_staff=True)
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    exam = make_exam(questions=3, duration_minutes=30, title="Algebra")
    first = services.attempt_start(user=alice, exam_id=exam.pk).attempt
    second = services.attempt_start(user=bob, exam_id=exam.pk).attempt
    done = services.attempt_start(user=carol, exam_id=exam.pk).attempt
    services.attempt_submit(user=carol, attempt_id=done.pk)
    student = StudentSocket(web, first.pk, access_token_for(alice))
    try:
        student.frame("tick")
        board = open_console(pages, web, proctor, exam)
        row = row_of(board, first.pk)
        expect(row.locator(".added")).to_have_text("—")
        before = deadline_of(first)

        # One student, from the keyboard: open the panel, type the minutes and the reason, Enter.
        press_button(board, "Extend time for alice")
        panel = panel_of(board, first.pk)
        expect(panel).to_be_visible()
        expect(board.get_by_role("button", name="Extend time for alice")).to_have_attribute("aria-expanded", "true")
        minutes = panel.get_by_label("Minutes to add")
        expect(minutes).to_be_focused()
        minutes.fill("12")
        board.keyboard.press("Tab")
        expect(panel.get_by_label("Reason (the student sees it)")).to_be_focused()
        board.keyboard.type("fire alarm")
        board.keyboard.press("Enter")

        expect(panel).to_have_count(0)
        expect(board.get_by_role("button", name="Extend time for alice")).to_be_focused()
        expect(board.locator("#console-status")).to_have_text("Added 12 min for alice.")
        expect(row.locator(".added")).to_have_text("+12:00")
        assert deadline_of(first) - before == pytest.approx(12 * 60, abs=0.01)
        changed = student.frame("time_changed")
        assert (changed["change_seconds"], changed["reason"]) == (720, "fire alarm")
        assert seconds_shown(row.locator(".remaining").inner_text()) > 40 * 60  # 30 min + 12, less the seconds gone
        expect(row_of(board, second.pk).locator(".added")).to_have_text("—")

        # Everyone still working: alice and bob, not carol, who submitted.
        board.locator("#extend-all-form").get_by_label("Minutes to add").fill("5")
        board.locator("#extend-all-reason").fill("power cut")
        board.locator("#extend-all-reason").press("Enter")
        expect(board.locator("#extend-all-done")).to_have_text("Added 5 min to 2 attempts still running.")
        expect(row.locator(".added")).to_have_text("+17:00")
        expect(row_of(board, second.pk).locator(".added")).to_have_text("+5:00")
        expect(row_of(board, done.pk).locator(".added")).to_have_text("—")
        assert deadline_of(first) - before == pytest.approx(17 * 60, abs=0.01)
        assert [a.change_seconds for a in Attempt.objects.filter(pk__in=[first.pk, second.pk, done.pk]).order_by("pk")] == [
            1020,
            300,
            0,
        ]
        assert student.frame("time_changed", where=lambda f: f["reason"] == "power cut")["change_seconds"] == 300
        pages.screenshot(board, "console-overview", doc="proctor-console")
    finally:
        student.close()
