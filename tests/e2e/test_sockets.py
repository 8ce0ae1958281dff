"""Attempt sockets end to end: ticks, submit across processes, refusals; real daphne, real client."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken
from websockets.exceptions import InvalidStatus

from attempts import services
from tests.e2e.clients import attempt_path, open_socket, proctor_path, rest
from tests.factories import access_token_for
from tests.helpers import set_deadline_on_a_half_second

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ticks_once_a_second_with_remaining_falling_by_one(cluster, student, exam):
    (web,) = cluster.start_webs(1)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    set_deadline_on_a_half_second(attempt, 30)
    token = access_token_for(student)

    async def scenario():
        socket = await open_socket(web, attempt_path(attempt.pk), token=token)
        ticks = [await socket.next() for _ in range(5)]
        await socket.close()
        return ticks

    ticks = asyncio.run(scenario())

    assert all(tick.frame["type"] == "tick" and tick.frame["attempt_id"] == attempt.pk for tick in ticks)
    assert all(tick.frame["status"] == "running" for tick in ticks)
    remaining = [tick.frame["remaining_seconds"] for tick in ticks]
    assert 28 <= remaining[0] <= 32
    # The first tick comes on connect, the next on the ticker's whole second: after that, one a second.
    assert [a - b for a, b in itertools.pairwise(remaining[1:])] == [1, 1, 1]
    gaps = [b.at - a.at for a, b in itertools.pairwise(ticks[1:])]
    assert all(0.7 <= gap <= 1.3 for gap in gaps), gaps


def test_rest_submit_closes_the_attempts_sockets_on_both_processes(cluster, student, exam):
    web_a, web_b = cluster.start_webs(2)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)

    async def scenario():
        on_a = await open_socket(web_a, attempt_path(attempt.pk), token=token)
        on_b = await open_socket(web_b, attempt_path(attempt.pk), token=token)
        await on_a.until("tick")
        await on_b.until("tick")
        status, body = await asyncio.to_thread(
            rest, web_a, "POST", f"/api/exam/timer/submit/{attempt.pk}/", token=token
        )
        assert (status, body["status"]) == (200, "submitted"), body
        ends = [await on_a.until("completed"), await on_b.until("completed")]
        return ends, [await on_a.closed(), await on_b.closed()]

    ends, codes = asyncio.run(scenario())

    expected = {
        "type": "completed",
        "attempt_id": attempt.pk,
        "status": "completed",
        "remaining_seconds": 0,
        "message": "Exam already submitted",
    }
    assert [end.frame for end in ends] == [expected, expected]
    assert codes == [1000, 1000]


def _expired_token(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))
    return str(token)


def test_refusals(cluster, student, other_student, exam):
    (web,) = cluster.start_webs(1)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    own, others = access_token_for(student), access_token_for(other_student)
    path = attempt_path(attempt.pk)

    async def close_code(token, socket_path=path):
        socket = await open_socket(web, socket_path, token=token)
        return await socket.closed()

    async def scenario():
        codes = {
            "no token": await close_code(None),
            "garbage token": await close_code("not-a-jwt"),
            "expired token": await close_code(_expired_token(student)),
            "another user's attempt": await close_code(others),
            "unknown attempt": await close_code(own, attempt_path(attempt.pk + 10_000)),
            "proctor socket, not staff": await close_code(own, proctor_path(exam.pk)),
        }
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(web, path, token=own, origin="https://evil.example")
        return codes, refused.value.response.status_code

    codes, foreign_origin_status = asyncio.run(scenario())

    assert codes == {
        "no token": 4401,
        "garbage token": 4401,
        "expired token": 4401,
        "another user's attempt": 4403,
        "unknown attempt": 4404,
        "proctor socket, not staff": 4403,
    }
    assert foreign_origin_status == 403
