"""GET /api/exam/timer/attempts/<exam_id>/: a student's own attempts of an exam, newest first, with results."""

from __future__ import annotations

import pytest

from attempts import services
from tests.factories import answer_correctly, start_attempt
from tests.helpers import NOT_FOUND, set_deadline, status_and_body

pytestmark = pytest.mark.django_db


def own_attempts(client, exam_id):
    return client.get(f"/api/exam/timer/attempts/{exam_id}/")


def test_no_attempt_yet_is_an_empty_list(exam, student, client_for):
    status, body = status_and_body(own_attempts(client_for(student), exam.pk))

    assert status == 200
    assert body == {"exam_id": exam.pk, "exam_title": exam.title, "attempts": []}


def test_an_attempt_that_timed_out_while_away_is_listed_with_its_result_before_any_new_one(exam, student, client_for):
    first = start_attempt(student, exam)
    answer_correctly(student, first, 1)
    set_deadline(first, -1)
    services.attempt_expire(attempt_id=first.pk)  # the worker did it while the tab was closed

    body = own_attempts(client_for(student), exam.pk).json()

    [row] = body["attempts"]
    assert row["attempt_id"] == first.pk
    assert row["status"] == "timeout"
    assert (row["score"], row["total_marks"], row["percentage"], row["remaining_seconds"]) == (1, 4, 25.0, 0)
    assert row["ended_at"] == row["deadline_at"]


def test_newest_first_and_an_ongoing_one_shows_its_time_left(exam, student, client_for):
    first = start_attempt(student, exam)
    services.attempt_submit(user=student, attempt_id=first.pk)
    second = start_attempt(student, exam)

    rows = own_attempts(client_for(student), exam.pk).json()["attempts"]

    assert [row["attempt_id"] for row in rows] == [second.pk, first.pk]
    assert rows[0]["status"] == "ongoing"
    assert rows[0]["score"] is None and rows[0]["percentage"] is None
    assert 3590 <= rows[0]["remaining_seconds"] <= 3600
    assert rows[1]["status"] == "completed"


def test_only_the_students_own_attempts(exam, student, other_student, client_for):
    start_attempt(other_student, exam)

    assert own_attempts(client_for(student), exam.pk).json()["attempts"] == []


def test_unknown_exam_404_and_bad_id_400(student, client_for):
    client = client_for(student)

    assert status_and_body(own_attempts(client, 999999)) == (404, NOT_FOUND)
    response = own_attempts(client, "abc")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_without_a_token_401(exam, client_for):
    assert own_attempts(client_for(), exam.pk).status_code == 401
