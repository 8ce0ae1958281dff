"""What a start costs the database: pinned, so that a regression fails here and not on exam day.

9:00 on exam day is every student starting at once (issue 12). A new attempt is one read
before its transaction and four statements in it; a resume is three statements; the
`attempt_started` announcement costs the request none (`attempts/services/start.py`).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from attempts.models import Accommodation, Attempt
from tests.helpers import start

pytestmark = pytest.mark.django_db(transaction=True)  # real BEGIN and COMMIT, and on_commit runs


def _statements(context: CaptureQueriesContext) -> list[str]:
    """The first word of each statement sent (SELECT, INSERT, BEGIN, ...), with FOR UPDATE marked."""
    words = []
    for query in context.captured_queries:
        sql = query["sql"].strip()
        word = sql.split()[0].upper()
        words.append(f"{word} FOR UPDATE" if sql.upper().endswith("FOR UPDATE") else word)
    return words


NEW_START = [
    "SELECT",  # the exam, its counts, the account's state, an ongoing attempt, the accommodation
    "BEGIN",
    "SELECT FOR UPDATE",  # the student's row: orders their starts and a proctor's reopen
    "SELECT",  # their attempts of the exam: how many (max_attempts), and an ongoing one
    "INSERT",  # the attempt
    "INSERT",  # its audit row
    "COMMIT",
]
RESUME = [
    "SELECT",  # as above: finds the ongoing attempt's id
    "SELECT",  # the attempt
    "INSERT",  # its `resumed` audit row
]


@pytest.fixture
def sqlite_has_no_begin():
    if connection.vendor == "sqlite":
        pytest.skip("the counts are pinned on MariaDB, the production database (SQLite sends no BEGIN here)")


def test_a_new_start_is_one_read_and_four_statements_in_its_transaction(exam, student, client_for, sqlite_has_no_begin):
    client = client_for(student)
    with CaptureQueriesContext(connection) as sent:
        response = start(client, exam.pk)

    assert response.status_code == 201, response.content
    assert _statements(sent) == NEW_START, [query["sql"] for query in sent.captured_queries]


def test_the_rules_and_the_accommodation_cost_nothing_more(exam, student, client_for, sqlite_has_no_begin):
    exam.max_attempts = 2
    exam.save()
    Accommodation.objects.create(user=student, exam=None, extra_minutes=5, extra_attempts=1)
    client = client_for(student)
    with CaptureQueriesContext(connection) as sent:
        response = start(client, exam.pk)

    assert response.status_code == 201, response.content
    assert response.json()["time_limit_seconds"] == 65 * 60
    assert _statements(sent) == NEW_START


def test_a_resume_is_three_statements(exam, student, client_for, sqlite_has_no_begin):
    client = client_for(student)
    first = start(client, exam.pk).json()
    with CaptureQueriesContext(connection) as sent:
        response = start(client, exam.pk)

    assert (response.status_code, response.json()["attempt_id"]) == (200, first["attempt_id"])
    assert _statements(sent) == RESUME


def _refusal_elsewhere(client) -> dict:
    """The 401 body of an endpoint that authenticates with SimpleJWT's user lookup, for the same token."""
    response = client.get("/api/exam/timer/remaining/1/")
    assert response.status_code == 401
    return response.json()


def test_a_deactivated_students_token_is_refused_as_simplejwt_refuses_it(exam, student, client_for):
    client = client_for(student)
    student.is_active = False
    student.save()

    response = start(client, exam.pk)

    assert response.status_code == 401
    assert (
        response.json()
        == _refusal_elsewhere(client)
        == {
            "detail": "User is inactive",
            "error": "User is inactive",
            "code": "user_inactive",
        }
    )
    assert not Attempt.objects.exists()


def test_a_deleted_students_token_is_refused_as_simplejwt_refuses_it(exam, student, client_for):
    client = client_for(student)
    student.delete()

    response = start(client, exam.pk)

    assert response.status_code == 401
    assert response.json() == _refusal_elsewhere(client)
    assert response.json()["detail"] == "User not found"
    assert not Attempt.objects.exists()
