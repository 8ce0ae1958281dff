"""The expiry worker's notification path: an expired key ends its attempt; keys of others are ignored."""

from __future__ import annotations

import time
import uuid

import pytest

from attempts import timer
from attempts.expiry.listener import ExpiredKeyListener
from attempts.models import Attempt
from tests.factories import answer_correctly, start_attempt
from tests.helpers import set_deadline, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_expired_key_times_out_and_scores_the_attempt(workers, expiry_log, exam, student):
    attempt = start_attempt(student, exam)
    answer_correctly(student, attempt, 2)
    # No sweep for a minute, none at the deadline: only the notification can end this attempt in time.
    workers.start(sweep_interval=60, follow_deadlines=False)
    set_deadline(attempt, 1.0)

    def timed_out():
        timer.remaining(attempt.pk)  # a reader, like a connected socket's ticker: Redis expires the key now
        attempt.refresh_from_db()
        return attempt.status == Attempt.Status.TIMEOUT

    wait_until(timed_out, timeout=5, what="the attempt to time out")
    assert attempt.score == 2
    assert attempt.ended_at == attempt.deadline_at
    assert wait_until(lambda: [line for line in expiry_log() if f"attempt={attempt.pk} " in line], timeout=2)[0]
    line = next(line for line in expiry_log() if f"expired attempt={attempt.pk} " in line)
    assert line.endswith("path=notification")


def test_listener_ignores_keys_of_other_prefixes(settings):
    listener = ExpiredKeyListener()
    listener.connect()
    client = timer.client()
    foreign = f"other:{uuid.uuid4().hex}:exam:timer:4242"
    not_an_attempt = f"{settings.TIMER_KEY_PREFIX}probe:{uuid.uuid4().hex}"
    ours = timer.key_for(777)
    try:
        received: list[int] = []
        for key in (foreign, not_an_attempt, ours):
            client.set(key, 1, px=1)
        time.sleep(0.005)  # past their 1 ms TTL, so that reading them expires them (in this order)
        for key in (foreign, not_an_attempt, ours):
            assert client.exists(key) == 0

        def ours_arrived():
            received.extend(listener.receive(timeout=0.1, limit=100))
            return 777 in received

        wait_until(ours_arrived, timeout=3, what="the expired event of our key")
        assert received == [777]
    finally:
        listener.close()
        client.delete(foreign, not_an_attempt, ours)
