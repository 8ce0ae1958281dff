"""Redis unreachable for 10 s mid-exam: no half-made attempt, running attempts go on from deadline_at, nothing lost.

The whole stack uses a private redis-server; the test stops it, works through the outage
over REST, and starts it again on the same port (empty, as a Redis without persistence).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from attempts import services
from attempts.models import Answer, Attempt
from tests.e2e.clients import rest
from tests.factories import access_token_for, make_exam
from tests.faults.bulk import bulk_users
from tests.faults.sockets import AttemptWatcher, tick_error
from tests.helpers import set_deadline, timer_errors, wait_for_every_timer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 10.0  # long enough for every part to notice and to retry several times
RUNNING = 10  # attempts that keep working through the outage
ROUND_SECONDS = 1.0  # each running attempt asks `remaining` and saves an answer this often
DUE_DURING_OUTAGE_AFTER = 4.0  # one attempt's deadline passes this long into the outage
START_FAILED = {
    "error": "Failed to start exam timer. Please try again.",
    "code": "timer_unavailable",
}  # the 500 of a start without Redis
TIMER_BOUND_SECONDS = 1.0


def test_redis_unreachable_for_10_seconds(private_redis, cluster):
    exam = make_exam(questions=4)
    questions = list(exam.questions.order_by("id"))
    (web,) = cluster.start_webs(1)
    cluster.start_workers(1)
    users = bulk_users(RUNNING + 2)
    newcomer, late = users[-2], users[-1]  # starts during the outage / runs out of time during it
    running = [services.attempt_start(user=user, exam_id=exam.pk).attempt for user in users[:RUNNING]]
    for number, attempt in enumerate(running):
        set_deadline(attempt, 60 + 7.3 * number)
    tokens = {user.pk: access_token_for(user) for user in users}
    late_attempt = services.attempt_start(user=late, exam_id=exam.pk).attempt
    services.answer_save(
        user=late, attempt_id=late_attempt.pk, question_id=questions[0].pk, selected_option=questions[0].correct_option
    )
    set_deadline(late_attempt, 2.0 + DUE_DURING_OUTAGE_AFTER)  # the outage starts within 2 s
    deadline_of = {attempt.pk: attempt.deadline_at.timestamp() for attempt in running}
    submitted = running[-1]  # submitted in the middle of the outage

    def call(method, path, user, body=None):
        return rest(web, method, path, token=tokens[user.pk], body=body)

    # --- the outage ------------------------------------------------------------------
    port = private_redis.port
    private_redis.stop()
    down_at = time.time()
    start_status, start_body = call("POST", f"/api/exam/timer/start/{exam.pk}/", newcomer)
    saved: dict[tuple[int, int], str] = {}  # (attempt, question) -> option last saved with 200
    remaining_errors, refusals, rounds, saves = [], [], 0, 0
    submit_status = late_submit = late_remaining = None
    while time.time() < down_at + OUTAGE_SECONDS:
        round_started = time.time()
        for number, attempt in enumerate(running):
            if attempt.pk == submitted.pk and submit_status is not None:
                continue
            user = users[number]
            status, body = call("GET", f"/api/exam/timer/remaining/{attempt.pk}/", user)
            assert (status, body["status"]) == (200, "running"), body
            remaining_errors.append(body["remaining_seconds"] - (deadline_of[attempt.pk] - time.time()))
            question = questions[(rounds + number) % len(questions)]
            option = "ABCD"[(rounds * 3 + number) % 4]
            status, body = call(
                "POST",
                "/api/exam/timer/submit-answer/",
                user,
                {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": option},
            )
            if status == 200:
                saves += 1
                saved[(attempt.pk, question.pk)] = option
            else:
                refusals.append((status, body))
        if submit_status is None and time.time() > down_at + OUTAGE_SECONDS / 2:
            submit_status, submit_body = call("POST", f"/api/exam/timer/submit/{submitted.pk}/", users[RUNNING - 1])
        if late_submit is None and time.time() > late_attempt.deadline_at.timestamp() + 1.5:
            late_remaining = call("GET", f"/api/exam/timer/remaining/{late_attempt.pk}/", late)
            late_submit = call("POST", f"/api/exam/timer/submit/{late_attempt.pk}/", late)
        rounds += 1
        time.sleep(max(0.0, round_started + ROUND_SECONDS - time.time()))
    outage = time.time() - down_at
    private_redis.start(port=port)
    up_at = time.time()

    # --- after it ----------------------------------------------------------------------
    ongoing = [attempt for attempt in running if attempt.pk != submitted.pk]
    ids = [attempt.pk for attempt in ongoing]
    rebuilt_after = wait_for_every_timer(ids, what="every timer to be rebuilt after the outage") - up_at
    errors = list(timer_errors(ids, deadline_of).values())
    first_tick_error, reconnect_seconds = asyncio.run(_one_socket_after(web, ongoing[0], tokens[users[0].pk]))
    stored = {
        (attempt_id, question_id): option
        for attempt_id, question_id, option in Answer.objects.filter(attempt__in=running).values_list(
            "attempt_id", "question_id", "selected_option"
        )
    }
    submitted.refresh_from_db()
    late_attempt.refresh_from_db()

    print(
        f"\nredis down {outage:.1f} s: start -> {start_status}; {rounds} rounds x {RUNNING} attempts: "
        f"{len(remaining_errors)} remaining (error {min(remaining_errors):.2f}..{max(remaining_errors):.2f} s), "
        f"{saves} answers saved ({len(saved)} distinct), {len(refusals)} refused; submit -> {submit_status}; "
        f"due meanwhile -> remaining {late_remaining[1]['status']}, submit {late_submit[1]['status']}; "
        f"timers rebuilt {rebuilt_after:.2f} s after Redis returned, worst |timer - deadline| "
        f"{max(map(abs, errors)) * 1000:.0f} ms; a socket's first tick {reconnect_seconds:.2f} s after, "
        f"error {first_tick_error:.2f} s"
    )
    assert (start_status, start_body) == (500, START_FAILED)
    assert not Attempt.objects.filter(user=newcomer).exists()
    assert refusals == []
    assert all(-0.2 <= error <= 1.2 for error in remaining_errors)
    assert stored == saved, "every answer saved during the outage is in the database, with its last value"
    assert submit_status == 200 and submit_body["status"] == "submitted"
    assert submitted.status == Attempt.Status.COMPLETED and submitted.score == submit_body["score"]
    assert late_remaining == (200, {"status": "timeout", "remaining_seconds": 0, "message": "Exam time has expired"})
    assert late_submit[0] == 200 and (late_submit[1]["status"], late_submit[1]["score"]) == ("timeout", 1)
    assert (late_attempt.status, late_attempt.ended_at) == (Attempt.Status.TIMEOUT, late_attempt.deadline_at)
    assert Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING).count() == len(ids)
    assert max(map(abs, errors)) <= TIMER_BOUND_SECONDS
    assert 0 <= first_tick_error <= 1.3


async def _one_socket_after(web, attempt: Attempt, token: str) -> tuple[float, float]:
    """(tick error, seconds to the first tick) of a socket opened once Redis is back."""
    stop = asyncio.Event()
    watcher = AttemptWatcher(web, attempt.pk, token)
    began = time.time()
    task = asyncio.create_task(watcher.run(stop))
    deadline = time.monotonic() + 10
    while not watcher.ticks and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert watcher.ticks, f"no tick within 10 s; closes {watcher.close_codes}"
    tick = watcher.ticks[0]
    return tick_error(tick, attempt.deadline_at.timestamp()), tick.at - began
