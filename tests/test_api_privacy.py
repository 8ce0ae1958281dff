"""Another student's attempt is off limits on every route; no student response reveals a correct option."""

from __future__ import annotations

import json

import pytest

from attempts.models import Answer, Attempt
from tests.factories import set_deadline

pytestmark = pytest.mark.django_db
NOT_YOURS = {"error": "This exam attempt does not belong to you.", "code": "not_your_attempt"}


@pytest.fixture
def attempt(exam, student, client_for):
    attempt_id = client_for(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    return Attempt.objects.get(pk=attempt_id)


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
    owner.post(
        "/api/exam/timer/submit-answer/",
        {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": "B"},
        format="json",
    )
    if state == "timeout":
        set_deadline(attempt, -1)
        owner.get(f"/api/exam/timer/remaining/{attempt.pk}/")
    elif state == "completed":
        owner.post(f"/api/exam/timer/submit/{attempt.pk}/")
    before = Attempt.objects.values().get(pk=attempt.pk)
    intruder = client_for(other_student)

    for method, path, body in attempt_routes(attempt, question):
        response = getattr(intruder, method)(path, body, format="json")
        assert (response.status_code, response.json()) == (403, NOT_YOURS), path

    assert Attempt.objects.values().get(pk=attempt.pk) == before
    assert list(Answer.objects.filter(attempt=attempt).values_list("selected_option", flat=True)) == ["B"]


def test_a_staff_user_is_no_owner_either(attempt, exam, proctor, client_for):
    response = client_for(proctor).get(f"/api/exam/timer/questions/{attempt.pk}/")

    assert (response.status_code, response.json()) == (403, NOT_YOURS)


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for inner in value.values() for key in _keys(inner)}
    if isinstance(value, list):
        return {key for inner in value for key in _keys(inner)}
    return set()


def test_no_student_response_reveals_a_correct_option(exam, student, client_for):
    """Every response of a whole attempt, right and wrong answers alike, carries no sign of the key."""
    client = client_for(student)
    questions = list(exam.questions.order_by("id"))
    responses = []
    start = client.post(f"/api/exam/timer/start/{exam.pk}/")
    attempt_id = start.json()["attempt_id"]
    responses += [start, client.post(f"/api/exam/timer/start/{exam.pk}/")]
    responses.append(client.get(f"/api/exam/timer/questions/{attempt_id}/"))
    answer_bodies = {}
    for question in questions:
        for option in "ABCD":
            response = client.post(
                "/api/exam/timer/submit-answer/",
                {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": option},
                format="json",
            )
            responses.append(response)
            answer_bodies[(question.pk, option)] = response.json()
    responses.append(client.get(f"/api/exam/timer/remaining/{attempt_id}/"))
    responses.append(client.get(f"/api/exam/timer/questions/{attempt_id}/"))

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
    assert json.dumps(questions_body).count('"D"') == len(questions)  # only the saved answers, all "D"
