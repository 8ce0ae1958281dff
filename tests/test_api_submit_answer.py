"""POST /api/exam/timer/submit-answer/: saved, updated, and every error the endpoint answers with."""

from __future__ import annotations

import pytest
from django.utils import timezone

from attempts.models import Answer, Attempt
from tests.factories import make_exam
from tests.helpers import (
    NOT_FOUND,
    NOT_YOURS,
    UNKNOWN_ID,
    answer,
    remaining,
    set_deadline,
    status_and_body,
    submit,
    wait_until,
)

pytestmark = pytest.mark.django_db
EXPIRED = {"error": "Exam time has expired. Cannot submit answers.", "code": "time_expired"}


@pytest.fixture
def question(exam):
    return exam.questions.first()


def test_saved(attempt, question, student, client_for):
    response = answer(client_for(student), attempt.pk, question.pk, "B")

    assert response.status_code == 200
    assert response.json() == {"status": "saved", "question_id": question.pk, "selected_option": "B", "action": "saved"}
    assert Answer.objects.get(attempt=attempt, question=question).selected_option == "B"


def test_updated(attempt, question, student, client_for):
    client = client_for(student)
    answer(client, attempt.pk, question.pk, "B")

    response = answer(client, attempt.pk, question.pk, "D")

    assert response.status_code == 200
    assert response.json() == {
        "status": "saved",
        "question_id": question.pk,
        "selected_option": "D",
        "action": "updated",
    }
    assert list(Answer.objects.filter(attempt=attempt).values_list("selected_option", flat=True)) == ["D"]


def test_already_submitted_400(attempt, question, student, client_for):
    client = client_for(student)
    submit(client, attempt.pk)

    response = answer(client, attempt.pk, question.pk, "A")

    assert response.status_code == 400
    assert response.json() == {"error": "Exam already submitted. Cannot modify answers.", "code": "already_submitted"}
    assert not Answer.objects.exists()


def test_question_of_another_exam_400(attempt, student, client_for):
    foreign = make_exam().questions.first()

    response = answer(client_for(student), attempt.pk, foreign.pk, "A")

    assert response.status_code == 400
    assert response.json() == {"error": "This question does not belong to this exam.", "code": "question_not_in_exam"}
    assert not Answer.objects.exists()


def test_unknown_question_404(attempt, student, client_for):
    response = answer(client_for(student), attempt.pk, UNKNOWN_ID, "A")

    assert status_and_body(response) == (404, NOT_FOUND)


def test_unknown_attempt_404(question, student, client_for):
    response = answer(client_for(student), UNKNOWN_ID, question.pk, "A")

    assert status_and_body(response) == (404, NOT_FOUND)


def test_not_your_attempt_403(attempt, question, other_student, client_for):
    response = answer(client_for(other_student), attempt.pk, question.pk, "A")

    assert status_and_body(response) == (403, NOT_YOURS)
    assert not Answer.objects.exists()


def test_after_the_deadline_410_and_not_stored(attempt, question, student, client_for):
    set_deadline(attempt, 0.3)  # a real, short TTL
    wait_until(lambda: timezone.now() >= attempt.deadline_at, timeout=5, what="the deadline")

    response = answer(client_for(student), attempt.pk, question.pk, "A")

    assert status_and_body(response) == (410, EXPIRED)
    assert not Answer.objects.exists()
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.TIMEOUT


def test_timed_out_attempt_410(attempt, question, student, client_for):
    client = client_for(student)
    answer(client, attempt.pk, question.pk, "A")
    set_deadline(attempt, -1)
    assert remaining(client, attempt.pk).json()["status"] == "timeout"

    response = answer(client, attempt.pk, question.pk, "B")

    assert status_and_body(response) == (410, EXPIRED)
    assert Answer.objects.get(attempt=attempt).selected_option == "A"
