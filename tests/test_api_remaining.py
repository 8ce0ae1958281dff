"""GET /api/exam/timer/remaining/<attempt_id>/: running, timeout, completed, 403, 404."""

from __future__ import annotations

import pytest
from django.utils import timezone

from attempts.models import Attempt
from tests.factories import set_deadline
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def remaining(client, attempt_id):
    return client.get(f"/api/exam/timer/remaining/{attempt_id}/")


@pytest.fixture
def attempt_id(exam, student, client_for):
    return client_for(student).post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]


def test_running(attempt_id, student, client_for):
    response = remaining(client_for(student), attempt_id)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "remaining_seconds"}
    assert body["status"] == "running"
    assert 3599 <= body["remaining_seconds"] <= 3600


def test_running_counts_down_from_the_deadline(attempt_id, student, client_for):
    attempt = set_deadline(Attempt.objects.get(pk=attempt_id), 42)

    body = remaining(client_for(student), attempt_id).json()

    truth = (attempt.deadline_at - timezone.now()).total_seconds()
    assert body["status"] == "running"
    assert abs(body["remaining_seconds"] - truth) <= 1


def test_timeout_when_the_time_runs_out(attempt_id, student, client_for):
    client = client_for(student)
    set_deadline(Attempt.objects.get(pk=attempt_id), 0.5)  # a real, short TTL

    body = wait_until(
        lambda: (b := remaining(client, attempt_id).json())["status"] == "timeout" and b,
        timeout=5,
        what="the attempt to time out",
    )

    assert body == {"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"}
    attempt = Attempt.objects.get(pk=attempt_id)
    assert attempt.status == Attempt.Status.TIMEOUT
    assert attempt.ended_at == attempt.deadline_at
    assert attempt.score == 0


def test_timeout_stays_timeout(attempt_id, student, client_for):
    client = client_for(student)
    set_deadline(Attempt.objects.get(pk=attempt_id), -1)

    bodies = [remaining(client, attempt_id).json() for _ in range(3)]

    assert bodies == [{"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"}] * 3


def test_completed_after_submit(attempt_id, student, client_for):
    client = client_for(student)
    client.post(f"/api/exam/timer/submit/{attempt_id}/")

    response = remaining(client, attempt_id)

    assert response.status_code == 200
    assert response.json() == {"status": "completed", "remaining_seconds": 0, "message": "Exam already submitted"}


def test_not_your_attempt_403(attempt_id, other_student, client_for):
    response = remaining(client_for(other_student), attempt_id)

    assert response.status_code == 403
    assert response.json() == {"error": "This exam attempt does not belong to you.", "code": "not_your_attempt"}


def test_attempt_not_found_404(student, client_for):
    response = remaining(client_for(student), 987654321)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
