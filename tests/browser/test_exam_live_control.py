"""The student's exam page under the proctor's live control, in headless Chromium against real daphne,
expiry worker, MariaDB and Redis: the proctor acts through the staff REST API, as the console does.

Latencies are measured in the pages (Date.now() when the effect showed, against the test's
time.time() when the REST call was made, or the student clicked: one machine, one clock), so
they include the request itself; printed, run with -s.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from attempts.models import Attempt, AttemptEvent
from tests.browser.conftest import RIGHT, choose, implied_deadline, open_exam, option, question_ids, the_attempt
from tests.browser.live_tabs import checked, second_tab, seen_at, staff, staff_post, stamp_when
from tests.factories import make_exam, make_user
from tests.helpers import set_deadline

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PUSH_BOUND_SECONDS = 1.0  # the contract: a change is on every open page within 1 s
JUMP_TOLERANCE_SECONDS = 1.5  # the countdown moved by the change, give or take a tick's rounding


def notice(page, kind: str):
    return page.locator(f"#live-notices .live-notice[data-kind='{kind}']")


def notice_text(page, kind: str):
    return notice(page, kind).locator(".live-notice-text")


def test_an_extension_of_one_student_then_of_the_whole_exam_jumps_the_countdown_in_both_tabs(web, pages):
    student, proctor = make_user(), make_user(is_staff=True)
    exam = make_exam(questions=3, duration_minutes=30, title="Fire alarm")
    first_question = question_ids(exam)[0]
    tab_a = pages.open("tab-a")
    open_exam(tab_a, web.base_url, student.username, exam.pk)
    expect(tab_a.locator("#connection")).to_have_attribute("data-state", "live")
    tab_b = second_tab(pages, tab_a, "tab-b", web.base_url, student.username, exam.pk)
    attempt = the_attempt(student, exam)
    console = staff(web, proctor)
    # The student is answering: the focus is on an option, and no notice may take it.
    tab_a.focus(f"input[name='question-{first_question}'][value='A']")

    before = {tab: implied_deadline(tab) for tab in (tab_a, tab_b)}
    for tab in (tab_a, tab_b):
        stamp_when(tab, "extended", "document.querySelector('#live-notices .live-notice') !== null")
    called = time.time()
    staff_post(console, f"attempts/{attempt.pk}/extend/", {"minutes": 10, "reason": "fire alarm"})

    late = {}
    for key, tab in (("a", tab_a), ("b", tab_b)):
        late[key] = seen_at(tab, "extended") - called
        expect(notice_text(tab, "time-changed")).to_have_text("+10 min added by the proctor: fire alarm")
        moved = implied_deadline(tab) - before[tab]
        assert abs(moved - 600) <= JUMP_TOLERANCE_SECONDS, f"tab {key}: the countdown moved {moved:.1f} s, not 600"
        expect(tab.locator("#announcer")).to_contain_text("+10 min added by the proctor: fire alarm.")
    expect(tab_a.locator(f"input[name='question-{first_question}'][value='A']")).to_be_focused()
    pages.screenshot(tab_a, "time-changed", doc="exam-time-changed")

    # The whole exam, in seconds, without a reason: no colon part.
    before = {tab: implied_deadline(tab) for tab in (tab_a, tab_b)}
    staff_post(console, f"exams/{exam.pk}/extend/", {"seconds": 90})
    exam_wide = time.time()
    for key, tab in (("a", tab_a), ("b", tab_b)):
        expect(notice_text(tab, "time-changed").first).to_have_text("+1 min 30 s added by the proctor")
        moved = implied_deadline(tab) - before[tab]
        assert abs(moved - 90) <= JUMP_TOLERANCE_SECONDS, f"tab {key}: the countdown moved {moved:.1f} s, not 90"
    exam_late = time.time() - exam_wide
    expect(notice(tab_a, "time-changed")).to_have_count(2)  # both changes listed, newest first
    attempt.refresh_from_db()
    assert abs(implied_deadline(tab_a) - attempt.deadline_at.timestamp()) <= JUMP_TOLERANCE_SECONDS

    # Dismissed by keyboard, one after the other: each time the focus goes back to the option it came from.
    radio = tab_a.locator(f"input[name='question-{first_question}'][value='A']")
    for left in (1, 0):
        notice(tab_a, "time-changed").first.get_by_role("button", name="Dismiss").focus()
        tab_a.keyboard.press("Enter")
        expect(notice(tab_a, "time-changed")).to_have_count(left)
        expect(radio).to_be_focused()
    expect(tab_a.locator("#live-notices")).to_be_hidden()
    print(
        f"\none student +10 min: notice shown {late['a'] * 1000:.0f} ms (tab A), {late['b'] * 1000:.0f} ms (tab B) "
        f"after the REST call; whole exam +90 s: both tabs within {exam_late * 1000:.0f} ms (polled)"
    )
    assert max(late.values()) <= PUSH_BOUND_SECONDS, late


def test_a_warning_threshold_of_the_exam_is_a_notice_and_a_screen_reader_sentence(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30, title="Two-minute warning")
    exam.warning_minutes = [2]  # not one of the page's own colour lines (5 and 1): only the server knows it
    exam.save(update_fields=["warning_minutes"])
    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    choose(page, question_ids(exam)[0], "B")

    set_deadline(the_attempt(student, exam), 124)
    expect(notice_text(page, "warning")).to_have_text("2 minutes left", timeout=15_000)
    expect(page.locator("#announcer")).to_have_text("2 minutes left.")
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    expect(page.locator("#live-notices")).to_be_visible()
    pages.screenshot(page, "warning", doc="exam-warning")

    # Dismissed by keyboard: Enter on its button.
    notice(page, "warning").get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(notice(page, "warning")).to_have_count(0)


def test_an_announcement_stays_until_dismissed_in_every_tab_and_a_dismissal_survives_a_reload(web, pages):
    student, proctor = make_user(), make_user(is_staff=True)
    exam = make_exam(questions=2, duration_minutes=30, title="Announced")
    console = staff(web, proctor)
    earlier = staff_post(console, f"exams/{exam.pk}/announcements/", {"message": "Calculators are allowed."})
    tab_a = pages.open("tab-a")
    open_exam(tab_a, web.base_url, student.username, exam.pk)
    expect(tab_a.locator("#connection")).to_have_attribute("data-state", "live")
    tab_b = second_tab(pages, tab_a, "tab-b", web.base_url, student.username, exam.pk)
    banner = "#announcements .announcement[data-announcement-id='{}']".format
    # Posted before the pages opened: shown from `questions`.
    for tab in (tab_a, tab_b):
        expect(tab.locator(banner(earlier["id"]))).to_contain_text("Calculators are allowed.")

    for tab in (tab_a, tab_b):
        stamp_when(tab, "announced", "document.querySelectorAll('#announcements .announcement').length === 2")
    called = time.time()
    live = staff_post(console, f"exams/{exam.pk}/announcements/", {"message": "Question 2: option B should read 12."})
    late = [seen_at(tab, "announced") - called for tab in (tab_a, tab_b)]
    for tab in (tab_a, tab_b):
        expect(tab.locator(banner(live["id"]))).to_contain_text("Question 2: option B should read 12.")
        expect(tab.locator("#announcer")).to_have_text(
            "Announcement from the proctor: Question 2: option B should read 12."
        )
    pages.screenshot(tab_a, "announcement", doc="exam-announcement")

    # Still there a while later (it stays until dismissed), then dismissed by keyboard in tab A.
    tab_a.wait_for_timeout(1500)
    expect(tab_a.locator(banner(live["id"]))).to_be_visible()
    tab_a.locator(banner(live["id"])).get_by_role("button", name="Dismiss").focus()
    tab_a.keyboard.press("Enter")
    expect(tab_a.locator(banner(live["id"]))).to_have_count(0)
    expect(tab_b.locator(banner(live["id"]))).to_have_count(0)  # the same browser: dismissed there too
    expect(tab_b.locator(banner(earlier["id"]))).to_be_visible()

    tab_a.reload()
    tab_a.wait_for_selector(".question")
    expect(tab_a.locator(banner(earlier["id"]))).to_be_visible()
    expect(tab_a.locator(banner(live["id"]))).to_have_count(0)
    print(f"\nannouncement shown {', '.join(f'{s * 1000:.0f}' for s in late)} ms after the REST call (tabs A, B)")
    assert max(late) <= PUSH_BOUND_SECONDS, late


def test_ended_by_the_proctor_locks_the_page_then_a_reopen_resumes_it_on_opening(web, pages):
    student, proctor = make_user(), make_user(is_staff=True)
    exam = make_exam(questions=4, duration_minutes=30, title="Ended early")
    ids = question_ids(exam)
    page = pages.open("exam")
    open_exam(page, web.base_url, student.username, exam.pk)
    choose(page, ids[0], RIGHT[0])
    choose(page, ids[1], "D")  # wrong
    attempt = the_attempt(student, exam)
    console = staff(web, proctor)

    staff_post(console, f"attempts/{attempt.pk}/end/", {"reason": "left the room"})
    expect(page.locator("#ended-banner")).to_have_text("Exam ended by the proctor")
    expect(page.locator("#result-title")).to_have_text("Exam ended by the proctor")
    expect(page.locator("#result-message")).to_contain_text("The proctor ended your exam")
    expect(page.locator("#result-score")).to_have_text("1")
    expect(page.locator("#result-total")).to_have_text("4")
    expect(page.locator("#connection")).to_have_text("Exam ended by the proctor")
    expect(page.locator("#expired-banner")).to_be_hidden()
    for radio in page.locator("input[type=radio]").all():
        expect(radio).to_be_disabled()
    expect(page.locator("#submit-exam")).to_be_disabled()
    pages.screenshot(page, "ended-by-proctor", doc="exam-ended-by-proctor")

    # Reopened for 15 minutes: opening the page resumes it, answers kept, the clock at the reopened time.
    staff_post(console, f"attempts/{attempt.pk}/reopen/", {"minutes": 15, "reason": "ended by mistake"})
    page.reload()
    page.wait_for_selector(".question")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#exam-note")).to_contain_text("Resuming existing exam attempt")
    expect(page.locator(f"input[name='question-{ids[0]}'][value='{RIGHT[0]}']")).to_be_checked()
    expect(page.locator(f"input[name='question-{ids[1]}'][value='D']")).to_be_checked()
    left = implied_deadline(page) - time.time()
    assert 15 * 60 - 10 <= left <= 15 * 60, left
    expect(page.locator("#ended-banner")).to_be_hidden()
    choose(page, ids[1], RIGHT[1])  # and answering works again
    assert Attempt.objects.filter(user=student, exam=exam).count() == 1
    assert Attempt.objects.get(pk=attempt.pk).status == Attempt.Status.ONGOING


def test_two_tabs_of_one_attempt_show_each_others_answers_within_a_second(cluster, pages):
    # The tabs on two web processes: a save through one reaches a socket of the other.
    webs = cluster.start_webs(2)
    cluster.start_worker()
    student = make_user()
    exam = make_exam(questions=4, duration_minutes=30, title="Two tabs")
    ids = question_ids(exam)
    tab_a = pages.open("tab-a")
    open_exam(tab_a, webs[0].base_url, student.username, exam.pk)
    expect(tab_a.locator("#connection")).to_have_attribute("data-state", "live")
    # Another port is another origin: the second tab signs in there, as on a second device.
    tab_b = pages.open("tab-b")
    open_exam(tab_b, webs[1].base_url, student.username, exam.pk)
    expect(tab_b.locator("#connection")).to_have_attribute("data-state", "live")

    late = []
    rounds = [(tab_a, tab_b, ids[0], "B"), (tab_b, tab_a, ids[1], "C"), (tab_a, tab_b, ids[0], "D")]
    rounds += [(tab_b, tab_a, ids[0], "A"), (tab_b, tab_a, ids[2], "A"), (tab_a, tab_b, ids[3], "B")]
    for number, (saver, other, question_id, letter) in enumerate(rounds):
        key = f"round-{number}"
        stamp_when(other, key, checked(question_id, letter))
        clicked = time.time()
        with saver.expect_response("**/api/exam/timer/submit-answer/") as response:
            option(saver, question_id, letter).click()
        assert response.value.status == 200
        late.append(seen_at(other, key) - clicked)
        expect(other.locator(f"#save-{question_id}")).to_have_text("Saved in another tab")
        expect(saver.locator(f"#save-{question_id}")).to_have_text("Saved")
    pages.screenshot(tab_b, "two-tabs")

    for tab in (tab_a, tab_b):
        shown = {
            question_id: tab.locator(f"input[name='question-{question_id}']:checked").get_attribute("value")
            for question_id in ids
        }
        assert shown == {ids[0]: "A", ids[1]: "C", ids[2]: "A", ids[3]: "B"}
        expect(tab.locator("#progress")).to_have_text("Answered 4 of 4")
    print(
        f"\nanswer in one tab -> shown in the other (two daphne processes), {len(late)} saves: "
        f"{', '.join(f'{s * 1000:.0f}' for s in late)} ms after the click (the save's request included)"
    )
    assert max(late) <= PUSH_BOUND_SECONDS, late


def test_a_slow_retry_of_an_older_choice_never_overwrites_a_newer_one_from_another_tab(web, pages):
    student = make_user()
    exam = make_exam(questions=2, duration_minutes=30, title="Slow retry")
    question_id = question_ids(exam)[0]
    tab_a = pages.open("tab-a")
    open_exam(tab_a, web.base_url, student.username, exam.pk)
    expect(tab_a.locator("#connection")).to_have_attribute("data-state", "live")
    tab_b = second_tab(pages, tab_a, "tab-b", web.base_url, student.username, exam.pk)
    attempt = the_attempt(student, exam)

    # Tab A's save of "B" is held on the way, as on a slow network; its body is kept.
    held, bodies = [], []

    def slow(route):
        bodies.append(route.request.post_data_json)
        if not held:
            held.append(route)  # answered below, after the other tab's newer choice
        else:
            route.continue_()

    tab_a.route("**/api/exam/timer/submit-answer/", slow)
    option(tab_a, question_id, "B").click()
    expect(tab_a.locator(f"#save-{question_id}")).to_have_text("Saving…")
    tab_a.wait_for_timeout(20)  # the two choices are made at two different moments of the page clock

    choose(tab_b, question_id, "C")  # the newer choice, saved at once
    # Tab A's own save is still unanswered: it goes on showing the student's own click meanwhile.
    expect(tab_a.locator(f"input[name='question-{question_id}'][value='B']")).to_be_checked()

    # The held request fails on the network: the page retries it after 1 s, with the ORIGINAL time.
    stamp_when(tab_a, "settled", checked(question_id, "C"))
    held[0].abort("connectionreset")
    expect(tab_a.locator(f"#save-{question_id}")).to_have_text("Saved in another tab", timeout=15_000)
    expect(tab_a.locator(f"input[name='question-{question_id}'][value='C']")).to_be_checked()
    expect(tab_b.locator(f"input[name='question-{question_id}'][value='C']")).to_be_checked()
    expect(tab_a.locator("#page-error")).to_be_hidden()  # quietly: no error banner
    assert len(bodies) == 2 and bodies[0] == bodies[1], bodies
    assert bodies[0]["selected_option"] == "B" and bodies[0]["chosen_at"].endswith("Z")
    answer = attempt.answers.get(question_id=question_id)
    assert answer.selected_option == "C"
    refusal = AttemptEvent.objects.get(attempt=attempt, kind="answer_refused")
    assert refusal.data["code"] == "answer_superseded" and refusal.data["selected_option"] == "B"
    pages.screenshot(tab_a, "superseded")

    # And the other way round: a newer choice in tab A after all that is saved and reaches tab B.
    choose(tab_a, question_id, "D")
    expect(tab_b.locator(f"input[name='question-{question_id}'][value='D']")).to_be_checked()
    expect(tab_b.locator(f"#save-{question_id}")).to_have_text("Saved in another tab")
