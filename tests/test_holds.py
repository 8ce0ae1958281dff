"""Deadline holds: an answer or submit received before the deadline keeps its attempt from timing out under it."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.utils import timezone

from attempts import clock, errors, services, timer
from attempts.apis.holds import SCOPE_KEY, HoldDeadline
from attempts.models import Answer, Attempt
from examsite.arrival import SCOPE_KEY as STAMP_KEY
from examsite.arrival import StampArrival
from tests.helpers import set_deadline, wait_until

pytestmark = pytest.mark.django_db


def _request(path: str, body: dict | None = None) -> tuple[dict, list[dict]]:
    scope = {"type": "http", "method": "POST", "path": path}
    return scope, [{"type": "http.request", "body": json.dumps(body or {}).encode(), "more_body": False}]


def _through_middleware(scope, messages, *, inside):
    """Run `inside(scope)` as the app behind HoldDeadline and StampArrival, as asgi.py stacks them."""
    seen = {}

    async def app(inner_scope, receive, send):
        seen["scope"] = inner_scope
        seen["holds_inside"] = await asyncio.to_thread(inside, inner_scope)

    async def receive():
        return messages.pop(0)

    asyncio.run(HoldDeadline(StampArrival(app))(scope, receive, None))
    return seen


def test_an_answer_holds_its_attempt_while_it_is_handled_and_releases_it_after(attempt):
    scope, messages = _request("/api/exam/timer/submit-answer/", {"attempt_id": attempt.pk, "question_id": 1})

    seen = _through_middleware(scope, messages, inside=lambda _: timer.holds([attempt.pk]))

    assert seen["holds_inside"] == {attempt.pk: 1}
    assert seen["scope"][SCOPE_KEY] == attempt.pk
    assert STAMP_KEY in seen["scope"]  # stamped after the hold was taken
    assert timer.holds([attempt.pk]) == {}
    assert not timer.client().exists(timer.hold_key(attempt.pk))


def test_a_submit_holds_the_attempt_of_its_path(attempt):
    scope, messages = _request(f"/api/exam/timer/submit/{attempt.pk}/")

    assert _through_middleware(scope, messages, inside=lambda _: timer.holds([attempt.pk]))["holds_inside"] == {
        attempt.pk: 1
    }


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/exam/timer/start/1/", {}),
        ("/api/token/", {"username": "x"}),
        ("/api/exam/timer/submit-answer/", {"attempt_id": "1"}),  # a bad id gets its 400 from the view
        ("/api/exam/timer/submit/abc/", {}),
    ],
)
def test_other_requests_hold_nothing(attempt, path, body):
    scope, messages = _request(path, body)

    seen = _through_middleware(scope, messages, inside=lambda _: timer.client().keys(timer.hold_key("*")))

    assert seen["holds_inside"] == []
    assert SCOPE_KEY not in seen["scope"]


def test_a_held_attempt_is_not_timed_out_and_is_once_released(attempt):
    set_deadline(attempt, -0.5)
    asyncio.run(timer.ahold(attempt.pk))

    assert services.attempts_expire_many(attempt_ids=[attempt.pk]) == []
    assert clock.ends_of_due([attempt.pk]) == {attempt.pk: None}  # the ticker sends no end yet

    asyncio.run(timer.arelease(attempt.pk))
    assert services.attempts_expire_many(attempt_ids=[attempt.pk]) == [attempt.pk]


def test_a_submit_received_in_time_and_handled_late_completes_a_held_attempt(attempt, student):
    set_deadline(attempt, 0.2)
    asyncio.run(timer.ahold(attempt.pk))  # the submit arrived and waits in the queue
    arrival = timezone.now()
    wait_until(lambda: timezone.now() > attempt.deadline_at, timeout=5, what="the deadline to pass")
    assert not services.attempt_expire(attempt_id=attempt.pk)  # the worker's sweep, meanwhile

    result = services.attempt_submit(user=student, attempt_id=attempt.pk, received_at=arrival, caller_holds=attempt.pk)

    assert result.outcome == "submitted"
    assert result.attempt.status == Attempt.Status.COMPLETED


def test_a_late_answer_expires_its_attempt_despite_its_own_hold(attempt, student):
    set_deadline(attempt, -0.2)
    asyncio.run(timer.ahold(attempt.pk))  # its own
    question = attempt.exam.questions.first()

    with pytest.raises(errors.TimeExpired):
        services.answer_save(
            user=student, attempt_id=attempt.pk, question_id=question.pk, selected_option="A", caller_holds=attempt.pk
        )

    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.TIMEOUT
    assert not Answer.objects.filter(attempt=attempt).exists()


def test_a_late_submit_waits_for_an_in_time_request_of_the_same_attempt(attempt, student):
    set_deadline(attempt, -0.2)
    asyncio.run(timer.ahold(attempt.pk))  # an answer received in time, still queued
    asyncio.run(timer.ahold(attempt.pk))  # this late submit's own

    def in_time_answer_done():
        asyncio.run(timer.arelease(attempt.pk))

    loop_timer = threading.Timer(0.3, in_time_answer_done)
    loop_timer.start()
    result = services.attempt_submit(
        user=student, attempt_id=attempt.pk, received_at=timezone.now(), caller_holds=attempt.pk
    )
    loop_timer.join()

    assert result.outcome == "timeout"
    assert result.attempt.status == Attempt.Status.TIMEOUT


def test_a_hold_lapses_by_itself_if_its_process_died_before_releasing_it(attempt):
    asyncio.run(timer.ahold(attempt.pk))

    assert 0 < timer.client().pttl(timer.hold_key(attempt.pk)) <= timer.HOLD_TTL_MS
