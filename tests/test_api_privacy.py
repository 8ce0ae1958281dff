"""Another student's attempt is off limits on every route; no student response reveals a correct option."""

from __future__ import annotations

import json

import pytest

from attempts.models import Answer, Attempt
from tests.helpers import NOT_YOURS, answer, questions, remaining, set_deadline, start, status_and_body, submit

pytestmark = pytest.mark.django_db


def attempt_routes(attempt, question):
    """Every route that takes an attempt id, as (method, path, body)."""
    return [
        ("get", f"/api/exam/timer/remaining/{attempt.pk}/", None),
        (
            "post",
            "/api/exam/timer/submit-answer/",
            {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": "A"},
        ),
        ("post", f"/api/exam/timer/submit/{attempt.pk}/", None),
        ("get", f"/api/exam/timer/questions/{attempt.pk}/", None),
    ]


@pytest.mark.parametrize("state", ["ongoing", "timeout", "completed"])
def test_another_students_attempt_403_on_every_route(attempt, exam, student, other_student, client_for, state):
    question = exam.questions.first()
    owner = client_for(student)
    answer(owner, attempt.pk, question.pk, "B")
    if state == "timeout":
        set_deadline(attempt, -1)
        remaining(owner, attempt.pk)
    elif state == "completed":
        submit(owner, attempt.pk)
    before = Attempt.objects.values().get(pk=attempt.pk)
    intruder = client_for(other_student)

    for method, path, body in attempt_routes(attempt, question):
        response = getattr(intruder, method)(path, body, format="json")
        assert status_and_body(response) == (403, NOT_YOURS), path

    assert Attempt.objects.values().get(pk=attempt.pk) == before
    assert list(Answer.objects.filter(attempt=attempt).values_list("selected_option", flat=True)) == ["B"]


def test_a_staff_user_is_no_owner_either(attempt, exam, proctor, client_for):
    response = questions(client_for(proctor), attempt.pk)

    assert status_and_body(response) == (403, NOT_YOURS)


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for inner in value.values() for key in _keys(inner)}
    if isinstance(value, list):
        return {key for inner in value for key in _keys(inner)}
    return set()


def test_no_student_response_reveals_a_correct_option(exam, student, client_for):
    """Every response of a whole attempt, right and wrong answers alike, carries no sign of the key."""
    client = client_for(student)
    exam_questions = list(exam.questions.order_by("id"))
    responses = []
    first_start = start(client, exam.pk)
    attempt_id = first_start.json()["attempt_id"]
    responses += [first_start, start(client, exam.pk)]
    responses.append(questions(client, attempt_id))
    answer_bodies = {}
    for question in exam_questions:
        for option in "ABCD":
            response = answer(client, attempt_id, question.pk, option)
            responses.append(response)
            answer_bodies[(question.pk, option)] = response.json()
    responses.append(remaining(client, attempt_id))
    responses.append(questions(client, attempt_id))

    for response in responses:
        assert response.status_code in (200, 201)
        assert b"correct_option" not in response.content
        assert not any("correct" in key or "right" in key for key in _keys(response.json()))
    # A right answer and a wrong one get the same reply but for the echoed choice.
    for (question_id, option), body in answer_bodies.items():
        expected_action = "saved" if option == "A" else "updated"
        assert body == {
            "status": "saved",
            "question_id": question_id,
            "selected_option": option,
            "action": expected_action,
        }
    questions_body = responses[-1].json()
    assert json.dumps(questions_body).count('"D"') == len(exam_questions)  # only the saved answers, all "D"
