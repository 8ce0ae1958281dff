"""POST /api/exam/timer/submit/<attempt_id>/: submitted, timeout, already_completed, 403, 404."""

from __future__ import annotations

import pytest

from attempts.models import Attempt
from tests.factories import make_exam
from tests.helpers import NOT_FOUND, NOT_YOURS, UNKNOWN_ID, save_answer, set_deadline, status_and_body, submit

pytestmark = pytest.mark.django_db
FULL_KEYS = {"status", "score", "total_marks", "percentage", "correct_answers", "total_questions", "time_taken_minutes"}


def result(status: str, score: int, percentage: float, correct_answers: int, **more) -> dict:
    """The whole body of a submit of this module's exam (ten marks in five questions), taken in no minute."""
    return {
        "status": status,
        "score": score,
        "total_marks": 10,
        "percentage": percentage,
        "correct_answers": correct_answers,
        "total_questions": 5,
        "time_taken_minutes": 0,
        **more,
    }


@pytest.fixture
def exam():
    # Marks 2 each; correct options A, B, C, D, A.
    return make_exam(questions=5, marks=2, duration_minutes=60)


@pytest.fixture
def client(student, client_for):
    return client_for(student)


def test_submitted(exam, attempt, client):
    first, second, third = exam.questions.order_by("id")[:3]
    save_answer(client, attempt.pk, first.pk, first.correct_option)
    save_answer(client, attempt.pk, second.pk, second.correct_option)
    save_answer(client, attempt.pk, third.pk, "D" if third.correct_option != "D" else "A")

    response = submit(client, attempt.pk)

    assert status_and_body(response) == (200, result("submitted", score=4, percentage=40.0, correct_answers=2))
    attempt.refresh_from_db()
    assert (attempt.status, attempt.score) == (Attempt.Status.COMPLETED, 4)
    assert attempt.started_at <= attempt.ended_at < attempt.deadline_at


def test_submitted_with_no_answers(attempt, client):
    body = submit(client, attempt.pk).json()

    assert set(body) == FULL_KEYS
    assert (body["status"], body["score"], body["percentage"], body["correct_answers"]) == ("submitted", 0, 0.0, 0)


def test_timeout_submission(exam, attempt, client):
    first = exam.questions.order_by("id").first()
    save_answer(client, attempt.pk, first.pk, first.correct_option)
    set_deadline(attempt, -1)  # time ran out before the student pressed submit

    response = submit(client, attempt.pk)

    # No minute taken: start to deadline, and the deadline was moved to just after the start.
    expected = result(
        "timeout", score=2, percentage=20.0, correct_answers=1, message="Exam submitted after time expired"
    )
    assert status_and_body(response) == (200, expected)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.score, attempt.ended_at) == (Attempt.Status.TIMEOUT, 2, attempt.deadline_at)


def test_timeout_answers_the_same_every_time(attempt, client):
    set_deadline(attempt, -1)

    bodies = [submit(client, attempt.pk).json() for _ in range(3)]

    assert bodies[0]["status"] == "timeout"
    assert bodies == [bodies[0]] * 3


def test_already_completed(exam, attempt, client):
    first = exam.questions.order_by("id").first()
    save_answer(client, attempt.pk, first.pk, first.correct_option)
    submit(client, attempt.pk)

    response = submit(client, attempt.pk)

    assert response.status_code == 200
    assert response.json() == {
        "status": "already_completed",
        "score": 2,
        "total_marks": 10,
        "percentage": 20.0,
        "message": "Exam was already submitted",
    }


def test_not_your_attempt_403_and_nothing_changes(attempt, other_student, client_for):
    response = submit(client_for(other_student), attempt.pk)

    assert status_and_body(response) == (403, NOT_YOURS)
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.ONGOING


def test_attempt_not_found_404(client):
    response = submit(client, UNKNOWN_ID)

    assert status_and_body(response) == (404, NOT_FOUND)
