"""Races with real threads, each with its own database connection: starts, answers and submits against expiry."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connections
from django.utils import timezone

from attempts import services
from attempts.models import Answer, Attempt
from realtime.groups import proctor_group
from tests.factories import api_client, make_exam, make_user
from tests.helpers import answer, moment_near, run_threads, set_deadline, sleep_until, start, submit

pytestmark = pytest.mark.django_db(transaction=True)

STARTS = 20
ROUNDS = 20
DEADLINE_SECONDS = 0.25  # long enough to set a round up, short enough for twenty rounds
JITTER_SECONDS = 0.015  # requests land this far either side of the deadline
EXPIRY_POLL_SECONDS = 0.001  # the fastest a worker could notice


def expiry_worker(attempt_id: int, deadline) -> Callable[[], bool]:
    """What an expiry worker does: try to expire the attempt from just before its deadline until it is over."""

    def work() -> bool:
        sleep_until(deadline - timezone.timedelta(seconds=JITTER_SECONDS))
        stop_at = time.monotonic() + 5
        while time.monotonic() < stop_at:
            if services.attempt_expire(attempt_id=attempt_id):
                return True
            if not Attempt.objects.filter(pk=attempt_id, status=Attempt.Status.ONGOING).exists():
                return False
            time.sleep(EXPIRY_POLL_SECONDS)
        raise AssertionError(f"attempt {attempt_id} never ended")

    return work


def test_twenty_simultaneous_starts_make_one_attempt():
    exam = make_exam()
    user = make_user()
    clients = [api_client(user) for _ in range(STARTS)]
    connections.close_all()

    responses = run_threads(*(functools.partial(start, client, exam.pk) for client in clients))

    codes = Counter(response.status_code for response in responses)
    assert codes == {201: 1, 200: STARTS - 1}, [response.content for response in responses]
    ids = {response.json()["attempt_id"] for response in responses}
    attempt = Attempt.objects.get(user=user, exam=exam)
    assert ids == {attempt.pk}
    resumed = [response.json() for response in responses if response.status_code == 200]
    assert all(body["message"] == "Resuming existing exam attempt" for body in resumed)
    assert attempt.status == Attempt.Status.ONGOING


@pytest.mark.parametrize("max_attempts", [1, 2])
def test_simultaneous_starts_with_an_attempt_limit_resume_and_are_never_refused(max_attempts):
    # The limit counts attempts; the second of two starts must resume the first's, not count it and refuse.
    exam = make_exam()
    exam.max_attempts = max_attempts
    exam.save(update_fields=["max_attempts"])
    user = make_user()
    clients = [api_client(user) for _ in range(STARTS)]
    connections.close_all()

    responses = run_threads(*(functools.partial(start, client, exam.pk) for client in clients))

    codes = Counter(response.status_code for response in responses)
    assert codes == {201: 1, 200: STARTS - 1}, [response.content for response in responses]
    assert Attempt.objects.filter(user=user, exam=exam).count() == 1


def test_an_answer_racing_the_deadline_is_stored_and_scored_or_refused():
    exam = make_exam(questions=1, marks=3)
    question = exam.questions.get()
    user = make_user()
    client = api_client(user)
    outcomes = Counter()
    for _ in range(ROUNDS):
        attempt = services.attempt_start(user=user, exam_id=exam.pk).attempt
        set_deadline(attempt, DEADLINE_SECONDS)
        deadline = attempt.deadline_at
        moment = moment_near(deadline, JITTER_SECONDS)

        def send(attempt_id=attempt.pk, moment=moment):
            sleep_until(moment)
            return answer(client, attempt_id, question.pk, question.correct_option)

        response, _ = run_threads(send, expiry_worker(attempt.pk, deadline))

        attempt.refresh_from_db()
        stored = Answer.objects.filter(attempt=attempt).exists()
        assert attempt.status == Attempt.Status.TIMEOUT
        if response.status_code == 200:
            assert stored and attempt.score == 3, "an accepted answer must count"
        else:
            assert response.status_code == 410, response.content
            assert not stored and attempt.score == 0, "a refused answer must leave no trace"
        outcomes[response.status_code] += 1
    print(f"answer at the deadline: {dict(outcomes)} over {ROUNDS} rounds")


def drain(channel: str) -> list[dict]:
    """Every message already waiting on a channel-layer channel."""
    layer = get_channel_layer()

    async def receive_all():
        messages = []
        while True:
            try:
                messages.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
            except TimeoutError:
                return messages

    return async_to_sync(receive_all)()


def test_submit_racing_expiry_ends_each_attempt_once():
    exam = make_exam(questions=2, marks=2)
    first = exam.questions.order_by("id").first()
    user = make_user()
    client = api_client(user)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(proctor_group(exam.pk), channel)
    outcomes = Counter()
    ended = {}
    for _ in range(ROUNDS):
        attempt = services.attempt_start(user=user, exam_id=exam.pk).attempt
        services.answer_save(
            user=user, attempt_id=attempt.pk, question_id=first.pk, selected_option=first.correct_option
        )
        set_deadline(attempt, DEADLINE_SECONDS)
        deadline = attempt.deadline_at

        moment = moment_near(deadline, JITTER_SECONDS)

        def send(attempt_id=attempt.pk, moment=moment):
            sleep_until(moment)
            return submit(client, attempt_id)

        # Two workers, as when several expiry processes share one Redis.
        response, *_ = run_threads(send, expiry_worker(attempt.pk, deadline), expiry_worker(attempt.pk, deadline))

        attempt.refresh_from_db()
        body = response.json()
        assert response.status_code == 200
        assert body["status"] in ("submitted", "timeout"), body
        assert (body["score"], attempt.score) == (2, 2)
        if body["status"] == "submitted":
            assert attempt.status == Attempt.Status.COMPLETED and attempt.ended_at < attempt.deadline_at
        else:
            assert attempt.status == Attempt.Status.TIMEOUT and attempt.ended_at == attempt.deadline_at
        outcomes[body["status"]] += 1
        ended[attempt.pk] = attempt.status

    ends = Counter(
        message["frame"]["attempt_id"]
        for message in drain(channel)
        if message["frame"]["type"] in ("attempt_submitted", "attempt_timeout")
    )
    assert ends == dict.fromkeys(ended, 1), "each attempt ends, and is announced, exactly once"
    print(f"submit at the deadline: {dict(outcomes)} over {ROUNDS} rounds")
