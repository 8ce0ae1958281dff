"""No staff route shows a correct option, and a student gets nothing from any of them but the 403.

Staff responses hold what students chose (the audit trail) and scores, never the key; a
student's `questions`, announcements included, never holds it either.
"""

from __future__ import annotations

import pytest

from tests.factories import api_client, make_user, start_attempt
from tests.helpers import PROCTOR_API, STAFF_ONLY, questions, submit
from tests.security.test_no_correct_option import ALLOWED_CORRECT_KEYS, STUDENT_QUESTION_KEYS, _keys

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def walk(client, exam_id: int, ongoing_id: int, ended_id: int, student_id: int) -> list:
    """Every staff route once, in an order where each one succeeds for an allowed user."""
    calls = [
        ("get", f"exams/{exam_id}/attempts/", None),
        ("post", f"attempts/{ongoing_id}/extend/", {"minutes": 1}),
        ("post", f"exams/{exam_id}/extend/", {"seconds": 10}),
        ("post", f"exams/{exam_id}/announcements/", {"message": "Question 2 reads 12."}),
        ("get", f"attempts/{ongoing_id}/events/", None),
        ("put", f"exams/{exam_id}/accommodations/{student_id}/", {"extra_minutes": 5}),
        ("put", f"accommodations/{student_id}/", {"time_multiplier": "1.5"}),
        ("get", f"exams/{exam_id}/results.csv", None),
        ("post", f"attempts/{ongoing_id}/end/", {"reason": "done"}),
        ("post", f"attempts/{ended_id}/reopen/", {"minutes": 2}),
        ("get", f"attempts/{ended_id}/events/", None),
        ("delete", f"exams/{exam_id}/accommodations/{student_id}/", None),
        ("delete", f"accommodations/{student_id}/", None),
    ]
    answers = []
    for method, path, body in calls:
        url = f"{PROCTOR_API}/{path}"
        response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
        answers.append((path, response))
    return answers


@pytest.fixture
def taken(secret_exam, victim):
    """An ongoing attempt with every answer right, and an ended one, of the secret exam."""
    ongoing = start_attempt(victim, secret_exam)
    client = api_client(victim)
    for question in secret_exam.questions.all():
        body = {"attempt_id": ongoing.pk, "question_id": question.pk, "selected_option": question.correct_option}
        client.post("/api/exam/timer/submit-answer/", body, format="json")
    ended = start_attempt(make_user(), secret_exam)
    submit(api_client(ended.user), ended.pk)
    return secret_exam, ongoing, ended, victim


def test_staff_responses_never_hold_the_key(taken):
    exam, ongoing, ended, victim = taken

    answers = walk(api_client(make_user(is_staff=True)), exam.pk, ongoing.pk, ended.pk, victim.pk)

    for path, response in answers:
        assert response.status_code in (200, 201, 204), (path, response.content)
        text = response.content.decode()
        assert "correct_option" not in text, path
        for question in exam.questions.all():
            assert question.option_a not in text and question.text not in text, path
        if response.status_code == 204 or path.endswith(".csv"):
            continue
        leaking = [at for at, key in _keys(response.json()) if "correct" in key.lower()]
        assert not set(leaking) - {f"$.{key}" for key in ALLOWED_CORRECT_KEYS}, (path, leaking)


def test_students_get_the_403_and_nothing_else_from_every_staff_route(taken):
    exam, ongoing, ended, victim = taken

    for client in (api_client(victim), api_client(make_user())):
        for path, response in walk(client, exam.pk, ongoing.pk, ended.pk, victim.pk):
            assert (response.status_code, response.json()) == (403, STAFF_ONLY), path


def test_questions_with_announcements_never_hold_the_key(taken):
    exam, ongoing, _ended, victim = taken
    api_client(make_user(is_staff=True)).post(
        f"{PROCTOR_API}/exams/{exam.pk}/announcements/", {"message": "Option B of question 1 is fine."}, format="json"
    )

    body = questions(api_client(victim), ongoing.pk).json()

    assert "correct_option" not in str(body)
    assert all(set(question) == STUDENT_QUESTION_KEYS for question in body["questions"])
    assert [set(row) for row in body["announcements"]] == [{"id", "exam_id", "message", "created_at"}]
    assert not [at for at, key in _keys(body) if "correct" in key.lower()]
