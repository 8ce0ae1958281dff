"""Presence on the proctor's console, from the server's own presence (snapshot keys `connected`,
`offline_seconds`, `offline_since`, `offline_credited_seconds`, the `presence` frame, and
POST …/credit-offline/), with the student's socket and the proctor's page on two daphne processes.

These need the presence backend: without it the rows carry no presence and these tests fail.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from attempts import services
from attempts.models import Attempt, AttemptEvent
from tests.browser.conftest import sign_in
from tests.browser.student_socket import StudentSocket
from tests.e2e.clients import rest
from tests.factories import access_token_for, make_exam, make_user
from tests.helpers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The contract: presence right within 3 s; the page redraws twice a second on top of that.
PRESENCE_MS = 3_500
OFFLINE_SINCE = re.compile(r"^Offline since 0:0\d$")


def row_of(page, attempt_id: int):
    return page.locator(f"#attempt-rows tr[data-attempt-id='{attempt_id}']")


def open_console(pages, server, proctor, exam):
    board = pages.open("proctor")
    sign_in(board, server.base_url, proctor.username, next_path=f"/proctor/exams/{exam.pk}/")
    expect(board.locator("#connection")).to_have_text("Live")
    return board


def offline_shown(row) -> int:
    minutes, seconds = row.locator(".offline").inner_text().split(":")
    return int(minutes) * 60 + int(seconds)


def test_a_row_follows_its_students_socket_closing_and_coming_back(cluster, pages):
    student_web, proctor_web = cluster.start_webs(2)
    proctor = make_user("proctor-pam", is_staff=True)
    bea = make_user("bea")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=bea, exam_id=exam.pk).attempt
    board = open_console(pages, proctor_web, proctor, exam)
    row = row_of(board, attempt.pk)
    expect(row.locator(".presence")).to_have_text(re.compile(r"^Offline"))  # started, never connected

    socket = StudentSocket(student_web, attempt.pk, access_token_for(bea))
    socket.frame("tick")
    expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
    expect(row).to_have_attribute("data-presence", "connected")
    socket.close()
    expect(row.locator(".presence")).to_have_text(OFFLINE_SINCE, timeout=PRESENCE_MS)
    before = offline_shown(row)
    wait_until(lambda: offline_shown(row) >= before + 2, timeout=10, what="the offline total counting on")

    again = StudentSocket(student_web, attempt.pk, access_token_for(bea))
    try:
        expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
        frozen = offline_shown(row)
        assert frozen >= before + 2
        # Two more ticks of the student's socket (2 s): connected, the total stands still.
        wait_until(lambda: len(again.frames("tick")) >= 3, timeout=10, what="three ticks")
        assert offline_shown(row) == frozen
        assert AttemptEvent.objects.filter(attempt=attempt, kind="disconnected").exists()
    finally:
        again.close()


def test_a_proctor_credits_the_offline_time_and_the_student_is_told(cluster, pages):
    student_web, proctor_web = cluster.start_webs(2)
    proctor, colleague = make_user("proctor-quin", is_staff=True), make_user("proctor-rex", is_staff=True)
    cal = make_user("cal")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=cal, exam_id=exam.pk).attempt
    first = StudentSocket(student_web, attempt.pk, access_token_for(cal))
    first.frame("tick")
    board = open_console(pages, proctor_web, proctor, exam)
    row = row_of(board, attempt.pk)
    expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
    first.close()
    expect(row.locator(".presence")).to_have_text(OFFLINE_SINCE, timeout=PRESENCE_MS)
    wait_until(lambda: offline_shown(row) >= 4, timeout=15, what="4 s offline")
    student = StudentSocket(student_web, attempt.pk, access_token_for(cal))
    try:
        expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
        credit = row.locator(".action-credit")
        expect(credit).to_be_visible()
        before = Attempt.objects.get(pk=attempt.pk).deadline_at

        credit.focus()
        board.keyboard.press("Enter")
        panel = board.locator(f"tr.panel-row[data-panel-for='{attempt.pk}']")
        expect(panel).to_contain_text("not credited yet")
        panel.get_by_role("button", name="Credit offline time").click()
        expect(panel).to_have_count(0)
        expect(credit).to_be_hidden()

        after = Attempt.objects.get(pk=attempt.pk)
        credited = after.offline_credited_seconds
        assert credited >= 4
        assert (after.deadline_at - before).total_seconds() == pytest.approx(credited, abs=0.01)
        changed = student.frame("time_changed")
        assert (changed["change_seconds"], changed["reason"]) == (credited, "Offline time credited")
        expect(board.locator("#console-status")).to_contain_text("of offline time to cal.")

        # Nothing left: a colleague's credit in between makes this one a refusal, said in words.
        student.close()
        expect(row.locator(".presence")).to_have_text(OFFLINE_SINCE, timeout=PRESENCE_MS)
        wait_until(lambda: row.locator(".action-credit").is_visible(), timeout=10, what="offline time to credit")
        row.locator(".action-credit").click()
        status, body = rest(
            proctor_web,
            "POST",
            f"/api/exam/proctor/attempts/{attempt.pk}/credit-offline/",
            token=access_token_for(colleague),
            body={},
        )
        assert status == 200, body
        back = StudentSocket(student_web, attempt.pk, access_token_for(cal))
        try:
            expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
            panel.get_by_role("button", name="Credit offline time").click()
            error = panel.get_by_role("alert")
            expect(error).to_have_attribute("data-code", "nothing_to_credit")
            expect(error).to_have_text("There is no offline time to credit: all of it has been credited already.")
        finally:
            back.close()
    finally:
        student.close()


def test_a_killed_process_leaves_its_students_offline_within_3_s(cluster, pages):
    student_web, proctor_web = cluster.start_webs(2)
    proctor = make_user("proctor-sol", is_staff=True)
    dee = make_user("dee")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=dee, exam_id=exam.pk).attempt
    student = StudentSocket(student_web, attempt.pk, access_token_for(dee))
    try:
        student.frame("tick")
        board = open_console(pages, proctor_web, proctor, exam)
        row = row_of(board, attempt.pk)
        expect(row.locator(".presence")).to_have_text("Connected", timeout=PRESENCE_MS)
        student_web.kill()  # SIGKILL: no close frame, no `disconnected` from that process
        expect(row.locator(".presence")).to_have_text(OFFLINE_SINCE, timeout=PRESENCE_MS)
        expect(row).to_have_attribute("data-presence", "offline")
    finally:
        student.close()
