"""POST /api/exam/timer/submit/<attempt_id>/: submitted, timeout, already_completed, 403, 404."""

from __future__ import annotations

import pytest

from attempts.models import Attempt
from tests.factories import make_exam, set_deadline

pytestmark = pytest.mark.django_db
FULL_KEYS = {"status", "score", "total_marks", "percentage", "correct_answers", "total_questions", "time_taken_minutes"}


def submit(client, attempt_id):
    return client.post(f"/api/exam/timer/submit/{attempt_id}/")


def answer(client, attempt_id, question, option):
    body = {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": option}
    assert client.post("/api/exam/timer/submit-answer/", body, format="json").status_code == 200


@pytest.fixture
def exam():
    # Marks 2 each; correct options A, B, C, D, A.
    return make_exam(questions=5, marks=2, duration_minutes=60)


@pytest.fixture
def client(student, client_for):
    return client_for(student)


@pytest.fixture
def attempt(exam, client):
    return Attempt.objects.get(pk=client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"])


def test_submitted(exam, attempt, client):
    first, second, third = exam.questions.order_by("id")[:3]
    answer(client, attempt.pk, first, first.correct_option)
    answer(client, attempt.pk, second, second.correct_option)
    answer(client, attempt.pk, third, "D" if third.correct_option != "D" else "A")

    response = submit(client, attempt.pk)

    assert response.status_code == 200
    assert response.json() == {
        "status": "submitted",
        "score": 4,
        "total_marks": 10,
        "percentage": 40.0,
        "correct_answers": 2,
        "total_questions": 5,
        "time_taken_minutes": 0,
    }
    attempt.refresh_from_db()
    assert (attempt.status, attempt.score) == (Attempt.Status.COMPLETED, 4)
    assert attempt.started_at <= attempt.ended_at < attempt.deadline_at


def test_submitted_with_no_answers(attempt, client):
    body = submit(client, attempt.pk).json()

    assert set(body) == FULL_KEYS
    assert (body["status"], body["score"], body["percentage"], body["correct_answers"]) == ("submitted", 0, 0.0, 0)


def test_timeout_submission(exam, attempt, client):
    first = exam.questions.order_by("id").first()
    answer(client, attempt.pk, first, first.correct_option)
    set_deadline(attempt, -1)  # time ran out before the student pressed submit

    response = submit(client, attempt.pk)

    assert response.status_code == 200
    assert response.json() == {
        "status": "timeout",
        "score": 2,
        "total_marks": 10,
        "percentage": 20.0,
        "correct_answers": 1,
        "total_questions": 5,
        "time_taken_minutes": 0,  # start to deadline: the deadline was moved to just after the start
        "message": "Exam submitted after time expired",
    }
    attempt.refresh_from_db()
    assert (attempt.status, attempt.score, attempt.ended_at) == (Attempt.Status.TIMEOUT, 2, attempt.deadline_at)


def test_timeout_answers_the_same_every_time(attempt, client):
    set_deadline(attempt, -1)

    bodies = [submit(client, attempt.pk).json() for _ in range(3)]

    assert bodies[0]["status"] == "timeout"
    assert bodies == [bodies[0]] * 3


def test_already_completed(exam, attempt, client):
    first = exam.questions.order_by("id").first()
    answer(client, attempt.pk, first, first.correct_option)
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

    assert response.status_code == 403
    assert response.json() == {"error": "This exam attempt does not belong to you.", "code": "not_your_attempt"}
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.ONGOING


def test_attempt_not_found_404(client):
    response = submit(client, 987654321)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
