"""AttemptConsumer over the real stack: every frame and close code of the attempt socket."""

from __future__ import annotations

import itertools
import time

import pytest
from channels.db import database_sync_to_async

from attempts import services
from attempts.models import Attempt
from tests.factories import api_client, make_user, start_attempt
from tests.helpers import UNKNOWN_ID, end_frame, set_deadline, set_deadline_on_a_half_second, submit
from tests.wsclient import (
    async_test,
    attempt_path,
    close_code,
    first_output,
    frame_of_type,
    frames_until,
    next_frame,
    next_output,
    open_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

SECOND_TOLERANCE = 0.4  # a tick is "about once a second": the loop's own scheduling, not the assertion's slack


def _status(attempt_id: int) -> str:
    return Attempt.objects.get(pk=attempt_id).status


@async_test
async def test_tick_on_connect_then_once_a_second_with_remaining_falling(attempt, student):
    # 90 s: clear of the exam's warning thresholds (5 and 1 minutes), whose frames would come between ticks.
    left = await database_sync_to_async(set_deadline_on_a_half_second)(attempt, 90)
    comm = await open_socket(attempt_path(attempt.pk), student)
    first = await next_frame(comm)
    assert first["type"] == "tick" and first["attempt_id"] == attempt.pk and first["status"] == "running"
    assert left - 1 <= first["remaining_seconds"] <= left

    ticks = []
    for _ in range(3):
        ticks.append((await frame_of_type(comm, "tick", timeout=2.0), time.monotonic()))
    values = [frame["remaining_seconds"] for frame, _ in ticks]
    assert [earlier - later for earlier, later in itertools.pairwise(values)] == [1, 1], values
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(ticks)]
    assert all(abs(gap - 1.0) < SECOND_TOLERANCE for gap in gaps), gaps
    await comm.disconnect()


@async_test
async def test_submit_through_rest_sends_completed_and_closes_1000(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert (await next_frame(comm))["type"] == "tick"

    response = await database_sync_to_async(_submit_through_rest)(student, attempt.pk)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "submitted"

    assert await frame_of_type(comm, "completed") == end_frame("completed", attempt.pk)
    assert await close_code(comm) == 1000
    await comm.disconnect()


def _submit_through_rest(user, attempt_id: int):
    return submit(api_client(user), attempt_id)


@async_test
async def test_timeout_frame_and_4408_when_the_attempt_expires(attempt, student):
    await database_sync_to_async(set_deadline)(attempt, 1.5)
    deadline = time.monotonic() + 1.5
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert (await next_frame(comm))["remaining_seconds"] in (1, 2)

    await database_sync_to_async(_wait_then_expire)(attempt.pk, deadline)
    assert await frame_of_type(comm, "timeout") == end_frame("timeout", attempt.pk)
    assert await close_code(comm) == 4408
    assert await database_sync_to_async(_status)(attempt.pk) == "timeout"
    await comm.disconnect()


def _wait_then_expire(attempt_id: int, deadline: float) -> None:
    while time.monotonic() < deadline:  # the service refuses to expire an attempt before its deadline
        time.sleep(deadline - time.monotonic())
    services.attempt_expire(attempt_id=attempt_id)  # as the expiry worker would (it may find the ticker first)


@async_test
async def test_ticker_alone_times_out_a_connected_attempt_within_a_second_or_so(attempt, student):
    """No expiry worker runs here: the ticker's safety net expires the attempt when its key is gone."""
    await database_sync_to_async(set_deadline)(attempt, 1.2)
    deadline = time.monotonic() + 1.2
    comm = await open_socket(attempt_path(attempt.pk), student)

    await frame_of_type(comm, "timeout", timeout=4.0)
    late_by = time.monotonic() - deadline
    assert await close_code(comm) == 4408
    assert late_by < 2.0, f"timeout frame {late_by:.2f} s after the deadline"
    assert await database_sync_to_async(_status)(attempt.pk) == "timeout"
    await comm.disconnect()


@async_test
async def test_connecting_to_a_timed_out_attempt_gets_timeout_and_4408(attempt, student):
    await database_sync_to_async(set_deadline)(attempt, -1)  # over, and no worker has noticed yet
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert (await next_frame(comm))["type"] == "timeout"
    assert (await next_output(comm)) == {"close": 4408}
    assert await database_sync_to_async(_status)(attempt.pk) == "timeout"
    await comm.disconnect()

    again = await open_socket(attempt_path(attempt.pk), student)  # and once it is marked in the database
    assert (await next_frame(again))["type"] == "timeout"
    assert (await next_output(again)) == {"close": 4408}
    await again.disconnect()


@async_test
async def test_connecting_to_a_submitted_attempt_gets_completed_and_1000(attempt, student):
    await database_sync_to_async(services.attempt_submit)(user=student, attempt_id=attempt.pk)
    comm = await open_socket(attempt_path(attempt.pk), student)
    assert (await next_frame(comm))["type"] == "completed"
    assert (await next_output(comm)) == {"close": 1000}
    await comm.disconnect()


@async_test
async def test_another_students_attempt_is_refused_with_4403(attempt):
    intruder = await database_sync_to_async(make_user)()
    assert await first_output(attempt_path(attempt.pk), intruder) == {"close": 4403}


@async_test
async def test_unknown_attempt_is_refused_with_4404(student):
    assert await first_output(attempt_path(UNKNOWN_ID), student) == {"close": 4404}


@async_test
async def test_ping_gets_pong_and_sync_gets_an_immediate_tick(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)

    await comm.send_json_to({"type": "ping"})
    assert await frame_of_type(comm, "pong") == {"type": "pong"}

    started = time.monotonic()
    for _ in range(3):
        await comm.send_json_to({"type": "sync"})
    frames = [await next_frame(comm, timeout=0.9) for _ in range(3)]
    # The ticker adds at most one tick in this short window: at least two answer the syncs.
    assert time.monotonic() - started < 0.9
    assert all(f["type"] == "tick" and f["attempt_id"] == attempt.pk for f in frames), frames
    assert all(3590 <= f["remaining_seconds"] <= 3600 for f in frames)
    await comm.disconnect()


UNUSABLE = [
    ("not json", "Frame is not valid JSON."),
    ("[1, 2]", "Frame must be a JSON object."),
    ('"ping"', "Frame must be a JSON object."),
    ("{}", 'Frame needs a string "type".'),
    ('{"type": 7}', 'Frame needs a string "type".'),
    ('{"type": "shout"}', "Unknown frame type 'shout'; expected one of: ping, sync, auth."),
    ('{"type": "auth"}', 'Frame "auth" needs a string "token".'),
]


@async_test
async def test_unusable_frames_get_an_error_frame_and_the_socket_stays_open(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    for text, message in UNUSABLE:
        await comm.send_to(text_data=text)
        assert await frame_of_type(comm, "error") == {"type": "error", "message": message}, text
    await comm.send_to(bytes_data=b'{"type": "ping"}')
    assert (await frame_of_type(comm, "error"))["message"] == "Frames must be JSON text, not binary."

    await comm.send_json_to({"type": "ping"})
    assert (await frame_of_type(comm, "pong"))["type"] == "pong"  # still open
    await comm.disconnect()


@async_test
async def test_a_frame_of_4_kib_is_read_and_one_byte_more_closes_1009(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    shell = '{"type": "ping", "pad": ""}'
    at_limit = shell.replace('""', '"' + "x" * (4096 - len(shell)) + '"')
    assert len(at_limit.encode()) == 4096
    await comm.send_to(text_data=at_limit)
    assert (await frame_of_type(comm, "pong"))["type"] == "pong"

    await comm.send_to(text_data=at_limit.replace('"x', '"xx', 1))
    assert await close_code(comm) == 1009
    await comm.disconnect()


@async_test
async def test_a_flooding_client_is_closed_1008_while_others_keep_ticking(exam, student, attempt):
    calm_student = await database_sync_to_async(make_user)()
    calm_attempt = await database_sync_to_async(start_attempt)(calm_student, exam)
    calm = await open_socket(attempt_path(calm_attempt.pk), calm_student)
    await next_frame(calm)
    flood = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(flood)

    for _ in range(40):
        await flood.send_json_to({"type": "ping"})
    pongs = 0
    while True:
        output = await next_output(flood)
        if "close" in output:
            break
        pongs += output["frame"]["type"] == "pong"
    assert output == {"close": 1008}
    assert pongs == 20  # MAX_FRAMES_PER_SECOND answered, then the close

    assert (await frame_of_type(calm, "tick", timeout=2.0))["attempt_id"] == calm_attempt.pk
    await flood.disconnect()
    await calm.disconnect()


@async_test
async def test_two_sockets_of_one_attempt_both_tick_and_both_close_on_submit(attempt, student):
    first = await open_socket(attempt_path(attempt.pk), student)
    second = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(first)
    await next_frame(second)
    assert (await frame_of_type(first, "tick", timeout=2.0))["attempt_id"] == attempt.pk
    assert (await frame_of_type(second, "tick", timeout=2.0))["attempt_id"] == attempt.pk

    await database_sync_to_async(services.attempt_submit)(user=student, attempt_id=attempt.pk)
    for comm in (first, second):
        assert (await frame_of_type(comm, "completed"))["status"] == "completed"
        assert await close_code(comm) == 1000
        await comm.disconnect()


@async_test
async def test_a_saved_answer_reaches_every_socket_of_the_attempt_and_no_other(exam, attempt, student, other_student):
    """Two tabs of one attempt both hear the choice one of them saved; another student's socket hears nothing."""
    tabs = [await open_socket(attempt_path(attempt.pk), student) for _ in range(2)]
    other = await database_sync_to_async(start_attempt)(other_student, exam)
    elsewhere = await open_socket(attempt_path(other.pk), other_student)
    for comm in (*tabs, elsewhere):
        await next_frame(comm)
    question = await database_sync_to_async(lambda: exam.questions.order_by("id").first())()

    await database_sync_to_async(services.answer_save)(
        user=student, attempt_id=attempt.pk, question_id=question.pk, selected_option="C"
    )
    expected = {"type": "answer_saved", "attempt_id": attempt.pk, "question_id": question.pk, "selected_option": "C"}
    for comm in tabs:
        assert await frame_of_type(comm, "answer_saved", timeout=1.0) == expected
    # Anything sent to the other attempt's socket before its pong came before the pong.
    await elsewhere.send_to(text_data='{"type": "ping"}')
    before_pong = await frames_until(elsewhere, "pong")
    assert "answer_saved" not in [frame["type"] for frame in before_pong]
    for comm in (*tabs, elsewhere):
        await comm.disconnect()
