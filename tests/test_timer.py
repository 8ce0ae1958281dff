"""The Redis timer: one key per ongoing attempt with the exam's TTL, gone when it ends, rebuilt when lost."""

from __future__ import annotations

import pytest

from attempts import timer
from attempts.models import Attempt
from tests.helpers import remaining, seconds_until, set_deadline, start, started_attempt, submit, wait_until
from tests.redis_server import private_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(student, client_for):
    return client_for(student)


def test_key_name_is_the_prefix_and_the_attempt_id(timer_prefix):
    assert timer.key_for(123) == f"{timer_prefix}123"
    assert timer.attempt_id_from_key(f"{timer_prefix}123") == 123
    assert timer.attempt_id_from_key(f"{timer_prefix}probe:abc") is None
    assert timer.attempt_id_from_key("exam:other:123") is None


def test_started_attempt_has_a_key_with_the_exams_ttl(exam, client):
    attempt = started_attempt(client, exam.pk)

    key = timer.key_for(attempt.pk)
    ttl_ms = timer.client().pttl(key)
    assert 3599_000 <= ttl_ms <= 3600_000
    assert timer.client().get(key) == "3600"  # the value is the initial seconds (the original API's SETEX)


def test_key_is_gone_after_submit(exam, client, django_capture_on_commit_callbacks):
    attempt = started_attempt(client, exam.pk)
    assert timer.client().exists(timer.key_for(attempt.pk))

    with django_capture_on_commit_callbacks(execute=True):
        assert submit(client, attempt.pk).json()["status"] == "submitted"

    assert not timer.client().exists(timer.key_for(attempt.pk))


def test_key_is_gone_after_timeout(exam, client, django_capture_on_commit_callbacks):
    attempt = set_deadline(started_attempt(client, exam.pk), -1)

    with django_capture_on_commit_callbacks(execute=True):
        assert remaining(client, attempt.pk).json()["status"] == "timeout"

    assert not timer.client().exists(timer.key_for(attempt.pk))


def test_flushed_redis_restores_the_timer(exam, client, settings):
    with private_redis(settings) as server:
        attempt = started_attempt(client, exam.pk)
        set_deadline(attempt, 1234)
        server.client().flushdb()
        assert timer.remaining(attempt.pk) is None

        body = remaining(client, attempt.pk).json()

        truth = seconds_until(attempt.deadline_at)
        assert body["status"] == "running"
        assert abs(body["remaining_seconds"] - truth) <= 1
        assert abs(server.client().pttl(timer.key_for(attempt.pk)) / 1000 - truth) <= 1
        attempt.refresh_from_db()
        assert attempt.status == Attempt.Status.ONGOING


def test_restarted_redis_restores_the_timer_on_resume(exam, client, settings):
    with private_redis(settings) as server:
        attempt = set_deadline(started_attempt(client, exam.pk), 600)
        server.restart()

        body = start(client, exam.pk).json()

        assert body["attempt_id"] == attempt.pk
        assert abs(body["remaining_seconds"] - seconds_until(attempt.deadline_at)) <= 1
        assert abs(server.client().pttl(timer.key_for(attempt.pk)) / 1000 - seconds_until(attempt.deadline_at)) <= 1


def test_a_key_without_ttl_gets_its_ttl_back(exam, client):
    attempt = set_deadline(started_attempt(client, exam.pk), 300)
    timer.client().set(
        timer.key_for(attempt.pk), 300
    )  # a key without a TTL ("TTL = -1"), a corruption seen in the wild
    assert timer.client().pttl(timer.key_for(attempt.pk)) == -1

    body = remaining(client, attempt.pk).json()

    assert body["status"] == "running"
    assert abs(body["remaining_seconds"] - seconds_until(attempt.deadline_at)) <= 1
    assert abs(timer.client().pttl(timer.key_for(attempt.pk)) / 1000 - seconds_until(attempt.deadline_at)) <= 1


def test_restore_never_overwrites_a_live_timer():
    timer.start(7, 50_000)

    assert timer.restore(7, 10_000) is False
    assert timer.remaining(7) == 50


def test_remaining_rounds_up_and_none_when_gone():
    timer.start(8, 1_500)

    assert timer.remaining(8) == 2
    timer.clear(8)
    assert timer.remaining(8) is None


def test_remaining_many_in_one_round_trip():
    timer.start(1, 10_000)
    timer.start(2, 20_000)

    assert timer.remaining_many([1, 2, 3]) == {1: 10, 2: 20, 3: None}
    assert timer.remaining_many([]) == {}


def test_a_short_ttl_really_expires():
    timer.start(9, 200)

    wait_until(lambda: timer.remaining(9) is None, timeout=5, what="the key to expire")
