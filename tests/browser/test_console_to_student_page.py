"""The proctor's console and the student's exam page together, both in headless Chromium: each control the
proctor uses from the keyboard on the console is seen on the student's page, in two tabs of the same attempt,
within the contract's second (docs/websocket.md).

The other browser tests check each half on its own: the console's effects on a student's raw socket
(test_proctor_console.py) and the page's reaction to the staff REST API (test_exam_live_control.py). Here the
console's own requests drive the page. The tabs are on one daphne process, the console on another, with an
expiry worker. Latencies are measured in the pages (tests/browser/live_tabs.py), from the proctor's last key
press, so they include the console's request; printed, run with -s.

Presence the other way round: the console's row follows a real exam page closing, opening again, and the daphne
process under it SIGKILLed (test_proctor_presence.py does it with a bare socket for the student).
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from attempts import services
from attempts.models import Attempt, AttemptEvent
from tests.browser.conftest import implied_deadline, open_exam, sign_in
from tests.browser.live_tabs import second_tab, seen_at, stamp_when
from tests.browser.test_proctor_console import open_console, panel_of, press_button, row_of, seconds_shown
from tests.factories import make_exam, make_user
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PUSH_BOUND_SECONDS = 1.0  # the contract: a change is on every open page within 1 s
PRESENCE_MS = 3_500  # presence within 3 s, and the console redraws twice a second
JUMP_TOLERANCE_SECONDS = 1.5  # the countdown moved by the change, give or take a tick's rounding


def notice_shown(text: str) -> str:
    """A predicate for `stamp_when`: a live notice of the page says exactly `text`."""
    return (
        "[...document.querySelectorAll('#live-notices .live-notice-text')]"
        f".some((node) => node.textContent === {json.dumps(text)})"
    )


def length_of(seconds: int) -> str:
    """How the page says a length of time (exam-live.js): "10 min", "1 min 4 s", "7 s"."""
    minutes, rest = divmod(seconds, 60)
    parts = [f"{minutes} min"] if minutes else []
    if rest or not parts:
        parts.append(f"{rest} s")
    return " ".join(parts)


class Student:
    """The student's two tabs: what each shows, and how late after a proctor's key press it showed it."""

    def __init__(self, tabs: dict) -> None:
        self.tabs = tabs
        self.late: dict[str, list[float]] = {}

    def when(self, what: str, predicate: str, act) -> None:
        """Run `act` (the proctor's last key press) and wait until `predicate` holds in every tab."""
        for tab in self.tabs.values():
            stamp_when(tab, what, predicate)
        pressed = time.time()
        act()
        self.late[what] = [seen_at(tab, what) - pressed for tab in self.tabs.values()]

    def deadlines(self) -> dict:
        return {name: implied_deadline(tab) for name, tab in self.tabs.items()}

    def moved_by(self, before: dict, seconds: float) -> None:
        for name, tab in self.tabs.items():
            moved = implied_deadline(tab) - before[name]
            assert abs(moved - seconds) <= JUMP_TOLERANCE_SECONDS, f"{name}: moved {moved:.1f} s, not {seconds}"

    def report(self) -> str:
        return "; ".join(f"{what} {', '.join(f'{s * 1000:.0f}' for s in late)}" for what, late in self.late.items())


def test_each_console_control_shows_on_both_tabs_of_the_students_page_within_a_second(cluster, pages):
    student_web, proctor_web = cluster.start_webs(2)
    cluster.start_worker()
    proctor = make_user("proctor-ola", is_staff=True)
    nia, omar = make_user("nia"), make_user("omar")
    exam = make_exam(questions=3, duration_minutes=30, title="Console to page")
    attempt = services.attempt_start(user=nia, exam_id=exam.pk).attempt
    services.attempt_start(user=omar, exam_id=exam.pk)  # another student still working
    board = open_console(pages, proctor_web, proctor, exam)
    row = row_of(board, attempt.pk)

    # Nia's page is not open yet: offline since her start, time the proctor will credit later.
    wait_until(lambda: seconds_shown(row.locator(".offline").inner_text()) >= 3, timeout=15, what="3 s offline")
    tab_a = pages.open("tab-a")
    open_exam(tab_a, student_web.base_url, nia.username, exam.pk)
    expect(tab_a.locator("#exam-note")).to_contain_text("Resuming existing exam attempt")
    expect(tab_a.locator("#connection")).to_have_attribute("data-state", "live")
    tab_b = second_tab(pages, tab_a, "tab-b", student_web.base_url, nia.username, exam.pk)
    expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
    student = Student({"tab A": tab_a, "tab B": tab_b})

    # 1. Extend one student: 10 min, "fire alarm".
    press_button(board, "Extend time for nia")
    panel = panel_of(board, attempt.pk)
    panel.get_by_label("Minutes to add").fill("10")
    panel.get_by_label("Reason (the student sees it)").fill("fire alarm")
    before = student.deadlines()
    student.when(
        "extend one",
        notice_shown("+10 min added by the proctor: fire alarm"),
        lambda: panel.get_by_label("Reason (the student sees it)").press("Enter"),
    )
    student.moved_by(before, 600)
    expect(board.locator("#console-status")).to_have_text("Added 10 min for nia.")

    # 2. Extend everyone still working: 5 min, "power cut".
    board.locator("#extend-all-form").get_by_label("Minutes to add").fill("5")
    board.locator("#extend-all-reason").fill("power cut")
    before = student.deadlines()
    student.when(
        "extend all",
        notice_shown("+5 min added by the proctor: power cut"),
        lambda: board.locator("#extend-all-reason").press("Enter"),
    )
    student.moved_by(before, 300)
    expect(board.locator("#extend-all-done")).to_have_text("Added 5 min to 2 attempts still running.")

    # 3. An announcement: a banner in both tabs.
    board.get_by_label("Message to everyone taking the exam").fill("Question 2: option B should read 12")
    board.keyboard.press("Tab")  # a textarea: Enter is a new line, the button posts
    expect(board.get_by_role("button", name="Post announcement")).to_be_focused()
    student.when(
        "announcement",
        "[...document.querySelectorAll('#announcements .announcement')]"
        ".some((node) => node.textContent.includes('Question 2: option B should read 12'))",
        lambda: board.keyboard.press("Enter"),
    )
    for tab in student.tabs.values():
        expect(tab.locator("#announcer")).to_have_text(
            "Announcement from the proctor: Question 2: option B should read 12"
        )

    # 4. Credit the offline time (the seconds before her page opened), no reason typed: the default one.
    credit = row.locator(".action-credit")
    expect(credit).to_be_visible()
    credit.focus()
    board.keyboard.press("Enter")
    panel = panel_of(board, attempt.pk)
    expect(panel).to_contain_text("not credited yet")
    before = student.deadlines()
    student.when(
        "credit offline",
        "[...document.querySelectorAll('#live-notices .live-notice-text')]"
        ".some((node) => node.textContent.endsWith('added by the proctor: Offline time credited'))",
        lambda: panel.get_by_label("Reason (the student sees it)").press("Enter"),
    )
    credited = Attempt.objects.get(pk=attempt.pk).offline_credited_seconds
    assert credited >= 3
    for tab in student.tabs.values():
        expect(tab.locator("#live-notices .live-notice-text").first).to_have_text(
            f"+{length_of(credited)} added by the proctor: Offline time credited"
        )
    student.moved_by(before, credited)
    expect(credit).to_be_hidden()

    # 5. End now, after the confirmation: both tabs lock and show the result.
    press_button(board, "End now, attempt of nia")
    panel = panel_of(board, attempt.pk)
    board.keyboard.type("left the room")
    student.when(
        "end",
        "!document.getElementById('ended-banner').hidden",
        lambda: panel.get_by_role("button", name="End the attempt now").press("Enter"),
    )
    for tab in student.tabs.values():
        expect(tab.locator("#ended-banner")).to_have_text("Exam ended by the proctor")
        expect(tab.locator("#result-title")).to_have_text("Exam ended by the proctor")
        expect(tab.locator("#result-score")).to_have_text("0")
        expect(tab.locator("#submit-exam")).to_be_disabled()
    expect(row).to_have_attribute("data-status", "completed")

    # 6. Reopen for 7 minutes: opening the page again resumes it, in both tabs.
    expect(board.get_by_role("button", name="Reopen attempt of nia")).to_be_focused()
    board.keyboard.press("Enter")
    panel = panel_of(board, attempt.pk)
    panel.get_by_label("Minutes to give").fill("7")
    panel.get_by_label("Reason (for the audit trail)").fill("ended by mistake")
    panel.get_by_label("Reason (for the audit trail)").press("Enter")
    expect(row).to_have_attribute("data-status", "ongoing")
    for tab in student.tabs.values():
        tab.reload()
        tab.wait_for_selector(".question")
        expect(tab.locator("#connection")).to_have_attribute("data-state", "live")
        expect(tab.locator("#exam-note")).to_contain_text("Resuming existing exam attempt")
        expect(tab.locator("#ended-banner")).to_be_hidden()
        left = implied_deadline(tab) - time.time()
        assert 7 * 60 - 15 <= left <= 7 * 60, left

    # 7. The audit trail beside the row lists all of it, with who and why.
    press_button(board, "Audit trail of nia")
    lines = panel_of(board, attempt.pk).locator("table.audit tbody tr")
    kinds = ["time_changed", "time_changed", "time_changed", "ended", "reopened"]
    assert [e.kind for e in AttemptEvent.objects.filter(attempt=attempt, kind__in=set(kinds)).order_by("pk")] == kinds
    for what, reason in [
        ("Time changed +10:00", "fire alarm"),
        ("Time changed +5:00", "power cut"),
        (f"Time changed +{credited // 60}:{credited % 60:02d}", "Offline time credited"),
        ("Ended by a proctor", "left the room"),
        ("Reopened for 7:00", "ended by mistake"),
    ]:
        line = lines.filter(has=board.locator(".what", has_text=what))
        expect(line.locator(".who")).to_have_text("proctor-ola")
        expect(line.locator(".reason")).to_have_text(reason)

    print(f"\nconsole key press -> shown in tabs A, B (ms, the console's request included): {student.report()}")
    late = {what: max(seconds) for what, seconds in student.late.items()}
    assert max(late.values()) <= PUSH_BOUND_SECONDS, late


def test_the_console_follows_a_real_page_closing_coming_back_and_its_process_killed_within_3_s(cluster, pages):
    # The student's page (not a bare socket) on one daphne process, the console on the other.
    student_web, proctor_web = cluster.start_webs(2)
    proctor, ria = make_user("proctor-pat", is_staff=True), make_user("ria")
    exam = make_exam(questions=2, duration_minutes=30)
    tab = pages.open("student")
    open_exam(tab, student_web.base_url, ria.username, exam.pk)
    expect(tab.locator("#connection")).to_have_attribute("data-state", "live")
    attempt = Attempt.objects.get(user=ria, exam=exam)
    board = open_console(pages, proctor_web, proctor, exam)
    row = row_of(board, attempt.pk)
    expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
    presence = f"document.querySelector(\"tr[data-attempt-id='{attempt.pk}'] .presence\").textContent"
    late = {}

    def console_shows(what: str, starts: str, act) -> None:
        stamp_when(board, what, f"{presence}.startsWith({json.dumps(starts)})")
        started = time.time()
        act()
        late[what] = seen_at(board, what) - started

    console_shows("tab closed", "Offline since", tab.close)
    again = pages.open("student-again")
    sign_in(again, student_web.base_url, ria.username)  # then the exam page: its load and socket are timed
    console_shows("page opened", "Connected", lambda: again.goto(f"{student_web.base_url}/exam/{exam.pk}/"))
    expect(again.locator("#exam-note")).to_contain_text("Resuming existing exam attempt")
    console_shows("process SIGKILLed", "Offline since", student_web.kill)  # no close frame, no `disconnected` from it
    expect(again.locator("#connection")).not_to_have_attribute("data-state", "live")
    expect(row).to_have_attribute("data-presence", "offline")
    assert [e.data.get("reason") for e in AttemptEvent.objects.filter(attempt=attempt, kind="disconnected")] == [
        "closed",
        "server_gone",
    ]

    print(f"\nreal page -> console's row: {', '.join(f'{what} {s * 1000:.0f} ms' for what, s in late.items())}")
    # "page opened" also includes the page's load and its start request before the socket connects.
    assert max(late.values()) < PRESENCE_MS / 1000, late
