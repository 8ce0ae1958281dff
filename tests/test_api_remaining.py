"""GET /api/exam/timer/remaining/<attempt_id>/: running, timeout, completed, 403, 404."""

from __future__ import annotations

import pytest

from attempts.models import Attempt
from tests.helpers import (
    NOT_FOUND,
    NOT_YOURS,
    UNKNOWN_ID,
    remaining,
    seconds_until,
    set_deadline,
    status_and_body,
    submit,
    wait_until,
)

pytestmark = pytest.mark.django_db


def test_running(attempt, student, client_for):
    response = remaining(client_for(student), attempt.pk)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "remaining_seconds", "remaining_ms", "deadline_at"}
    assert body["status"] == "running"
    assert 3599 <= body["remaining_seconds"] <= 3600


def test_running_counts_down_from_the_deadline(attempt, student, client_for):
    set_deadline(attempt, 42)

    body = remaining(client_for(student), attempt.pk).json()

    truth = seconds_until(attempt.deadline_at)
    assert body["status"] == "running"
    assert abs(body["remaining_seconds"] - truth) <= 1


def test_timeout_when_the_time_runs_out(attempt, student, client_for):
    client = client_for(student)
    set_deadline(attempt, 0.5)  # a real, short TTL

    body = wait_until(
        lambda: (b := remaining(client, attempt.pk).json())["status"] == "timeout" and b,
        timeout=5,
        what="the attempt to time out",
    )

    assert body == {"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"}
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.TIMEOUT
    assert attempt.ended_at == attempt.deadline_at
    assert attempt.score == 0


def test_timeout_stays_timeout(attempt, student, client_for):
    client = client_for(student)
    set_deadline(attempt, -1)

    bodies = [remaining(client, attempt.pk).json() for _ in range(3)]

    assert bodies == [{"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"}] * 3


def test_completed_after_submit(attempt, student, client_for):
    client = client_for(student)
    submit(client, attempt.pk)

    response = remaining(client, attempt.pk)

    assert response.status_code == 200
    assert response.json() == {"status": "completed", "remaining_seconds": 0, "message": "Exam already submitted"}


def test_not_your_attempt_403(attempt, other_student, client_for):
    response = remaining(client_for(other_student), attempt.pk)

    assert status_and_body(response) == (403, NOT_YOURS)


def test_attempt_not_found_404(student, client_for):
    response = remaining(client_for(student), UNKNOWN_ID)

    assert status_and_body(response) == (404, NOT_FOUND)
