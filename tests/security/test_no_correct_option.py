"""No student-facing REST response ever contains a correct option: a whole exam walked, every body scanned."""

from __future__ import annotations

import pytest

from attempts.models import Attempt
from tests.factories import api_client
from tests.helpers import set_deadline

# The only key with "correct" in it that a student may see: a count, in the submit result.
ALLOWED_CORRECT_KEYS = {"correct_answers"}
STUDENT_QUESTION_KEYS = {"id", "text", "option_a", "option_b", "option_c", "option_d", "marks"}


def _keys(value, path="$"):
    """Every (path, key) of a JSON value, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield f"{path}.{key}", key
            yield from _keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _keys(inner, f"{path}[{index}]")


def _assert_no_correct_option(name: str, response, chosen: dict[str, str]) -> None:
    body = response.json()
    leaking = [path for path, key in _keys(body) if "correct" in key.lower() and key not in ALLOWED_CORRECT_KEYS]
    assert not leaking, (name, leaking)
    assert "correct_option" not in response.content.decode(), name
    for path, key in _keys(body):
        assert key.lower() not in {"answer", "answers", "answer_key", "solution", "solutions", "right_option"}, path
    for question in body.get("questions", []):
        assert set(question) == STUDENT_QUESTION_KEYS, (name, question)
    # saved_answers says what the student chose, and nothing else: never the key of an unanswered question.
    if "saved_answers" in body:
        assert body["saved_answers"] == chosen, name
    if "correct_answers" in body:
        assert isinstance(body["correct_answers"], int)


@pytest.mark.django_db
@pytest.mark.parametrize("ending", ["submitted", "timeout"])
def test_whole_exam_walk_never_shows_a_correct_option(victim, secret_exam, ending):
    client = api_client(victim)
    questions = list(secret_exam.questions.order_by("id"))
    chosen: dict[str, str] = {}
    seen: list[str] = []

    def check(name, response, expected_status=200):
        assert response.status_code == expected_status, (name, response.content)
        _assert_no_correct_option(name, response, chosen)
        seen.append(name)
        return response.json()

    attempt_id = check("start", client.post(f"/api/exam/timer/start/{secret_exam.pk}/"), 201)["attempt_id"]
    check("resume", client.post(f"/api/exam/timer/start/{secret_exam.pk}/"))
    check("questions (fresh)", client.get(f"/api/exam/timer/questions/{attempt_id}/"))
    # Wrong answers on purpose but one: a leak of the key would show up as a difference.
    for index, question in enumerate(questions[:-1]):
        wrong = next(option for option in "ABCD" if option != question.correct_option)
        option = question.correct_option if index == 0 else wrong
        chosen[str(question.pk)] = option
        body = {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": option}
        check(f"answer {index}", client.post("/api/exam/timer/submit-answer/", body, format="json"))
    first = questions[0]
    change = next(option for option in "ABCD" if option != first.correct_option)
    chosen[str(first.pk)] = change
    body = {"attempt_id": attempt_id, "question_id": first.pk, "selected_option": change}
    assert check("answer changed", client.post("/api/exam/timer/submit-answer/", body, format="json"))["action"] == (
        "updated"
    )
    check("questions (answered)", client.get(f"/api/exam/timer/questions/{attempt_id}/"))
    check("remaining (running)", client.get(f"/api/exam/timer/remaining/{attempt_id}/"))

    if ending == "timeout":
        set_deadline(Attempt.objects.get(pk=attempt_id), -1)
        late = {"attempt_id": attempt_id, "question_id": questions[-1].pk, "selected_option": "A"}
        check("answer after deadline", client.post("/api/exam/timer/submit-answer/", late, format="json"), 410)
    result = check("submit", client.post(f"/api/exam/timer/submit/{attempt_id}/"))
    assert result["status"] == ending
    assert result["correct_answers"] == 0  # the one right answer was changed to a wrong one
    check("submit again", client.post(f"/api/exam/timer/submit/{attempt_id}/"))
    check("remaining (ended)", client.get(f"/api/exam/timer/remaining/{attempt_id}/"))
    check("questions (ended)", client.get(f"/api/exam/timer/questions/{attempt_id}/"))
    assert len(seen) >= 12
