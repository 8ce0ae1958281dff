"""The staff API as an allowed proctor uses it: what each route answers and what it changes (database, timer, trail)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from attempts import timer
from attempts.models import Accommodation, Announcement, Attempt
from tests.factories import answer_correctly, api_client, make_exam, make_user, start_attempt
from tests.helpers import (
    PROCTOR_API,
    end,
    extend,
    put_accommodation,
    questions,
    reopen,
    set_deadline,
    staff_post,
    start,
    status_and_body,
    submit,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

ROW_KEYS = {
    "attempt_id",
    "user",
    "status",
    "remaining_seconds",
    "answered",
    "total_questions",
    "started_at",
    "deadline_at",
    "score",
    "time_limit_seconds",
    "change_seconds",
    "connected",
    "offline_seconds",
    "offline_since",
    "offline_credited_seconds",
}
ENDED = {"error": "This attempt has already ended.", "code": "attempt_ended"}


@pytest.fixture
def staff(proctor):
    return api_client(proctor)


def iso_z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_list_rows_of_ongoing_and_recently_ended_attempts(staff, exam, attempt, student):
    finished = start_attempt(make_user(), exam)
    submit(api_client(finished.user), finished.pk)
    long_ago = start_attempt(make_user(), exam)
    submit(api_client(long_ago.user), long_ago.pk)
    Attempt.objects.filter(pk=long_ago.pk).update(ended_at=timezone.now() - timedelta(hours=2))
    answer_correctly(student, attempt, 2)

    status, body = status_and_body(staff.get(f"{PROCTOR_API}/exams/{exam.pk}/attempts/"))

    assert status == 200
    assert (body["exam_id"], body["exam_title"]) == (exam.pk, exam.title)
    rows = {row["attempt_id"]: row for row in body["attempts"]}
    assert set(rows) == {attempt.pk, finished.pk}
    row = rows[attempt.pk]
    assert set(row) == ROW_KEYS
    assert row["user"] == {"id": student.pk, "username": student.username}
    assert (row["status"], row["answered"], row["total_questions"], row["score"]) == ("ongoing", 2, 4, None)
    assert 3599 <= row["remaining_seconds"] <= 3600
    assert (row["time_limit_seconds"], row["change_seconds"]) == (3600, 0)
    assert row["started_at"] == iso_z(attempt.started_at) and row["deadline_at"] == iso_z(attempt.deadline_at)
    assert (rows[finished.pk]["status"], rows[finished.pk]["remaining_seconds"]) == ("completed", 0)


def test_extend_by_minutes_moves_deadline_and_timer_together(staff, attempt, proctor):
    status, body = status_and_body(extend(staff, attempt.pk, minutes=10, reason="fire alarm"))

    assert status == 200
    moved = Attempt.objects.get(pk=attempt.pk)
    assert moved.deadline_at - attempt.deadline_at == timedelta(minutes=10)
    assert body == {
        "attempt_id": attempt.pk,
        "status": "running",
        "remaining_seconds": body["remaining_seconds"],
        "deadline_at": iso_z(moved.deadline_at),
        "change_seconds": 600,
    }
    assert 4199 <= body["remaining_seconds"] <= 4200
    assert 4198 <= timer.remaining(attempt.pk) <= 4200
    assert moved.change_seconds == 600
    event = moved.events.get(kind="time_changed")
    assert (event.actor, event.data) == (proctor, {"change_seconds": 600, "reason": "fire alarm"})


def test_extend_by_seconds_and_again_change_seconds_is_the_total(staff, attempt):
    extend(staff, attempt.pk, seconds=95)

    body = extend(staff, attempt.pk, seconds=5).json()

    moved = Attempt.objects.get(pk=attempt.pk)
    assert moved.deadline_at - attempt.deadline_at == timedelta(seconds=100)
    assert body["change_seconds"] == moved.change_seconds == 100
    assert list(moved.events.filter(kind="time_changed").values_list("data", flat=True)) == [
        {"change_seconds": 95, "reason": ""},
        {"change_seconds": 5, "reason": ""},
    ]


def test_extend_is_not_capped_by_closes_at(staff, exam, student):
    exam.closes_at = timezone.now() + timedelta(minutes=5)
    exam.save()
    attempt = start_attempt(student, exam)
    assert attempt.deadline_at == exam.closes_at

    extend(staff, attempt.pk, minutes=10)

    assert Attempt.objects.get(pk=attempt.pk).deadline_at == exam.closes_at + timedelta(minutes=10)


def test_extend_an_ended_attempt_409(staff, attempt, student):
    submit(api_client(student), attempt.pk)

    assert status_and_body(extend(staff, attempt.pk, minutes=1)) == (409, ENDED)
    assert Attempt.objects.get(pk=attempt.pk).change_seconds == 0


def test_extend_after_the_deadline_409_and_the_attempt_times_out(staff, attempt):
    set_deadline(attempt, -1)

    assert status_and_body(extend(staff, attempt.pk, minutes=1)) == (409, ENDED)
    assert Attempt.objects.get(pk=attempt.pk).status == "timeout"


def test_extend_a_whole_exam_moves_every_ongoing_attempt(staff, exam, attempt):
    second = start_attempt(make_user(), exam)
    finished = start_attempt(make_user(), exam)
    submit(api_client(finished.user), finished.pk)
    elsewhere = start_attempt(make_user(), make_exam())
    before = dict(Attempt.objects.values_list("pk", "deadline_at"))

    status, body = status_and_body(staff_post(staff, f"exams/{exam.pk}/extend/", {"minutes": 10, "reason": "alarm"}))

    assert status == 200
    assert body == {"exam_id": exam.pk, "extended": 2, "attempt_ids": sorted([attempt.pk, second.pk])}
    after = dict(Attempt.objects.values_list("pk", "deadline_at"))
    for moved in (attempt.pk, second.pk):
        assert after[moved] - before[moved] == timedelta(minutes=10)
        assert 4198 <= timer.remaining(moved) <= 4200
    assert after[finished.pk] == before[finished.pk] and after[elsewhere.pk] == before[elsewhere.pk]


def test_extend_a_whole_exam_batch_by_batch(staff, exam, monkeypatch):
    # Batches of 3 over 8 attempts: the loop's later batches run (a merge once broke them, unseen by one batch).
    monkeypatch.setattr("attempts.services.control.EXTEND_BATCH", 3)
    attempts = [start_attempt(make_user(), exam) for _ in range(8)]
    before = dict(Attempt.objects.values_list("pk", "deadline_at"))

    status, body = status_and_body(staff_post(staff, f"exams/{exam.pk}/extend/", {"seconds": 90}))

    assert status == 200
    assert body["extended"] == 8 and body["attempt_ids"] == sorted(a.pk for a in attempts)
    after = dict(Attempt.objects.values_list("pk", "deadline_at"))
    assert all(after[a.pk] - before[a.pk] == timedelta(seconds=90) for a in attempts)


def test_extend_an_exam_without_ongoing_attempts(staff, exam):
    body = staff_post(staff, f"exams/{exam.pk}/extend/", {"seconds": 30}).json()

    assert body == {"exam_id": exam.pk, "extended": 0, "attempt_ids": []}


def test_end_completes_and_scores_with_the_submit_response(
    staff, attempt, student, proctor, django_capture_on_commit_callbacks
):
    answer_correctly(student, attempt, 3)

    with django_capture_on_commit_callbacks(execute=True):  # the timer is cleared after the commit
        status, body = status_and_body(end(staff, attempt.pk, reason="caught with notes"))

    assert status == 200
    assert body == {
        "status": "submitted",
        "score": 3,
        "total_marks": 4,
        "percentage": 75.0,
        "correct_answers": 3,
        "total_questions": 4,
        "time_taken_minutes": 0,
    }
    ended = Attempt.objects.get(pk=attempt.pk)
    assert (ended.status, ended.score, ended.ongoing_guard) == ("completed", 3, None)
    assert timer.remaining(attempt.pk) is None
    event = ended.events.get(kind="ended")
    assert (event.actor, event.data) == (proctor, {"reason": "caught with notes"})
    # The student's own submit now reports the end.
    assert submit(api_client(student), attempt.pk).json()["status"] == "already_completed"


def test_end_without_a_body(staff, attempt):
    response = staff.post(f"{PROCTOR_API}/attempts/{attempt.pk}/end/")

    assert response.status_code == 200 and response.json()["status"] == "submitted"
    assert Attempt.objects.get(pk=attempt.pk).events.get(kind="ended").data == {"reason": ""}


def test_end_twice_409(staff, attempt):
    end(staff, attempt.pk)

    assert status_and_body(end(staff, attempt.pk)) == (409, ENDED)


def test_reopen_an_ended_attempt_keeps_the_answers_and_clears_the_score(staff, attempt, student, proctor):
    answer_correctly(student, attempt, 2)
    submit(api_client(student), attempt.pk)

    status, body = status_and_body(reopen(staff, attempt.pk, minutes=5, reason="laptop died"))

    assert status == 200
    reopened = Attempt.objects.get(pk=attempt.pk)
    assert body == {
        "attempt_id": attempt.pk,
        "status": "running",
        "remaining_seconds": body["remaining_seconds"],
        "deadline_at": iso_z(reopened.deadline_at),
    }
    assert 299 <= body["remaining_seconds"] <= 300 and 298 <= timer.remaining(attempt.pk) <= 300
    assert (reopened.status, reopened.score, reopened.ended_at) == ("ongoing", None, None)
    assert reopened.answers.count() == 2
    event = reopened.events.get(kind="reopened")
    assert (event.actor, event.data) == (proctor, {"seconds": 300, "reason": "laptop died"})
    # The student's page resumes it.
    resumed = start(api_client(student), attempt.exam_id)
    assert (resumed.status_code, resumed.json()["attempt_id"]) == (200, attempt.pk)


def test_reopen_a_running_attempt_409(staff, attempt):
    body = reopen(staff, attempt.pk, seconds=60).json()

    assert body == {"error": "This attempt is still running.", "code": "attempt_running"}


def test_reopen_while_the_student_has_another_attempt_409(staff, attempt, student):
    submit(api_client(student), attempt.pk)
    start(api_client(student), attempt.exam_id)

    status, body = status_and_body(reopen(staff, attempt.pk, minutes=1))

    assert (status, body) == (
        409,
        {"error": "The student has another attempt in progress.", "code": "other_attempt_running"},
    )
    assert Attempt.objects.get(pk=attempt.pk).status == "completed"


def test_announcement_is_stored_without_surrounding_space_and_listed_in_questions(
    staff, exam, attempt, student, proctor
):
    status, body = status_and_body(
        staff_post(staff, f"exams/{exam.pk}/announcements/", {"message": "  Question 4, option B: read 12.  "})
    )

    assert status == 201
    stored = Announcement.objects.get()
    assert (stored.message, stored.author, stored.exam) == ("Question 4, option B: read 12.", proctor, exam)
    assert body == {
        "id": stored.pk,
        "exam_id": exam.pk,
        "message": stored.message,
        "created_at": iso_z(stored.created_at),
    }
    assert questions(api_client(student), attempt.pk).json()["announcements"] == [body]


def test_events_oldest_first_with_actor_and_data(staff, exam, attempt, student, proctor):
    question = exam.questions.order_by("id").first()
    answer_correctly(student, attempt, 1)
    extend(staff, attempt.pk, seconds=30, reason="late start")
    end(staff, attempt.pk, reason="done")

    status, body = status_and_body(staff.get(f"{PROCTOR_API}/attempts/{attempt.pk}/events/"))

    assert status == 200 and body["attempt_id"] == attempt.pk
    by = {"id": proctor.pk, "username": proctor.username}
    assert [(event["kind"], event["actor"], event["data"]) for event in body["events"]] == [
        ("started", None, {"time_limit_seconds": 3600}),
        ("answer_saved", None, {"question_id": question.pk, "selected_option": question.correct_option}),
        ("time_changed", by, {"change_seconds": 30, "reason": "late start"}),
        ("ended", by, {"reason": "done"}),
    ]
    moments = [event["at"] for event in body["events"]]
    assert moments == sorted(moments) and all(moment.endswith("Z") for moment in moments)


@pytest.mark.parametrize("exam_scope", [True, False], ids=["per-exam", "all-exams"])
def test_put_then_put_again_then_delete_an_accommodation(staff, exam, student, exam_scope):
    exam_id = exam.pk if exam_scope else None
    path = (
        f"{PROCTOR_API}/exams/{exam.pk}/accommodations/{student.pk}/"
        if exam_scope
        else (f"{PROCTOR_API}/accommodations/{student.pk}/")
    )

    first = put_accommodation(staff, student.pk, exam_id, extra_minutes=15, time_multiplier=1.5, note="dyslexia")
    second = put_accommodation(staff, student.pk, exam_id, time_multiplier="1.25")

    assert first.status_code == 200
    body = first.json()
    assert {key: body[key] for key in body if key != "updated_at"} == {
        "user_id": student.pk,
        "exam_id": exam_id,
        "extra_minutes": 15,
        "time_multiplier": "1.50",
        "extra_attempts": 0,
        "note": "dyslexia",
    }
    # PUT replaces the row: what it leaves out goes back to the default.
    assert (second.status_code, second.json()["extra_minutes"], second.json()["time_multiplier"]) == (200, 0, "1.25")
    row = Accommodation.objects.get()
    assert (row.exam_id, row.extra_minutes, str(row.time_multiplier), row.note) == (exam_id, 0, "1.25", "")
    assert staff.delete(path).status_code == 204
    assert not Accommodation.objects.exists()
    assert staff.delete(path).status_code == 204  # nothing left to remove: the same answer


def test_an_exam_row_and_an_all_exams_row_live_side_by_side(staff, exam, student):
    put_accommodation(staff, student.pk, exam.pk, extra_minutes=5)
    put_accommodation(staff, student.pk, None, extra_minutes=10)

    assert sorted(Accommodation.objects.values_list("exam_id", "extra_minutes"), key=str) == sorted(
        [(exam.pk, 5), (None, 10)], key=str
    )
