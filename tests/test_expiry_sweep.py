"""The expiry worker's sweep and restore: due attempts without a key, lost timers, and 200 attempts at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.utils import timezone

from attempts import services, timer
from attempts.models import Attempt
from realtime.groups import proctor_group
from tests.factories import answer_correctly, make_exam, start_attempt
from tests.helpers import set_deadline, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_sweep_expires_a_due_attempt_whose_key_vanished_without_a_notification(workers, expiry_log, exam, student):
    attempt = start_attempt(student, exam)
    answer_correctly(student, attempt, 3)
    workers.start()
    # Deadline passed and key deleted: DEL sends `del`, never `expired`; only the sweep can see it.
    set_deadline(attempt, -1.0)

    wait_until(
        lambda: Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.TIMEOUT).exists(),
        timeout=2,
        what="the sweep to time the attempt out",
    )
    attempt.refresh_from_db()
    assert attempt.score == 3
    line = wait_until(lambda: [x for x in expiry_log() if f"expired attempt={attempt.pk} " in x], timeout=2)[0]
    assert line.endswith("path=sweep")


def test_lost_timer_is_restored_with_the_time_left(workers, exam, student):
    attempt = start_attempt(student, exam)
    set_deadline(attempt, 60)
    timer.clear(attempt.pk)  # as if Redis had restarted or been flushed
    workers.start(restore_interval=0.5)

    seconds = wait_until(lambda: timer.remaining(attempt.pk), timeout=3, what="the timer to come back")
    assert 57 <= seconds <= 60
    attempt.refresh_from_db()
    assert attempt.status == Attempt.Status.ONGOING


def test_restore_leaves_ended_attempts_without_a_key(workers, exam, student):
    attempt = start_attempt(student, exam)
    services.attempt_submit(user=student, attempt_id=attempt.pk)
    workers.start(restore_interval=0.2)
    other = start_attempt(student, make_exam(questions=1))
    timer.clear(other.pk)
    wait_until(lambda: timer.remaining(other.pk), timeout=3, what="the other timer to come back")
    assert timer.remaining(attempt.pk) is None


def _bulk_due_attempts(exam, count: int) -> list[int]:
    """`count` ongoing attempts whose deadline has just passed, without keys (as after a mass timeout)."""
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"mass{uuid.uuid4().hex[:12]}") for _ in range(count)]
    )
    now = timezone.now()
    attempts = Attempt.objects.bulk_create(
        [
            Attempt(
                user=user,
                exam=exam,
                started_at=now - timedelta(minutes=1),
                deadline_at=now - timedelta(seconds=1),
                time_limit_seconds=59,
            )
            for user in users
        ]
    )
    if attempts[0].pk is None:  # MySQL does not return ids from bulk_create
        return list(Attempt.objects.filter(exam=exam).values_list("pk", flat=True))
    return [attempt.pk for attempt in attempts]


async def _collect_proctor_frames(channel: str, *, count: int, timeout: float, quiet: float) -> list[dict]:
    """Frames sent to `channel` until `count` arrived (then `quiet` s with nothing more) or `timeout`."""
    layer = get_channel_layer()
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = quiet if len(frames) >= count else max(0.01, deadline - time.monotonic())
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=wait)
        except TimeoutError:
            if len(frames) >= count:
                break
            continue
        frames.append(message["frame"])
    return frames


def test_two_workers_expire_each_of_200_due_attempts_exactly_once(workers, expiry_log):
    exam = make_exam(questions=2)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(proctor_group(exam.pk), channel)
    workers.start(2)
    ids = _bulk_due_attempts(exam, 200)

    frames = async_to_sync(_collect_proctor_frames)(channel, count=200, timeout=60, quiet=1.0)

    timeouts = [frame["attempt_id"] for frame in frames if frame["type"] == "attempt_timeout"]
    assert sorted(timeouts) == sorted(ids)  # every attempt once, none twice
    assert Attempt.objects.filter(pk__in=ids, status=Attempt.Status.TIMEOUT, score=0).count() == 200
    expired = [line for line in expiry_log() if line.startswith("expired attempt=")]
    assert len(expired) == 200
    assert len({line.split()[1] for line in expired}) == 200
