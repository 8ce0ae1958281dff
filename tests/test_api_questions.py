"""GET /api/exam/timer/questions/<attempt_id>/: questions without correct answers, plus saved answers."""

from __future__ import annotations

import pytest

from attempts.models import Question
from tests.factories import make_exam
from tests.helpers import NOT_FOUND, NOT_YOURS, UNKNOWN_ID, answer, questions, status_and_body

pytestmark = pytest.mark.django_db
QUESTION_KEYS = {"id", "text", "option_a", "option_b", "option_c", "option_d", "marks"}


def test_questions_and_saved_answers(exam, attempt, student, client_for):
    client = client_for(student)
    first, second = exam.questions.order_by("id")[:2]
    for question, option in ((first, "B"), (second, "C")):
        answer(client, attempt.pk, question.pk, option)

    response = questions(client, attempt.pk)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"attempt_id", "exam_title", "questions", "saved_answers", "announcements"}
    assert body["announcements"] == []
    assert (body["attempt_id"], body["exam_title"]) == (attempt.pk, exam.title)
    assert body["saved_answers"] == {str(first.pk): "B", str(second.pk): "C"}
    expected = [
        {
            "id": q.pk,
            "text": q.text,
            "option_a": q.option_a,
            "option_b": q.option_b,
            "option_c": q.option_c,
            "option_d": q.option_d,
            "marks": q.marks,
        }
        for q in Question.objects.filter(exam=exam).order_by("id")
    ]
    assert body["questions"] == expected
    assert all(set(question) == QUESTION_KEYS for question in body["questions"])
    assert b"correct" not in response.content


def test_no_saved_answers_is_an_empty_object(attempt, student, client_for):
    body = questions(client_for(student), attempt.pk).json()

    assert body["saved_answers"] == {}
    assert len(body["questions"]) == 4


def test_only_the_attempts_exam(attempt, student, client_for):
    other = make_exam(questions=2)

    ids = {question["id"] for question in questions(client_for(student), attempt.pk).json()["questions"]}

    assert ids == set(attempt.exam.questions.values_list("id", flat=True))
    assert not ids & set(other.questions.values_list("id", flat=True))


def test_not_your_attempt_403(attempt, other_student, client_for):
    response = questions(client_for(other_student), attempt.pk)

    assert status_and_body(response) == (403, NOT_YOURS)


def test_attempt_not_found_404(student, client_for):
    response = questions(client_for(student), UNKNOWN_ID)

    assert status_and_body(response) == (404, NOT_FOUND)
