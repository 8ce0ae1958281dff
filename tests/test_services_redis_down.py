"""Redis unreachable: start refuses with the API's 500 and leaves nothing; a running attempt goes on."""

from __future__ import annotations

import pytest
from django.utils import timezone

from attempts import timer
from attempts.models import Answer, Attempt
from tests.factories import api_client, make_exam, make_user
from tests.helpers import set_deadline, wait_until
from tests.redis_server import private_redis, unreachable_redis

START_FAILED = {"error": "Failed to start exam timer. Please try again.", "code": "timer_unavailable"}


def seconds_until(moment) -> float:
    return (moment - timezone.now()).total_seconds()


@pytest.mark.django_db(transaction=True)
def test_start_fails_500_and_leaves_no_attempt(settings):
    exam = make_exam()
    client = api_client(make_user())

    with unreachable_redis(settings):
        response = client.post(f"/api/exam/timer/start/{exam.pk}/")

    assert response.status_code == 500
    assert response.json() == START_FAILED
    assert not Attempt.objects.exists()
    assert client.post(f"/api/exam/timer/start/{exam.pk}/").status_code == 201  # and works once Redis is back


@pytest.mark.django_db
def test_a_running_attempt_keeps_working_from_its_deadline(
    exam, student, client_for, settings, django_capture_on_commit_callbacks
):
    client = client_for(student)
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    attempt = set_deadline(Attempt.objects.get(pk=attempt_id), 300)
    question = exam.questions.order_by("id").first()

    with unreachable_redis(settings):
        # Each call on the dead Redis waits out its pool's retries (~0.5 s): the truth is read at each answer.
        remaining = client.get(f"/api/exam/timer/remaining/{attempt_id}/").json()
        remaining_truth = seconds_until(attempt.deadline_at)
        resumed = client.post(f"/api/exam/timer/start/{exam.pk}/")
        resumed_truth = seconds_until(attempt.deadline_at)
        saved = client.post(
            "/api/exam/timer/submit-answer/",
            {"attempt_id": attempt_id, "question_id": question.pk, "selected_option": question.correct_option},
            format="json",
        )
        questions = client.get(f"/api/exam/timer/questions/{attempt_id}/")
        with django_capture_on_commit_callbacks(execute=True):
            submitted = client.post(f"/api/exam/timer/submit/{attempt_id}/")

    assert remaining["status"] == "running"
    assert abs(remaining["remaining_seconds"] - remaining_truth) <= 1
    assert resumed.status_code == 200 and resumed.json()["attempt_id"] == attempt_id
    assert abs(resumed.json()["remaining_seconds"] - resumed_truth) <= 1
    assert saved.status_code == 200 and Answer.objects.filter(attempt_id=attempt_id).count() == 1
    assert questions.status_code == 200 and questions.json()["saved_answers"] == {str(question.pk): "A"}
    assert submitted.status_code == 200
    assert (submitted.json()["status"], submitted.json()["score"]) == ("submitted", 1)


@pytest.mark.django_db
def test_an_attempt_whose_time_ran_out_meanwhile_times_out(exam, student, client_for, settings):
    client = client_for(student)
    attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
    set_deadline(Attempt.objects.get(pk=attempt_id), -1)

    with unreachable_redis(settings):
        remaining = client.get(f"/api/exam/timer/remaining/{attempt_id}/").json()
        submitted = client.post(f"/api/exam/timer/submit/{attempt_id}/").json()

    assert remaining == {"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"}
    assert submitted["status"] == "timeout"


REDIS_BACK_SECONDS = 3.0  # bounds a failure only: the pool answers on its first call once Redis does


def _timer_answers() -> bool:
    try:
        return timer.client().ping()
    except timer.REDIS_ERRORS:
        return False


@pytest.mark.django_db
def test_the_timer_is_rebuilt_when_redis_returns(exam, student, client_for, settings):
    client = client_for(student)
    with private_redis(settings) as server:
        attempt_id = client.post(f"/api/exam/timer/start/{exam.pk}/").json()["attempt_id"]
        attempt = set_deadline(Attempt.objects.get(pk=attempt_id), 500)
        port = server.port
        server.stop()

        while_down = client.get(f"/api/exam/timer/remaining/{attempt_id}/").json()
        left_while_down = seconds_until(attempt.deadline_at)
        server.start(port=port)  # back, empty: a Redis that kept nothing on disk
        # The first call once Redis answers gets through (examsite/redis_pools.py, Outage).
        wait_until(_timer_answers, timeout=REDIS_BACK_SECONDS, what="the timer pool answering again")
        assert timer.remaining(attempt_id) is None
        after = client.get(f"/api/exam/timer/remaining/{attempt_id}/").json()

        assert while_down["status"] == after["status"] == "running"
        assert abs(while_down["remaining_seconds"] - left_while_down) <= 1
        assert abs(after["remaining_seconds"] - seconds_until(attempt.deadline_at)) <= 1
        assert abs(timer.client().pttl(timer.key_for(attempt_id)) / 1000 - seconds_until(attempt.deadline_at)) <= 1
