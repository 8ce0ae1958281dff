"""Socket caps and the refusal throttle across real daphne processes (attempts/socket_caps.py, docs/websocket.md)."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings

from attempts import services, socket_caps, timer
from realtime import protocol
from tests.e2e.clients import attempt_path, open_socket, proctor_path
from tests.factories import access_token_for, make_exam, make_user
from tests.wsclient import expired_token

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIMIT = settings.SOCKETS_PER_ATTEMPT  # its default, which the servers run with


async def _ticking(socket, ticks: int = 2) -> None:
    for _ in range(ticks):
        await socket.until("tick")


async def _refused(socket) -> dict:
    """The `refused` frame of a socket closed 4429 (fails on anything else)."""
    first = await socket.next()
    assert first.frame is not None and first.frame["type"] == "refused", socket.received
    assert await socket.closed() == protocol.CLOSE_TOO_MANY
    return first.frame


def test_one_attempt_over_two_processes_gets_its_limit_of_sockets_the_next_is_refused_and_a_closed_one_frees_a_place(
    cluster, student, exam
):
    web_a, web_b = cluster.start_webs(2)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    path = attempt_path(attempt.pk)

    async def scenario():
        first = [await open_socket(web, path, token=token) for web in ((web_a, web_b) * LIMIT)[:LIMIT]]
        for socket in first:
            await socket.until("tick")
        extra = await open_socket(web_b, path, token=token)
        refused = await _refused(extra)
        for socket in first:  # the first ones keep ticking
            await _ticking(socket)
        await first[0].close()
        # The release reaches Redis after the close; a new one is in as soon as it has.
        deadline = time.monotonic() + 5
        while True:
            again = await open_socket(web_b, path, token=token)
            item = await again.next()
            if item.frame is not None and item.frame["type"] == "tick":
                break
            assert time.monotonic() < deadline, f"no place freed within 5 s: {again.received}"
        await _ticking(again)
        for socket in (*first[1:], again):
            await socket.close()
        return refused

    refused = asyncio.run(scenario())
    assert refused["reason"] == "too_many_sockets" and refused["retry_after"] > 0
    assert refused["message"] == "Too many connections for this attempt."


def test_the_sockets_of_a_killed_process_stop_counting(cluster, student, exam):
    """A daphne SIGKILLed with the attempt's limit of sockets: within ~2 s of its last heartbeat the student gets in."""
    web_a, web_b = cluster.start_webs(2)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    path = attempt_path(attempt.pk)

    async def scenario():
        held = [await open_socket(web_a, path, token=token) for _ in range(LIMIT)]
        for socket in held:
            await socket.until("tick")
        await _refused(await open_socket(web_b, path, token=token))
        web_a.kill()
        killed_at = time.monotonic()
        while True:
            socket = await open_socket(web_b, path, token=token)
            item = await socket.next()
            if item.frame is not None and item.frame["type"] == "tick":
                await socket.close()
                return time.monotonic() - killed_at
            assert time.monotonic() - killed_at < 6, f"still refused 6 s after the kill: {socket.received}"
            await asyncio.sleep(0.2)  # a client's pace between tries, not a wait for the server

    waited = asyncio.run(scenario())
    print(f"\nfirst socket admitted {waited:.2f} s after the SIGKILL of the process holding {LIMIT}")
    assert waited < 4


def test_a_count_a_lost_release_or_a_failover_left_off_is_put_right_by_the_live_process_within_seconds(
    cluster, student, exam
):
    """On a live daphne holding 3 sockets of an attempt: its entry lost (a failover that lost the admits) is written
    again; raised by one (a release that never reached Redis, or an admit counted whose reply was lost), which
    refuses the 4th socket, the student gets in again within a few seconds, without a restart."""
    (web,) = cluster.start_webs(1)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    path = attempt_path(attempt.pk)
    key = socket_caps.student_caps(attempt_id=attempt.pk, user_id=student.pk)[0][0]
    redis = timer.client()

    async def until_entry(process: str, count: int) -> float:
        started = time.monotonic()
        while redis.hget(key, process) != str(count):
            assert time.monotonic() - started < 6, f"entry {redis.hget(key, process)}, not {count}, after 6 s"
            await asyncio.sleep(0.05)  # polling Redis for the condition, with a deadline
        return time.monotonic() - started

    async def scenario():
        held = [await open_socket(web, path, token=token) for _ in range(LIMIT - 1)]
        for socket in held:
            await socket.until("tick")
        (process,) = redis.hgetall(key)
        await until_entry(process, LIMIT - 1)
        redis.hdel(key, process)
        rewritten = await until_entry(process, LIMIT - 1)
        redis.hincrby(key, process, 1)  # the lost release: the entry says LIMIT, the process holds LIMIT - 1
        raised_at, refusals = time.monotonic(), 0
        while True:
            socket = await open_socket(web, path, token=token)
            item = await socket.next()
            if item.frame is not None and item.frame["type"] == "tick":
                break
            assert item.frame is not None and item.frame["reason"] == "too_many_sockets", socket.received
            refusals += 1
            assert time.monotonic() - raised_at < 6, f"still refused 6 s after the lost release: {socket.received}"
            await asyncio.sleep(0.2)  # a client's pace between tries, not a wait for the server
        admitted_after = time.monotonic() - raised_at
        await until_entry(process, LIMIT)  # and the socket let in is counted
        for each in (*held, socket):
            await each.close()
        return rewritten, refusals, admitted_after

    rewritten, refusals, admitted_after = asyncio.run(scenario())
    print(
        f"\nentry lost: written again in {rewritten:.2f} s; raised by one: {refusals} refused, "
        f"the next admitted {admitted_after:.2f} s after"
    )
    assert admitted_after < 5


def test_a_student_has_at_most_six_sockets_over_all_attempts_and_a_proctor_ten(cluster, student, proctor):
    (web,) = cluster.start_webs(1)
    exams = [make_exam(questions=1, duration_minutes=30) for _ in range(3)]
    attempts = [services.attempt_start(user=student, exam_id=exam.pk).attempt for exam in exams]
    token = access_token_for(student)
    staff_token = access_token_for(proctor)

    async def scenario():
        sockets = []
        for attempt in attempts[:2]:
            for _ in range(3):
                sockets.append(await open_socket(web, attempt_path(attempt.pk), token=token))
                await sockets[-1].until("tick")
        refused = await _refused(await open_socket(web, attempt_path(attempts[2].pk), token=token))
        boards = []
        for _ in range(10):
            boards.append(await open_socket(web, proctor_path(exams[0].pk), token=staff_token))
            await boards[-1].until("snapshot")
        board_refused = await _refused(await open_socket(web, proctor_path(exams[1].pk), token=staff_token))
        for socket in sockets + boards:
            await socket.close()
        return refused, board_refused

    refused, board_refused = asyncio.run(scenario())
    assert refused["reason"] == board_refused["reason"] == "too_many_sockets"


def test_an_address_that_keeps_failing_is_refused_until_its_window_ends(cluster, student, attempt):
    """5 refused connects that suggest a guesser (forged token, another's attempt, no attempt) from one address:
    the 6th, good, gets 4429. A connect without a token is refused 4401 but does not count."""
    web = cluster.start_web(env={"SOCKET_REFUSAL_RATE": "5/60s"})
    intruder = make_user()
    good, wrong = access_token_for(student), access_token_for(intruder)

    async def scenario():
        codes = []
        for path, token in [
            (attempt_path(attempt.pk), "garbage"),
            (attempt_path(attempt.pk), None),
            (attempt_path(attempt.pk), wrong),
            (attempt_path(10**9), good),
            (attempt_path(attempt.pk), wrong),
            (attempt_path(attempt.pk), _forged(good)),
        ]:
            codes.append(await (await open_socket(web, path, token=token)).closed())
        refused = await _refused(await open_socket(web, attempt_path(attempt.pk), token=good))
        return codes, refused

    codes, refused = asyncio.run(scenario())
    assert codes == [4401, 4401, 4403, 4404, 4403, 4401]
    assert refused["reason"] == "too_many_refusals" and 1 <= refused["retry_after"] <= 60


def test_expired_tokens_from_one_address_do_not_get_it_refused_forged_ones_do(cluster, student, attempt):
    """An exam hall behind one NAT back after an outage: 3 times the rate of expired-token connects, each 4401, and the
    next good connect ticks. Then the rate of forged-signature connects: the next good one gets 4429."""
    rate = 5
    web = cluster.start_web(env={"SOCKET_REFUSAL_RATE": f"{rate}/60s"})
    good = access_token_for(student)
    path = attempt_path(attempt.pk)

    async def scenario():
        expired = [await (await open_socket(web, path, token=expired_token(student))).closed() for _ in range(3 * rate)]
        admitted = await open_socket(web, path, token=good)
        await admitted.until("tick")
        await admitted.close()
        forged = [await (await open_socket(web, path, token=_forged(good))).closed() for _ in range(rate)]
        refused = await _refused(await open_socket(web, path, token=good))
        return expired, forged, refused

    expired, forged, refused = asyncio.run(scenario())
    assert expired == [protocol.CLOSE_UNAUTHENTICATED] * (3 * rate)
    assert forged == [protocol.CLOSE_UNAUTHENTICATED] * rate
    assert refused["reason"] == "too_many_refusals"


def _forged(token: str) -> str:
    """`token` with a signature we did not make."""
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
