"""The proctor's console in headless Chromium, through the page only (clicks and keys), against real
daphne, expiry worker, Redis and MariaDB: a row's extend, end, reopen, the exam-wide extension,
announcements, the results CSV, the audit trail, and the API's errors shown in words.

Each effect is checked in the database, on the dashboard's row, and where it is cheap on the
student's real attempt socket (tests/browser/student_socket.py).
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from attempts import services
from attempts.models import Announcement, Attempt, AttemptEvent
from attempts.services import control
from tests.browser.conftest import sign_in
from tests.browser.student_socket import StudentSocket
from tests.factories import access_token_for, make_exam, make_user
from tests.helpers import wait_until

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
        changes = Attempt.objects.filter(pk__in=[first.pk, second.pk, done.pk]).order_by("pk")
        assert [a.change_seconds for a in changes] == [1020, 300, 0]
        assert student.frame("time_changed", where=lambda f: f["reason"] == "power cut")["change_seconds"] == 300
        board.locator("#extend-all-reason").blur()
        pages.screenshot(board, "console-overview", doc="proctor-console")
    finally:
        student.close()


def test_a_proctor_ends_an_attempt_only_after_confirming_then_reopens_it(cluster, pages):
    web = cluster.start_web()
    cluster.start_worker()
    proctor = make_user("proctor-jo", is_staff=True)
    dana = make_user("dana")
    exam = make_exam(questions=4, duration_minutes=30)
    attempt = services.attempt_start(user=dana, exam_id=exam.pk).attempt
    first_question = exam.questions.order_by("id").first()
    services.answer_save(user=dana, attempt_id=attempt.pk, question_id=first_question.pk, selected_option="A")
    student = StudentSocket(web, attempt.pk, access_token_for(dana))
    try:
        student.frame("tick")
        board = open_console(pages, web, proctor, exam)
        row = row_of(board, attempt.pk)

        # The first step only asks; Escape (or Cancel) leaves the attempt running.
        press_button(board, "End now, attempt of dana")
        panel = panel_of(board, attempt.pk)
        expect(panel).to_contain_text("End dana's attempt now?")
        expect(panel.get_by_label("Reason (for the audit trail)")).to_be_focused()
        board.keyboard.press("Escape")
        expect(panel).to_have_count(0)
        expect(board.get_by_role("button", name="End now, attempt of dana")).to_be_focused()
        press_button(board, "End now, attempt of dana")
        panel.get_by_role("button", name="Cancel").click()
        expect(panel).to_have_count(0)
        assert Attempt.objects.get(pk=attempt.pk).status == Attempt.Status.ONGOING

        # Confirmed: completed and scored, the student's socket told, the row follows.
        press_button(board, "End now, attempt of dana")
        board.keyboard.type("left the room")
        panel.get_by_role("button", name="End the attempt now").click()
        expect(row).to_have_attribute("data-status", "completed")
        expect(row.locator(".status")).to_have_text("Submitted")
        expect(row.locator(".score")).to_have_text("1 (25%)")
        expect(board.locator("#console-status")).to_have_text("Ended dana's attempt: score 1 (25%).")
        ended = Attempt.objects.get(pk=attempt.pk)
        assert (ended.status, ended.score) == (Attempt.Status.COMPLETED, 1)
        assert AttemptEvent.objects.get(attempt=attempt, kind="ended").data["reason"] == "left the room"
        assert student.frame("completed")["message"] == "Exam ended by the proctor"
        wait_until(lambda: student.close_code == 1000, timeout=10, what="the student's socket closed with 1000")
        # Focus went back to the row, to the button it now offers.
        expect(board.get_by_role("button", name="Reopen attempt of dana")).to_be_focused()

        # Reopen for 7 minutes: ongoing again, answers kept, score cleared.
        board.keyboard.press("Enter")
        panel.get_by_label("Minutes to give").fill("7")
        panel.get_by_label("Reason (for the audit trail)").fill("laptop died")
        panel.get_by_label("Reason (for the audit trail)").press("Enter")
        expect(row).to_have_attribute("data-status", "ongoing")
        expect(row.locator(".score")).to_have_text("—")
        left = seconds_shown(row.locator(".remaining").inner_text())
        assert 6 * 60 <= left <= 7 * 60
        reopened = Attempt.objects.get(pk=attempt.pk)
        assert (reopened.status, reopened.score) == (Attempt.Status.ONGOING, None)
        assert reopened.answers.count() == 1
        assert reopened.deadline_at - timezone.now() == pytest.approx(timedelta(minutes=7), abs=timedelta(seconds=15))
        expect(board.locator("#console-status")).to_have_text("Reopened dana's attempt for 7 min.")
    finally:
        student.close()
    # The student's next socket resumes it.
    again = StudentSocket(web, attempt.pk, access_token_for(dana))
    try:
        tick = again.frame("tick")
        assert tick["status"] == "running" and 6 * 60 <= tick["remaining_seconds"] <= 7 * 60
    finally:
        again.close()


def test_an_announcement_reaches_the_students_socket_and_the_console(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-kim", is_staff=True)
    eve = make_user("eve")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=eve, exam_id=exam.pk).attempt
    student = StudentSocket(web, attempt.pk, access_token_for(eve))
    try:
        student.frame("tick")
        board = open_console(pages, web, proctor, exam)
        message = board.get_by_label("Message to everyone taking the exam")
        message.fill("Question 2: option B should read 12")
        board.keyboard.press("Tab")
        expect(board.get_by_role("button", name="Post announcement")).to_be_focused()
        board.keyboard.press("Enter")

        expect(board.locator("#announce-done")).to_contain_text("Posted to everyone taking the exam at")
        expect(message).to_have_value("")
        posted = Announcement.objects.get(exam=exam)
        assert posted.message == "Question 2: option B should read 12"
        heard = student.frame("announcement")
        assert (heard["id"], heard["message"]) == (posted.pk, posted.message)
        listed = board.locator(f"#announcements li[data-announcement-id='{posted.pk}']")
        expect(listed).to_contain_text("proctor-kim: Question 2: option B should read 12")
    finally:
        student.close()


def test_the_results_csv_downloads_with_the_proctors_token(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-lu", is_staff=True)
    exam = make_exam(questions=2)
    for name in ("fay", "gus"):
        user = make_user(name)
        services.attempt_start(user=user, exam_id=exam.pk)
    # Their pages connected: the offline time stands still, so the download and the API read the same bytes.
    Attempt.objects.filter(exam=exam).update(connected=True)
    board = open_console(pages, web, proctor, exam)

    link = board.get_by_role("link", name="Download results (CSV)")
    link.focus()
    with board.expect_download() as info:
        board.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename == f"exam-{exam.pk}-results.csv"
    saved = download.path().read_bytes()

    request = urllib.request.Request(
        f"{web.base_url}/api/exam/proctor/exams/{exam.pk}/results.csv",
        headers={"Authorization": f"Bearer {access_token_for(proctor)}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert saved == response.read()
    lines = saved.decode().splitlines()
    assert lines[0].startswith("attempt_id,username,status,")
    assert [line.split(",")[1:3] for line in lines[1:]] == [["fay", "ongoing"], ["gus", "ongoing"]]
    expect(board.locator("#download-error")).to_be_hidden()


def test_the_audit_trail_opens_below_its_row_follows_events_and_closes_with_escape(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-mo", is_staff=True)
    hal, ivy = make_user("hal"), make_user("ivy")
    exam = make_exam(questions=3, duration_minutes=30)
    attempt = services.attempt_start(user=hal, exam_id=exam.pk).attempt
    other = services.attempt_start(user=ivy, exam_id=exam.pk).attempt
    control.attempt_extend(actor=proctor, attempt_id=attempt.pk, seconds=600, reason="fire alarm")
    board = open_console(pages, web, proctor, exam)

    press_button(board, "Audit trail of hal")
    panel = panel_of(board, attempt.pk)
    expect(panel.get_by_role("heading", name="Audit trail: hal")).to_be_focused()
    # Beside its row: the panel's row comes right after the attempt's, before the other attempt's.
    assert board.evaluate(
        f"document.querySelector(\"tr[data-attempt-id='{attempt.pk}']\").nextElementSibling.dataset.panelFor"
    ) == str(attempt.pk)
    lines = panel.locator("table.audit tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0).locator(".what")).to_have_text("Started (time limit 30:00)")
    expect(lines.nth(0).locator(".who")).to_have_text("hal")
    expect(lines.nth(1).locator(".what")).to_have_text("Time changed +10:00")
    expect(lines.nth(1).locator(".who")).to_have_text("proctor-mo")
    expect(lines.nth(1).locator(".reason")).to_have_text("fire alarm")
    shown_at = lines.nth(1).locator("time").get_attribute("datetime")
    recorded = AttemptEvent.objects.get(attempt=attempt, kind="time_changed").at
    assert abs(datetime.fromisoformat(shown_at.replace("Z", "+00:00")) - recorded) < timedelta(seconds=1)

    # While open it follows the attempt: the student's answer appears without a click.
    question = exam.questions.order_by("id").first()
    services.answer_save(user=hal, attempt_id=attempt.pk, question_id=question.pk, selected_option="B")
    expect(lines).to_have_count(3)
    expect(lines.nth(2).locator(".what")).to_have_text(f"Answer B saved (question {question.pk})")
    pages.screenshot(board, "console-audit", doc="proctor-console-audit")

    # Another row's trail replaces it; Escape closes, and the focus goes back to the button.
    press_button(board, "Audit trail of ivy")
    expect(panel).to_have_count(0)
    expect(panel_of(board, other.pk).get_by_role("heading", name="Audit trail: ivy")).to_be_focused()
    board.keyboard.press("Escape")
    expect(panel_of(board, other.pk)).to_have_count(0)
    ivy_button = board.get_by_role("button", name="Audit trail of ivy")
    expect(ivy_button).to_be_focused()
    expect(ivy_button).to_have_attribute("aria-expanded", "false")
    # The Close button too, and the same row button toggles.
    board.keyboard.press("Enter")
    board.get_by_role("button", name="Close audit trail").click()
    expect(panel_of(board, other.pk)).to_have_count(0)
    press_button(board, "Audit trail of ivy")
    expect(panel_of(board, other.pk)).to_be_visible()
    ivy_button.click()
    expect(panel_of(board, other.pk)).to_have_count(0)


def test_a_panel_keeps_what_the_proctor_typed_while_other_rows_change(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-ned", is_staff=True)
    jan, kai = make_user("jan"), make_user("kai")
    exam = make_exam(questions=3)
    attempt = services.attempt_start(user=jan, exam_id=exam.pk).attempt
    board = open_console(pages, web, proctor, exam)
    press_button(board, "Extend time for jan")
    reason = panel_of(board, attempt.pk).get_by_label("Reason (the student sees it)")
    reason.fill("half typed")
    reason.focus()

    # Another student starts and answers: new rows and events re-render the table.
    other = services.attempt_start(user=kai, exam_id=exam.pk).attempt
    services.answer_save(
        user=kai, attempt_id=other.pk, question_id=exam.questions.order_by("id").first().pk, selected_option="A"
    )
    expect(row_of(board, other.pk).locator(".answered")).to_have_text("1 / 3")
    expect(reason).to_have_value("half typed")
    expect(reason).to_be_focused()


# --- The API's errors, in words beside the control that caused them ---


def test_ending_an_attempt_that_just_ended_says_so_beside_the_button(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-oz", is_staff=True)
    lee = make_user("lee")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=lee, exam_id=exam.pk).attempt
    board = open_console(pages, web, proctor, exam)
    press_button(board, "End now, attempt of lee")
    panel = panel_of(board, attempt.pk)
    expect(panel).to_be_visible()

    # The student submits while the proctor is confirming.
    services.attempt_submit(user=lee, attempt_id=attempt.pk)
    expect(row_of(board, attempt.pk)).to_have_attribute("data-status", "completed")
    panel.get_by_role("button", name="End the attempt now").click()
    error = panel.get_by_role("alert")
    expect(error).to_have_text("This attempt had already ended: nothing was changed.")
    expect(error).to_have_attribute("data-code", "attempt_ended")
    assert not AttemptEvent.objects.filter(attempt=attempt, kind="ended").exists()
    pages.screenshot(board, "console-error", doc="proctor-console-error")


def test_reopening_an_attempt_another_proctor_reopened_or_with_another_attempt_running(cluster, pages):
    web = cluster.start_web()
    proctor, colleague = make_user("proctor-pia", is_staff=True), make_user("proctor-raj", is_staff=True)
    max_, sam = make_user("max"), make_user("sam")
    exam = make_exam(questions=2)
    first = services.attempt_start(user=max_, exam_id=exam.pk).attempt
    services.attempt_submit(user=max_, attempt_id=first.pk)
    gone = services.attempt_start(user=sam, exam_id=exam.pk).attempt
    services.attempt_submit(user=sam, attempt_id=gone.pk)
    board = open_console(pages, web, proctor, exam)

    # A colleague reopens it while this proctor fills in the form: still running, nothing to reopen.
    press_button(board, "Reopen attempt of max")
    panel = panel_of(board, first.pk)
    expect(panel).to_be_visible()
    control.attempt_reopen(actor=colleague, attempt_id=first.pk, seconds=300)
    expect(row_of(board, first.pk)).to_have_attribute("data-status", "ongoing")
    panel.get_by_role("button", name="Reopen").click()
    expect(panel.get_by_role("alert")).to_have_text(
        "This attempt is still running, so there is nothing to reopen. Extend it instead."
    )
    board.keyboard.press("Escape")

    # The student started another attempt meanwhile: one ongoing attempt per student.
    again = services.attempt_start(user=sam, exam_id=exam.pk).attempt
    expect(row_of(board, again.pk)).to_be_visible()
    rows_of_sam = board.get_by_role("button", name="Reopen attempt of sam")
    press_button(board, "Reopen attempt of sam")
    panel = panel_of(board, gone.pk)
    panel.get_by_role("button", name="Reopen").click()
    expect(panel.get_by_role("alert")).to_have_text(
        "The student has another attempt of this exam in progress. End that one first, then reopen this one."
    )
    expect(panel.get_by_role("alert")).to_have_attribute("data-code", "other_attempt_running")
    expect(rows_of_sam).to_have_count(1)
    assert Attempt.objects.get(pk=gone.pk).status == Attempt.Status.COMPLETED


def test_a_proctor_taken_off_the_exam_is_told_at_the_control(cluster, pages):
    web = cluster.start_web()
    proctor, other = make_user("proctor-tia", is_staff=True), make_user("proctor-uma", is_staff=True)
    vic = make_user("vic")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=vic, exam_id=exam.pk).attempt
    board = open_console(pages, web, proctor, exam)
    before = deadline_of(attempt)
    exam.proctors.set([other])  # from now on only `other` may control this exam

    press_button(board, "Extend time for vic")
    panel_of(board, attempt.pk).get_by_label("Minutes to add").press("Enter")
    error = panel_of(board, attempt.pk).get_by_role("alert")
    expect(error).to_have_text(
        "Not allowed: only this exam's proctors can do this. Sign in with a proctor account of this exam."
    )
    expect(error).to_have_attribute("data-code", "staff_only")
    # Beside the exam-wide control too.
    board.locator("#extend-all-submit").click()
    expect(board.locator("#extend-all-error")).to_have_attribute("data-code", "staff_only")
    assert deadline_of(attempt) == before


def test_a_blank_announcement_and_a_lost_network_are_said_in_words(cluster, pages):
    web = cluster.start_web()
    proctor = make_user("proctor-val", is_staff=True)
    wes = make_user("wes")
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=wes, exam_id=exam.pk).attempt
    board = open_console(pages, web, proctor, exam)

    # Spaces pass the browser's `required`; the server refuses them, naming the field.
    board.get_by_label("Message to everyone taking the exam").fill("   ")
    board.get_by_role("button", name="Post announcement").click()
    expect(board.locator("#announce-error")).to_have_text("Not accepted. Message: This field may not be blank.")
    expect(board.locator("#announce-error")).to_have_attribute("data-code", "invalid_input")
    assert not Announcement.objects.filter(exam=exam).exists()

    # The proctor's network goes away: the request cannot leave the browser.
    before = deadline_of(attempt)
    board.context.set_offline(True)
    press_button(board, "Extend time for wes")
    panel = panel_of(board, attempt.pk)
    panel.get_by_role("button", name="Extend").click()
    expect(panel.get_by_role("alert")).to_have_attribute("data-code", "network")
    expect(panel.get_by_role("alert")).to_contain_text("The server could not be reached")
    assert deadline_of(attempt) == before
    board.context.set_offline(False)
    panel.get_by_role("button", name="Extend").click()  # the same panel, tried again
    expect(panel).to_have_count(0)
    wait_until(lambda: deadline_of(attempt) - before > 590, timeout=10, what="the retried extension")


# --- Presence on the rows, from frames of the contract injected into the real socket ---


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def tap_without_server_presence(board, sockets: list) -> None:
    """Route the dashboard's socket so that the page sees no presence from the server: the
    snapshot's rows lose the presence keys and `presence` frames are dropped. The test then
    sends its own, so these checks hold with or without the server's presence."""

    def route(ws):
        server = ws.connect_to_server()

        def from_server(message):
            frame = json.loads(message)
            if frame.get("type") == "presence":
                return
            for row in frame.get("attempts", []):
                for key in PRESENCE_KEYS:
                    row.pop(key, None)
            for key in PRESENCE_KEYS:
                frame.pop(key, None)
            ws.send(json.dumps(frame))

        server.on_message(from_server)
        sockets.append(ws)

    board.route_web_socket("**/ws/proctor/**", route)


def console_without_server_presence(cluster, pages, *, proctor: str, student: str) -> tuple:
    """A console watching one student's attempt, its socket stripped of the server's presence:
    (board, its sockets, the attempt's row, the attempt id)."""
    web = cluster.start_web()
    proctor_user = make_user(proctor, is_staff=True)
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=make_user(student), exam_id=exam.pk).attempt
    board = pages.open("proctor")
    sockets: list = []
    tap_without_server_presence(board, sockets)
    sign_in(board, web.base_url, proctor_user.username, next_path=f"/proctor/exams/{exam.pk}/")
    row = row_of(board, attempt.pk)
    expect(row).to_be_visible()
    return board, sockets, row, attempt.pk


def test_rows_without_presence_keys_show_dashes_and_offer_no_credit(cluster, pages):
    _, _, row, _ = console_without_server_presence(cluster, pages, proctor="proctor-xu", student="yan")
    expect(row.locator(".presence")).to_have_text("—")
    expect(row.locator(".offline")).to_have_text("—")
    expect(row).to_have_attribute("data-presence", "unknown")
    expect(row.locator(".action-credit")).to_be_hidden()
    expect(row.get_by_role("button", name="Extend time for yan")).to_be_visible()


def test_presence_frames_drive_the_columns_and_the_credit_button(cluster, pages):
    board, sockets, row, attempt_id = console_without_server_presence(
        cluster, pages, proctor="proctor-zed", student="ada"
    )

    def presence(connected: bool, offline_seconds: int, since=None, credited: int | None = None) -> None:
        frame = {
            "type": "presence",
            "attempt_id": attempt_id,
            "connected": connected,
            "offline_seconds": offline_seconds,
            "offline_since": _iso(since) if since else None,
        }
        if credited is not None:
            frame["offline_credited_seconds"] = credited
        sockets[-1].send(json.dumps(frame))

    presence(True, 0)
    expect(row.locator(".presence")).to_have_text("Connected")
    expect(row).to_have_attribute("data-presence", "connected")
    expect(row.locator(".offline")).to_have_text("0:00")
    expect(row.locator(".action-credit")).to_be_hidden()

    # Offline for 75 s already (another page's socket went away): both counts run on locally.
    presence(False, 75, since=timezone.now() - timedelta(seconds=75))
    expect(row.locator(".presence")).to_have_text("Offline since 1:15", timeout=3000)
    expect(row.locator(".presence")).to_have_text("Offline since 1:17", timeout=5000)
    expect(row.locator(".offline")).to_have_text("1:17", timeout=5000)
    credit = row.get_by_role("button", name="Credit 1:18 offline time to ada")
    expect(credit).to_be_visible(timeout=5000)
    expect(credit).to_have_text("Credit 1:18")
    pages.screenshot(board, "console-offline", doc="proctor-console-presence")

    # Back: the total stops; 60 s of it credited already leaves 20 s to credit.
    presence(True, 80, credited=60)
    expect(row.locator(".presence")).to_have_text("Connected")
    expect(row.locator(".offline")).to_have_text("1:20")
    expect(row.get_by_role("button", name="Credit 0:20 offline time to ada")).to_be_visible()
    press_button(board, "Credit 0:20 offline time to ada")
    expect(panel_of(board, attempt_id)).to_contain_text(
        "ada's page has been offline for 1:20 in all, 1:00 of it credited already. Add the 0:20 not credited yet"
    )
    board.keyboard.press("Escape")
    presence(True, 80, credited=80)
    expect(row.locator(".action-credit")).to_be_hidden()
