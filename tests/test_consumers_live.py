"""The attempt socket under the live controls: time_changed, warnings, a proctor's end, a reopened attempt.

The in-process stack of tests/test_consumers.py; the control services are called as the staff
API calls them. Across real daphne processes: tests/e2e/test_live_control.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from attempts.models import Attempt
from attempts.services import control
from attempts.services.answer import answer_save
from realtime.groups import attempt_group
from realtime.outbox import outbox
from tests.helpers import set_deadline_on_a_half_second
from tests.redis_server import unreachable_redis
from tests.wsclient import (
    async_test,
    attempt_path,
    close_code,
    frame_of_type,
    frames_until,
    next_frame,
    next_output,
    open_socket,
    proctor_path,
)

pytestmark = pytest.mark.django_db(transaction=True)

OUTBOX_SECONDS = 5.0  # events leave in milliseconds; this bounds a failure


def _warning(attempt_id: int, minutes: int, remaining_seconds: int, message: str) -> dict:
    return {
        "type": "warning",
        "attempt_id": attempt_id,
        "remaining_seconds": remaining_seconds,
        "minutes_left": minutes,
        "message": message,
    }


def _types(frames: list[dict]) -> list[str]:
    return [frame["type"] for frame in frames]


@async_test
async def test_an_extension_sends_time_changed_and_the_ticks_follow_the_new_ttl(attempt, student, proctor):
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 120)
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert left - 1 <= (await next_frame(comm))["remaining_seconds"] <= left

    change = await database_sync_to_async(control.attempt_extend)(
        actor=proctor, attempt_id=attempt.pk, seconds=600, reason="fire alarm"
    )
    frame = await frame_of_type(comm, "time_changed", timeout=1.0)
    deadline_at = change.attempt.deadline_at
    assert frame == {
        "type": "time_changed",
        "attempt_id": attempt.pk,
        "remaining_seconds": frame["remaining_seconds"],
        "deadline_at": deadline_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "change_seconds": 600,
        "reason": "fire alarm",
    }
    assert left + 600 - 2 <= frame["remaining_seconds"] <= left + 600
    tick = await frame_of_type(comm, "tick", timeout=2.0)
    assert frame["remaining_seconds"] - 1 <= tick["remaining_seconds"] <= frame["remaining_seconds"]
    assert tick["deadline_at"][:19] == frame["deadline_at"][:19]  # the ticker read the moved TTL
    await comm.disconnect()


@async_test
async def test_with_redis_unreachable_the_ticks_follow_the_extension_from_the_cached_deadline(
    attempt, student, proctor, settings
):
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert 3590 <= (await next_frame(comm))["remaining_seconds"] <= 3600
    with unreachable_redis(settings):
        await frame_of_type(comm, "tick", timeout=2.0)  # ticking from the cached deadline now
        await database_sync_to_async(control.attempt_extend)(actor=proctor, attempt_id=attempt.pk, seconds=900)
        changed = await frame_of_type(comm, "time_changed", timeout=1.0)
        tick = await frame_of_type(comm, "tick", timeout=2.0)
    assert 4490 <= changed["remaining_seconds"] <= 4500
    # The new deadline, not the old one (~900 s less): the frame's seconds were counted when the
    # extension committed, and a loaded machine once took over a second to deliver it.
    assert changed["remaining_seconds"] - 2 <= tick["remaining_seconds"] <= changed["remaining_seconds"]
    await comm.disconnect()


@async_test
async def test_the_one_minute_warning_comes_once_on_crossing_and_again_after_an_extension(attempt, student, proctor):
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 62)
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert left - 1 <= (await next_frame(comm))["remaining_seconds"] <= left

    before = await frames_until(comm, "warning", timeout=left - 60 + 2.0)
    # Sent right after the tick of the pass that crossed 60 s, with that tick's seconds.
    assert before[-1] == _warning(attempt.pk, 1, 60, "1 minute left")
    assert (before[-2]["type"], before[-2]["remaining_seconds"]) == ("tick", 60)
    assert _types(before[:-1]) == ["tick"] * (len(before) - 1)
    after = [await next_frame(comm, timeout=2.0) for _ in range(2)]
    assert _types(after) == ["tick", "tick"]  # once: not again on 59, 58

    await database_sync_to_async(control.attempt_extend)(actor=proctor, attempt_id=attempt.pk, seconds=5)
    await frame_of_type(comm, "time_changed", timeout=1.0)  # 58 + 5: above the minute again
    again = await frames_until(comm, "warning", timeout=6.0)
    assert again[-1] == _warning(attempt.pk, 1, 60, "1 minute left")
    assert (again[-2]["type"], again[-2]["remaining_seconds"]) == ("tick", 60)
    assert _types(again[:-1]) == ["tick"] * (len(again) - 1)  # and no 5-minute warning at any point
    await comm.disconnect()


@async_test
async def test_the_five_minute_warning_reaches_every_socket_of_the_attempt_once(attempt, student):
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 301)
    sockets = [await open_socket(attempt_path(attempt.pk), student) for _ in range(2)]
    for comm in sockets:
        assert (await next_frame(comm))["remaining_seconds"] in (left, left - 1)
    for comm in sockets:
        frames = await frames_until(comm, "warning", timeout=left - 300 + 2.0)
        assert frames[-1] == _warning(attempt.pk, 5, 300, "5 minutes left")
        assert (await next_frame(comm, timeout=2.0))["type"] == "tick"  # once: not again on 299
        await comm.disconnect()


@async_test
async def test_the_exams_own_warning_minutes_and_none_for_a_socket_that_connects_below(attempt, student):
    await database_sync_to_async(type(attempt.exam).objects.filter(pk=attempt.exam_id).update)(warning_minutes=[2])
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 121)
    early = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(early)
    frames = await frames_until(early, "warning", timeout=left - 120 + 2.0)
    assert frames[-1] == _warning(attempt.pk, 2, 120, "2 minutes left")

    late = await open_socket(attempt_path(attempt.pk), student)  # at 120 or below: already past the threshold
    assert (await next_frame(late))["remaining_seconds"] <= 120
    assert _types([await next_frame(late, timeout=2.0) for _ in range(2)]) == ["tick", "tick"]
    await early.disconnect()
    await late.disconnect()


@async_test
async def test_warnings_come_while_redis_is_unreachable(attempt, student, settings):
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 62)
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    with unreachable_redis(settings):
        frames = await frames_until(comm, "warning", timeout=left - 60 + 2.0)
    assert frames[-1] == _warning(attempt.pk, 1, 60, "1 minute left")
    await comm.disconnect()


@async_test
async def test_a_proctors_end_closes_every_socket_1000_with_its_message_and_tells_the_dashboard_who(
    attempt, student, proctor
):
    dashboard = await open_socket(proctor_path(attempt.exam_id), proctor)
    assert (await next_frame(dashboard))["type"] == "snapshot"
    sockets = [await open_socket(attempt_path(attempt.pk), student) for _ in range(2)]
    for comm in sockets:
        await next_frame(comm)

    await database_sync_to_async(control.attempt_end)(actor=proctor, attempt_id=attempt.pk, reason="phone out")
    expected = {
        "type": "completed",
        "attempt_id": attempt.pk,
        "status": "completed",
        "remaining_seconds": 0,
        "message": "Exam ended by the proctor",
    }
    for comm in sockets:
        assert await frame_of_type(comm, "completed", timeout=1.0) == expected
        assert await close_code(comm) == 1000
        await comm.disconnect()
    frame = await frame_of_type(dashboard, "attempt_submitted", timeout=1.0)
    assert (frame["attempt_id"], frame["status"], frame["score"]) == (attempt.pk, "completed", 0)
    assert frame["by"] == {"id": proctor.pk, "username": proctor.username}

    again = await open_socket(attempt_path(attempt.pk), student)  # a reload says the same
    assert await next_frame(again) == expected
    assert await next_output(again) == {"close": 1000}
    await again.disconnect()
    await dashboard.disconnect()


@async_test
async def test_a_reopened_attempt_ticks_again_and_the_dashboard_gets_its_row(attempt, student, proctor):
    await database_sync_to_async(control.attempt_end)(actor=proctor, attempt_id=attempt.pk)
    # The end's events are out before the dashboard connects (they leave through the outbox just after
    # the commit): its snapshot then shows the ended row, and the next frame is the reopen's.
    assert await asyncio.to_thread(outbox().drain, OUTBOX_SECONDS)
    dashboard = await open_socket(proctor_path(attempt.exam_id), proctor)
    assert (await next_frame(dashboard))["type"] == "snapshot"

    await database_sync_to_async(control.attempt_reopen)(
        actor=proctor, attempt_id=attempt.pk, seconds=120, reason="laptop died"
    )
    row = await frame_of_type(dashboard, "attempt_reopened", timeout=1.0)
    assert (row["attempt_id"], row["status"], row["remaining_seconds"]) == (attempt.pk, "ongoing", 120)
    assert row["user"] == {"id": student.pk, "username": student.username}
    assert row["by"] == {"id": proctor.pk, "username": proctor.username}
    assert row["score"] is None

    comm = await open_socket(attempt_path(attempt.pk), student)
    first = await next_frame(comm)
    assert (first["type"], first["status"]) == ("tick", "running")
    assert 118 <= first["remaining_seconds"] <= 120
    second = await frame_of_type(comm, "tick", timeout=2.0)
    assert second["remaining_seconds"] <= first["remaining_seconds"]
    assert await database_sync_to_async(lambda: Attempt.objects.get(pk=attempt.pk).status)() == "ongoing"
    await comm.disconnect()
    await dashboard.disconnect()


async def _frames_for(comm, seconds: float) -> list[dict]:
    """Every frame the socket gets in the next `seconds` (a receive that times out would end the consumer)."""
    received, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not await comm.receive_nothing(min(0.05, left)):
            received.append(await next_frame(comm))
    return received


@async_test
async def test_what_the_layer_lost_with_the_group_is_sent_again_once_it_is_joined_again(attempt, student, proctor):
    """Published after the group was lost and before the re-join: the announcement and the saved choice
    come from the database after it (`on_rejoined`), not never."""
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    layer = get_channel_layer()
    redis_client = layer.connection(0)
    # The group alone first (no re-join is due yet): what is published now is lost for sure.
    await redis_client.delete(layer._group_key(attempt_group(attempt.pk)))
    posted = await database_sync_to_async(control.announcement_post)(
        actor=proctor, exam_id=attempt.exam_id, message="Calculators allowed"
    )
    question = await database_sync_to_async(lambda: attempt.exam.questions.order_by("pk").first())()
    await database_sync_to_async(answer_save)(
        user=student, attempt_id=attempt.pk, question_id=question.pk, selected_option="C"
    )
    assert await database_sync_to_async(outbox().drain)(OUTBOX_SECONDS)
    lost = [frame["type"] for frame in await _frames_for(comm, 0.5)]
    assert set(lost) <= {"tick", "presence"}, lost  # neither came: both were lost with the group

    await redis_client.delete(f"{layer.prefix}:layer-epoch")  # now the loss shows, as after an empty restart
    announcement = await frame_of_type(comm, "announcement", timeout=3.0)
    choice = await frame_of_type(comm, "answer_saved", timeout=1.0)
    assert (announcement["id"], announcement["message"]) == (posted.pk, "Calculators allowed")
    assert (choice["question_id"], choice["selected_option"]) == (question.pk, "C")
    await comm.disconnect()
