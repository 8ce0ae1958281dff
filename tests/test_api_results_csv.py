"""GET /api/exam/proctor/exams/<exam_id>/results.csv: one row per attempt, the documented columns in order."""

from __future__ import annotations

import csv
import io

import pytest

from attempts.models import Attempt
from tests.factories import answer_correctly, api_client, make_exam, make_user, start_attempt
from tests.helpers import NOT_FOUND, PROCTOR_API, STAFF_ONLY, extend, set_deadline, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

HEADER = (
    "attempt_id,username,status,started_at,ended_at,deadline_at,score,total_marks,percentage,answered,"
    "total_questions,time_limit_seconds,change_seconds,offline_seconds"
)


def results(client, exam_id: int, **headers):
    return client.get(f"{PROCTOR_API}/exams/{exam_id}/results.csv", **headers)


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def iso_z(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_one_row_per_attempt_in_every_state(proctor):
    exam = make_exam(questions=4)
    ongoing, completed, timed_out = (start_attempt(make_user(f"csv-{n}"), exam) for n in range(3))
    answer_correctly(completed.user, completed, 3)
    submit(api_client(completed.user), completed.pk)
    answer_correctly(timed_out.user, timed_out, 1)
    set_deadline(timed_out, -1)
    submit(api_client(timed_out.user), timed_out.pk)  # reports the timeout, and records it
    answer_correctly(ongoing.user, ongoing, 2)
    staff = api_client(proctor)
    extend(staff, ongoing.pk, seconds=90)
    start_attempt(make_user(), make_exam())  # another exam's attempt: not in this file
    # Offline for 7.4 s, then connected: its offline time stands still at 7 whole seconds.
    Attempt.objects.filter(pk=ongoing.pk).update(connected=True, offline_ms=7_400)

    response = results(staff, exam.pk)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="exam-{exam.pk}-results.csv"'
    assert response.content.decode().splitlines()[0] == HEADER
    rows = {int(row["attempt_id"]): row for row in rows_of(response)}
    assert list(rows) == [ongoing.pk, completed.pk, timed_out.pk]  # oldest start first
    db = {attempt.pk: attempt for attempt in Attempt.objects.filter(exam=exam)}
    assert rows[ongoing.pk] == {
        "attempt_id": str(ongoing.pk),
        "username": "csv-0",
        "status": "ongoing",
        "started_at": iso_z(db[ongoing.pk].started_at),
        "ended_at": "",
        "deadline_at": iso_z(db[ongoing.pk].deadline_at),
        "score": "",
        "total_marks": "4",
        "percentage": "",
        "answered": "2",
        "total_questions": "4",
        "time_limit_seconds": "3600",
        "change_seconds": "90",
        "offline_seconds": "7",
    }
    done = rows[completed.pk]
    assert (done["status"], done["score"], done["percentage"], done["answered"]) == ("completed", "3", "75.0", "3")
    assert done["ended_at"] == iso_z(db[completed.pk].ended_at)
    late = rows[timed_out.pk]
    assert (late["status"], late["score"], late["percentage"], late["ended_at"]) == (
        "timeout",
        "1",
        "25.0",
        iso_z(db[timed_out.pk].deadline_at),
    )


def test_an_exam_without_attempts_is_the_header_alone(proctor, exam):
    response = results(api_client(proctor), exam.pk)

    assert response.content.decode() == HEADER + "\r\n"


@pytest.mark.parametrize("accept", ["text/csv", "application/json", "*/*", "text/html"])
def test_csv_whatever_the_accept_header(proctor, exam, accept):
    response = results(api_client(proctor), exam.pk, HTTP_ACCEPT=accept)

    assert (response.status_code, response["Content-Type"]) == (200, "text/csv; charset=utf-8")


@pytest.mark.parametrize("accept", ["text/csv", "application/json"])
def test_errors_are_json(student, exam, proctor, accept):
    refused = results(api_client(student), exam.pk, HTTP_ACCEPT=accept)
    unknown = results(api_client(proctor), 987654321, HTTP_ACCEPT=accept)

    assert (refused.status_code, refused["Content-Type"], refused.json()) == (403, "application/json", STAFF_ONLY)
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("name", ["=HYPERLINK", "+1-1", "-2+3", "@SUM"])
def test_a_username_a_spreadsheet_would_run_is_written_as_text(proctor, exam, name):
    start_attempt(make_user(name), exam)

    (row,) = rows_of(results(api_client(proctor), exam.pk))

    assert row["username"] == f"'{name}"


def test_usernames_with_commas_quotes_and_accents_survive(proctor, exam):
    start_attempt(make_user('Zoë "Z", 2nd'), exam)

    (row,) = rows_of(results(api_client(proctor), exam.pk))

    assert row["username"] == 'Zoë "Z", 2nd'


def test_no_correct_option_in_the_file(proctor):
    exam = make_exam(questions=2)
    attempt = start_attempt(make_user(), exam)
    answer_correctly(attempt.user, attempt, 2)

    text = results(api_client(proctor), exam.pk).content.decode()

    assert "correct" not in text.lower()
