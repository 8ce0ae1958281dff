"""Frames and `remaining` carry the exact time left, so a page can reach zero at the deadline, not after it."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async

from attempts import timer
from tests.helpers import remaining, set_deadline
from tests.wsclient import async_test, attempt_path, frame_of_type, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

# A deadline 0.3 s past a whole second: rounded-up seconds alone would put the page's zero up
# to 0.7 s after it.
SUB_SECOND = 0.3
TIMER_WRITE_TOLERANCE_MS = 25  # the ticker's deadline is now + PTTL; the TTL was written a few ms after its deadline
READ_TOLERANCE_MS = 150  # from the server's read of the timer to this test's own clock, on a loaded machine


def _deadline_at(frame_or_body: dict) -> float:
    return datetime.fromisoformat(frame_or_body["deadline_at"].replace("Z", "+00:00")).timestamp()


def _on_a_sub_second(attempt, seconds_ahead: int):
    target = int(time.time()) + seconds_ahead + SUB_SECOND
    set_deadline(attempt, target - time.time())
    return attempt.deadline_at.timestamp()


@async_test
async def test_every_tick_carries_the_exact_deadline_and_the_milliseconds_left(attempt, student):
    deadline = await database_sync_to_async(_on_a_sub_second)(attempt, 30)
    comm = await open_socket(attempt_path(attempt.pk), student)

    for receive in (lambda: next_frame(comm), lambda: frame_of_type(comm, "tick", timeout=2.0)):
        frame = await receive()
        seen_at = time.time()
        assert frame["type"] == "tick"
        # To the millisecond, give or take the write of the timer (10 ms seen on a loaded machine).
        assert abs(_deadline_at(frame) - deadline) * 1000 <= TIMER_WRITE_TOLERANCE_MS
        implied = seen_at + frame["remaining_ms"] / 1000
        assert implied >= deadline - READ_TOLERANCE_MS / 1000  # never earlier than the truth by more than the trip
        assert implied <= deadline + READ_TOLERANCE_MS / 1000
        assert frame["remaining_seconds"] * 1000 >= frame["remaining_ms"]  # the display rounds up
    await comm.disconnect()


def _on_a_whole_second(attempt, seconds_ahead: int) -> int:
    """Deadline and timer both exactly on a whole second (PXAT, as the bench writes them), as a page would get
    from an exam whose end is set to the second."""
    deadline = int(time.time()) + seconds_ahead
    attempt.deadline_at = datetime.fromtimestamp(deadline, UTC)
    attempt.save(update_fields=["deadline_at"])
    timer.client().set(timer.key_for(attempt.pk), seconds_ahead, pxat=deadline * 1000)
    return deadline


@async_test
async def test_a_tick_never_shows_a_second_that_is_not_left(attempt, student):
    # Each tick stands for a whole second and says what is left then: on a whole-second deadline exactly
    # deadline - that second. A TTL read a few ms before the clock was taken once made it one second more.
    deadline = await database_sync_to_async(_on_a_whole_second)(attempt, 30)
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)  # the connect's own tick
    for _ in range(3):
        frame = await frame_of_type(comm, "tick", timeout=2.0)
        seen_at = time.time()
        assert frame["remaining_seconds"] <= math.ceil(deadline - seen_at), (frame, deadline - seen_at)
        assert frame["remaining_seconds"] * 1000 >= frame["remaining_ms"]
    await comm.disconnect()


def test_remaining_carries_the_deadline_and_the_milliseconds_left(attempt, student, client_for):
    deadline = _on_a_sub_second(attempt, 30)

    body = remaining(client_for(student), attempt.pk).json()

    assert body["status"] == "running"
    assert abs(_deadline_at(body) - deadline) * 1000 <= 1
    assert abs(time.time() + body["remaining_ms"] / 1000 - deadline) * 1000 <= READ_TOLERANCE_MS


def test_start_and_resume_carry_the_deadline(exam, student, client_for):
    client = client_for(student)

    started = client.post(f"/api/exam/timer/start/{exam.pk}/").json()
    resumed = client.post(f"/api/exam/timer/start/{exam.pk}/").json()

    assert started["deadline_at"] == resumed["deadline_at"]
    assert abs(_deadline_at(started) - time.time() - exam.duration_minutes * 60) <= 5
