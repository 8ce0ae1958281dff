"""POST /api/exam/timer/start/<exam_id>/: every response and error the endpoint answers with."""

from __future__ import annotations

from datetime import timedelta

import pytest

from attempts.models import Attempt
from tests.factories import make_exam
from tests.helpers import NOT_FOUND, UNKNOWN_ID, set_deadline, start, started_attempt, status_and_body, submit

START_KEYS = {
    "attempt_id",
    "exam_id",
    "exam_title",
    "duration_minutes",
    "remaining_seconds",
    "deadline_at",
    "time_limit_seconds",
    "total_questions",
    "total_marks",
}
RESUME_MESSAGE = "Resuming existing exam attempt"

pytestmark = pytest.mark.django_db


def test_start_creates_an_attempt_201(exam, student, client_for):
    response = start(client_for(student), exam.pk)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == START_KEYS
    attempt = Attempt.objects.get(pk=body["attempt_id"])
    assert body == {
        "attempt_id": attempt.pk,
        "exam_id": exam.pk,
        "exam_title": exam.title,
        "duration_minutes": 60,
        "remaining_seconds": 3600,
        "deadline_at": attempt.deadline_at.isoformat().replace("+00:00", "Z"),
        "time_limit_seconds": 3600,
        "total_questions": 4,
        "total_marks": 4,
    }
    assert (attempt.user, attempt.exam, attempt.status) == (student, exam, Attempt.Status.ONGOING)
    assert attempt.deadline_at - attempt.started_at == timedelta(minutes=60)
    assert attempt.ended_at is None and attempt.score is None


def test_total_marks_and_questions_come_from_the_exam(student, client_for):
    exam = make_exam(questions=5, marks=3, duration_minutes=45, title="Python Fundamentals")

    body = start(client_for(student), exam.pk).json()

    assert (body["total_questions"], body["total_marks"]) == (5, 15)
    assert (body["exam_title"], body["duration_minutes"], body["remaining_seconds"]) == (
        "Python Fundamentals",
        45,
        2700,
    )


def test_second_start_resumes_200_with_message(exam, student, client_for):
    client = client_for(student)
    first = start(client, exam.pk).json()

    second = start(client, exam.pk)

    assert second.status_code == 200
    body = second.json()
    assert set(body) == START_KEYS | {"message"}
    assert body["message"] == RESUME_MESSAGE
    assert body["attempt_id"] == first["attempt_id"]
    assert 3599 <= body["remaining_seconds"] <= 3600
    assert Attempt.objects.filter(user=student, exam=exam).count() == 1


def test_resume_reports_the_time_left(exam, student, client_for):
    client = client_for(student)
    attempt = started_attempt(client, exam.pk)
    set_deadline(attempt, 100)

    body = start(client, exam.pk).json()

    assert body["message"] == RESUME_MESSAGE
    assert 99 <= body["remaining_seconds"] <= 100


def test_unpublished_exam_400(student, client_for):
    exam = make_exam(is_published=False)

    response = start(client_for(student), exam.pk)

    assert response.status_code == 400
    assert response.json() == {"error": "This exam is not published yet.", "code": "exam_not_published"}
    assert not Attempt.objects.exists()


def test_previous_attempt_timed_out_400_then_a_new_attempt(exam, student, client_for):
    client = client_for(student)
    attempt = started_attempt(client, exam.pk)
    set_deadline(attempt, -1)  # its time ran out, and nothing has noticed yet

    response = start(client, exam.pk)

    assert response.status_code == 400
    assert response.json() == {
        "error": "Your previous attempt has timed out. Please start a new attempt.",
        "code": "previous_attempt_timed_out",
    }
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.TIMEOUT
    again = start(client, exam.pk)
    assert again.status_code == 201
    assert again.json()["attempt_id"] != attempt.pk


def test_exam_not_found_404(student, client_for):
    response = start(client_for(student), UNKNOWN_ID)

    assert status_and_body(response) == (404, NOT_FOUND)


def test_a_new_attempt_after_submitting(exam, student, client_for):
    client = client_for(student)
    first = start(client, exam.pk).json()["attempt_id"]
    assert submit(client, first).json()["status"] == "submitted"

    again = start(client, exam.pk)

    assert again.status_code == 201
    assert again.json()["attempt_id"] != first
    assert Attempt.objects.filter(user=student, exam=exam, status=Attempt.Status.ONGOING).count() == 1


def test_each_student_and_each_exam_has_its_own_attempt(exam, student, other_student, client_for):
    other_exam = make_exam()

    ids = {
        start(client_for(student), exam.pk).json()["attempt_id"],
        start(client_for(other_student), exam.pk).json()["attempt_id"],
        start(client_for(student), other_exam.pk).json()["attempt_id"],
    }

    assert len(ids) == 3
