"""Object-level authorization: another user's attempt ids on every REST route are refused, nothing leaks."""

from __future__ import annotations

import json

import pytest

from attempts import timer
from attempts.models import Answer, Attempt
from tests.factories import api_client, make_exam, make_user
from tests.helpers import set_deadline

NOT_YOURS = {"error": "This exam attempt does not belong to you.", "code": "not_your_attempt"}


@pytest.fixture
def victim_attempt(victim, secret_exam):
    """The victim's attempt with one saved answer."""
    client = api_client(victim)
    attempt_id = client.post(f"/api/exam/timer/start/{secret_exam.pk}/").json()["attempt_id"]
    question = secret_exam.questions.first()
    saved = client.post(
        "/api/exam/timer/submit-answer/",
        {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": "C"},
        format="json",
    )
    assert saved.status_code == 200
    return Attempt.objects.get(pk=attempt_id)


def _foreign_calls(client, attempt: Attempt):
    """Every REST route that takes an attempt id, called with `attempt`'s ids."""
    question_id = attempt.exam.questions.first().pk
    yield "remaining", client.get(f"/api/exam/timer/remaining/{attempt.pk}/")
    yield "questions", client.get(f"/api/exam/timer/questions/{attempt.pk}/")
    for option in "ABCD":
        yield (
            f"submit-answer {option}",
            client.post(
                "/api/exam/timer/submit-answer/",
                {"attempt_id": attempt.pk, "question_id": question_id, "selected_option": option},
                format="json",
            ),
        )
    yield "submit", client.post(f"/api/exam/timer/submit/{attempt.pk}/")


def _leaked_secrets(attempt: Attempt) -> list[str]:
    exam = attempt.exam
    texts = [exam.title]
    for question in exam.questions.all():
        texts += [question.text, question.option_a, question.option_b, question.option_c, question.option_d]
    return texts


def _end(attempt: Attempt, how: str, owner) -> None:
    if how == "completed":
        assert api_client(owner).post(f"/api/exam/timer/submit/{attempt.pk}/").json()["status"] == "submitted"
    elif how == "timeout":
        set_deadline(attempt, -1)
        assert api_client(owner).get(f"/api/exam/timer/remaining/{attempt.pk}/").json()["status"] == "timeout"


@pytest.mark.django_db
@pytest.mark.parametrize("victim_state", ["ongoing", "completed", "timeout"])
@pytest.mark.parametrize("intruder_kind", ["student", "student_with_own_attempt", "staff"])
def test_foreign_attempt_is_refused_on_every_route(victim, victim_attempt, intruder_kind, victim_state):
    _end(victim_attempt, victim_state, victim)
    intruder = make_user(is_staff=intruder_kind == "staff")
    if intruder_kind == "student_with_own_attempt":
        # Same exam, own attempt running: knowing the exam gives no access to another's attempt.
        assert api_client(intruder).post(f"/api/exam/timer/start/{victim_attempt.exam_id}/").status_code == 201
    before = Attempt.objects.get(pk=victim_attempt.pk)
    answers_before = list(Answer.objects.filter(attempt=before).values_list("question_id", "selected_option"))
    timer_before = timer.remaining(before.pk)

    secrets = _leaked_secrets(victim_attempt)
    calls = list(_foreign_calls(api_client(intruder), victim_attempt))
    assert len(calls) == 7
    for name, response in calls:
        assert response.status_code == 403, (name, response.content)
        assert response.json() == NOT_YOURS, name
        text = response.content.decode()
        assert not [secret for secret in secrets if secret in text], name

    after = Attempt.objects.get(pk=victim_attempt.pk)
    assert (after.status, after.score, after.ended_at) == (before.status, before.score, before.ended_at)
    assert list(Answer.objects.filter(attempt=after).values_list("question_id", "selected_option")) == answers_before
    assert (timer.remaining(after.pk) is None) == (timer_before is None)


@pytest.mark.django_db
def test_own_attempt_with_a_question_of_another_exam_leaks_nothing(victim_attempt, intruder):
    """A question id from the victim's exam, sent with the intruder's own attempt: refused, no text."""
    own_exam = make_exam(questions=2)
    own_attempt = api_client(intruder).post(f"/api/exam/timer/start/{own_exam.pk}/").json()["attempt_id"]
    foreign_question = victim_attempt.exam.questions.first()
    response = api_client(intruder).post(
        "/api/exam/timer/submit-answer/",
        {"attempt_id": own_attempt, "question_id": foreign_question.pk, "selected_option": "A"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"error": "This question does not belong to this exam.", "code": "question_not_in_exam"}
    assert not [s for s in _leaked_secrets(victim_attempt) if s in json.dumps(response.json())]
    assert not Answer.objects.filter(question=foreign_question, attempt_id=own_attempt).exists()


@pytest.mark.django_db
def test_unknown_attempt_is_not_found_without_detail(intruder):
    """Ids that exist nowhere give the API's 404 and nothing else."""
    client = api_client(intruder)
    for response in (
        client.get("/api/exam/timer/remaining/987654321/"),
        client.get("/api/exam/timer/questions/987654321/"),
        client.post("/api/exam/timer/submit/987654321/"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "Not found."
