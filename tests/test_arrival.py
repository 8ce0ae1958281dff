"""Answers and submits are judged by when the server received them, not when a thread got to them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from attempts import errors, services
from attempts.models import Answer, Attempt
from examsite.arrival import SCOPE_KEY, StampArrival
from tests.factories import make_exam
from tests.helpers import set_deadline, wait_until

pytestmark = pytest.mark.django_db

SLOW_BODY_SECONDS = 0.3  # long enough to tell "headers arrived" from "body arrived" on a busy machine


def _due_attempt(student, seconds: float = 0.2) -> Attempt:
    exam = make_exam(questions=2)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    set_deadline(attempt, seconds)
    # No worker runs here: the attempt stays ongoing after its deadline, as when a request
    # waited in the queue while the deadline passed.
    wait_until(lambda: timezone.now() > attempt.deadline_at, timeout=5, what="the deadline to pass")
    return attempt


def test_answer_received_before_the_deadline_counts_though_handled_after(student):
    attempt = _due_attempt(student)
    question = attempt.exam.questions.first()

    result = services.answer_save(
        user=student,
        attempt_id=attempt.pk,
        question_id=question.pk,
        selected_option="A",
        received_at=attempt.deadline_at - timedelta(milliseconds=1),
    )

    assert result.created
    assert Answer.objects.filter(attempt=attempt, question=question, selected_option="A").exists()


def test_answer_received_at_the_deadline_is_refused_and_not_stored(student):
    attempt = _due_attempt(student)
    question = attempt.exam.questions.first()

    with pytest.raises(errors.TimeExpired):
        services.answer_save(
            user=student,
            attempt_id=attempt.pk,
            question_id=question.pk,
            selected_option="A",
            received_at=attempt.deadline_at,
        )

    assert not Answer.objects.filter(attempt=attempt).exists()
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.TIMEOUT


def test_submit_received_before_the_deadline_is_submitted_at_its_arrival(student):
    attempt = _due_attempt(student)
    arrival = attempt.deadline_at - timedelta(milliseconds=5)

    result = services.attempt_submit(user=student, attempt_id=attempt.pk, received_at=arrival)

    assert result.outcome == "submitted"
    assert result.attempt.status == Attempt.Status.COMPLETED
    assert result.attempt.ended_at == arrival


def test_submit_received_after_the_deadline_times_out(student):
    attempt = _due_attempt(student)

    result = services.attempt_submit(user=student, attempt_id=attempt.pk, received_at=timezone.now())

    assert result.outcome == "timeout"


def test_the_stamp_is_taken_when_the_whole_body_has_arrived():
    seen = {}

    async def app(scope, receive, send):
        seen["received_at"] = scope[SCOPE_KEY]
        seen["body"] = b""
        while True:
            message = await receive()
            seen["body"] += message.get("body", b"")
            if not message.get("more_body"):
                break

    async def slow_client():
        chunks = [
            {"type": "http.request", "body": b'{"attempt_id": 1, ', "more_body": True},
            {"type": "http.request", "body": b'"selected_option": "B"}', "more_body": False},
        ]
        for number, chunk in enumerate(chunks):
            if number:
                await asyncio.sleep(SLOW_BODY_SECONDS)  # the client holds its choice back
            yield chunk

    async def run():
        chunks = slow_client()
        headers_at = timezone.now()

        async def receive():
            return await chunks.__anext__()

        await StampArrival(app)({"type": "http"}, receive, None)
        return headers_at

    headers_at = asyncio.run(run())

    assert seen["body"] == b'{"attempt_id": 1, "selected_option": "B"}'
    assert (seen["received_at"] - headers_at).total_seconds() >= SLOW_BODY_SECONDS
