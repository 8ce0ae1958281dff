"""Fair share over REST with real daphne processes: one abusive token against five students (issue 15).

The abuser runs in a process of its own (tests/e2e/abuser.py): 50 requests of one token in
flight, as fast as the server answers. The victims poll `remaining` twice a second, first
alone and then beside the abuser, in the same run; their latencies are printed (bench/README.md,
"Fair share") and the test asserts what the server promises: the abuser gets 429s, the victims
are never refused.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings

from attempts import rate_limits, services
from bench.httpclient import HttpConnection
from tests.e2e.clients import rest
from tests.factories import access_token_for, make_user
from tests.helpers import set_deadline, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VICTIMS = 5
POLL_PERIOD = 0.5  # the victims: twice a second
PHASE_SECONDS = 10.0
IN_FLIGHT = 50


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _poll(port: int, token: str, attempt_id: int, seconds: float) -> list[tuple[int, float]]:
    """(status, seconds) of each `remaining` request of one student, one every POLL_PERIOD."""
    connection = HttpConnection(port)
    out = []
    ends = time.monotonic() + seconds
    next_at = time.monotonic()
    try:
        while next_at < ends:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the client's own pace
            began = time.perf_counter()
            status, _ = await connection.request("GET", f"/api/exam/timer/remaining/{attempt_id}/", token=token)
            out.append((status, time.perf_counter() - began))
            next_at += POLL_PERIOD
    finally:
        await connection.close()
    return out


def _victims_poll(port: int, victims: list[tuple[str, int]], seconds: float) -> list[tuple[int, float]]:
    async def run():
        results = await asyncio.gather(*(_poll(port, token, attempt_id, seconds) for token, attempt_id in victims))
        return [item for result in results for item in result]

    return asyncio.run(run())


def _counter_exists(scope: str, user_id) -> bool:
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        return bool(client.exists(rate_limits.key_for(scope, user_id)))
    finally:
        client.close()


def _most_let_through(scope: str) -> int:
    """What a bucket lets one user through over the abuser's run: a bucketful at once, then its steady rate."""
    budget = rate_limits.budget_of(scope)
    # +1: a request sent just before the abuser stops may reach Redis just after its last interval began.
    return budget.requests + math.ceil(budget.requests / budget.seconds * (PHASE_SECONDS + 4)) + 1


def _scenario(cluster, exam, *, method: str, path_of, body_of, scope: str):
    (web,) = cluster.start_webs(1)
    students = [make_user() for _ in range(VICTIMS + 1)]
    attempts = [services.attempt_start(user=student, exam_id=exam.pk).attempt for student in students]
    victims = [(access_token_for(s), a.pk) for s, a in zip(students[1:], attempts[1:], strict=True)]
    abuser, abuser_attempt = students[0], attempts[0]

    alone = _victims_poll(web.port, victims, PHASE_SECONDS)
    body = body_of(abuser_attempt)
    flood = subprocess.Popen(
        [
            sys.executable, "-m", "tests.e2e.abuser", str(web.port), access_token_for(abuser), method,
            path_of(abuser_attempt), json.dumps(body) if body else "-", str(IN_FLIGHT), str(PHASE_SECONDS + 4),
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _counter_exists(scope, abuser.pk), timeout=15, what="the abuser's first request")
        beside = _victims_poll(web.port, victims, PHASE_SECONDS)
        out, _ = flood.communicate(timeout=30)
    finally:
        flood.kill()
    abused = json.loads(out)
    figures = {
        name: (_percentile([s for _, s in run], 0.5) * 1000, _percentile([s for _, s in run], 0.99) * 1000)
        for name, run in (("alone", alone), ("beside", beside))
    }
    print(
        f"\n{scope}: abuser {abused}; victims alone p50/p99 {figures['alone'][0]:.0f}/{figures['alone'][1]:.0f} ms "
        f"({len(alone)} requests), beside the abuser {figures['beside'][0]:.0f}/{figures['beside'][1]:.0f} ms "
        f"({len(beside)} requests)"
    )
    return abused, alone, beside


def test_fifty_in_flight_on_remaining_get_429s_and_five_students_are_never_refused(cluster, exam):
    abused, alone, beside = _scenario(
        cluster,
        exam,
        method="GET",
        path_of=lambda attempt: f"/api/exam/timer/remaining/{attempt.pk}/",
        body_of=lambda attempt: None,
        scope="remaining",
    )
    assert abused.get("429", 0) > 0
    assert abused.get("200", 0) <= _most_let_through("remaining")
    assert {status for status, _ in alone + beside} == {200}


def test_fifty_in_flight_on_submit_answer_get_429s_and_five_students_are_never_refused(cluster, exam):
    question = exam.questions.first()
    abused, alone, beside = _scenario(
        cluster,
        exam,
        method="POST",
        path_of=lambda attempt: "/api/exam/timer/submit-answer/",
        body_of=lambda attempt: {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": "B"},
        scope="answer",
    )
    assert abused.get("429", 0) > 0
    assert abused.get("200", 0) <= _most_let_through("answer")
    assert {status for status, _ in alone + beside} == {200}


def test_budgets_are_shared_by_two_processes_and_a_refused_answer_is_not_stored(cluster, student, exam):
    env = {"RATE_LIMIT_REMAINING": "10/60s", "RATE_LIMIT_ANSWER": "2/60s"}
    web_a, web_b = (cluster.start_web(env=env) for _ in range(2))
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    remaining = f"/api/exam/timer/remaining/{attempt.pk}/"

    statuses = [rest(web, "GET", remaining, token=token)[0] for web in (web_a, web_b) for _ in range(7)]
    assert statuses == [200] * 7 + [200] * 3 + [429] * 4

    question = exam.questions.first()
    saves = [
        rest(web, "POST", "/api/exam/timer/submit-answer/", token=token,
             body={"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": option})
        for web, option in ((web_a, "A"), (web_b, "B"), (web_a, "C"))
    ]  # fmt: skip
    assert [status for status, _ in saves] == [200, 200, 429]
    refusal = saves[2][1]
    assert refusal["code"] == "rate_limited" and "nothing was saved" in refusal["error"]
    assert 1 <= refusal["retry_after"] <= 60
    assert attempt.answers.get(question=question).selected_option == "B"
    # Another student is not touched by this one's budget.
    other = make_user()
    other_attempt = services.attempt_start(user=other, exam_id=exam.pk).attempt
    assert rest(web_b, "GET", f"/api/exam/timer/remaining/{other_attempt.pk}/", token=access_token_for(other))[0] == 200


def test_an_answer_past_its_budget_near_the_deadline_is_saved_not_refused(cluster, student, exam):
    """Refused, its retry after Retry-After would come after the deadline and be refused as late: lost."""
    web = cluster.start_web(env={"RATE_LIMIT_ANSWER": "2/60s"})
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    question = exam.questions.first()

    def save(option: str) -> int:
        body = {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": option}
        return rest(web, "POST", "/api/exam/timer/submit-answer/", token=token, body=body)[0]

    far = [save("A"), save("B"), save("C")]  # the deadline an hour away: the third is refused
    set_deadline(attempt, 20)
    near = [save("D"), save("A")]  # 20 s left: both past the budget, both saved

    print(f"\nanswers past the budget: deadline far {far}, 20 s ahead {near}")
    assert far == [200, 200, 429]
    assert near == [200, 200]
    assert attempt.answers.get(question=question).selected_option == "A"
