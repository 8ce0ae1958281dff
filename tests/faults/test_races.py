"""Races against the running stack (three daphne processes, two expiry workers), 100 rounds each, all at once.

Rounds run concurrently: 100 attempts with deadlines 20 ms apart, each raced at its own
deadline, instead of 100 sequential seconds. Within one daphne process Django runs views
on one thread, so the races that matter are between processes: requests go round-robin to
three of them, while two workers (one sweeping every 0.1 s) expire the same attempts.
"""

from __future__ import annotations

import collections
import random
import re
import time
from datetime import UTC, datetime

import pytest

from attempts import timer
from attempts.models import Answer, Attempt
from tests.e2e.servers import subprocess_env
from tests.factories import access_token_for, make_exam
from tests.faults.bulk import answer_first_question_correctly, bulk_attempts, bulk_users
from tests.faults.load import Call, fire, spread
from tests.faults.taps import ProctorTap
from tests.helpers import wait_until

# solo: they time what they see while loading the machine themselves, so they run alone (scripts/test.sh).
pytestmark = [pytest.mark.e2e, pytest.mark.solo, pytest.mark.django_db(transaction=True)]

ROUNDS = 100
STEP_SECONDS = 0.02  # deadlines this far apart: 100 rounds in 2 s
LEAD_SECONDS = 3.0  # time to set everything up before the first deadline
# Each request leaves this far either side of its deadline. A request takes 20-100 ms through
# daphne and Django on this loaded 2-core machine, so a narrower spread lands nearly all after it.
JITTER_SECONDS = 0.15
SIMULTANEOUS_STARTS = 50
START_ROUNDS = 100


@pytest.fixture
def stack(cluster):
    # 50 simultaneous starts of one student are the race under test, far past the start budget (20/60s).
    cluster.env = subprocess_env(RATE_LIMIT_START="off")
    webs = cluster.start_webs(3)
    cluster.start_worker()
    cluster.start_worker(args=("--sweep-interval", "0.1"))
    return cluster, webs


def _jittered(moment: float) -> float:
    return moment + random.uniform(-JITTER_SECONDS, JITTER_SECONDS)


def test_submit_and_expiry_at_the_same_instant_end_each_attempt_once(stack):
    cluster, webs = stack
    exam = make_exam(questions=2, marks=2)
    tap = ProctorTap(exam.pk)
    users = bulk_users(ROUNDS)
    deadlines = spread(ROUNDS, first=time.time() + LEAD_SECONDS, step=STEP_SECONDS)
    attempts = bulk_attempts(exam, users, deadline_at=[_aware(moment) for moment in deadlines])
    answer_first_question_correctly(attempts)
    calls = [
        Call(webs[n % 3], "POST", f"/api/exam/timer/submit/{a.pk}/", access_token_for(u), at=_jittered(deadlines[n]))
        for n, (a, u) in enumerate(zip(attempts, users, strict=True))
    ]

    outcomes = fire(calls)
    tap.drain(until_count=ROUNDS, timeout=15)

    rows = {row["pk"]: row for row in Attempt.objects.filter(exam=exam).values("pk", "status", "score", "ended_at")}
    results = collections.Counter()
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        row = rows[attempt.pk]
        assert outcome.status == 200, outcome.body
        assert outcome.body["status"] in ("submitted", "timeout"), outcome.body
        assert (outcome.body["score"], row["score"]) == (2, 2), "scored once, from the answer saved before"
        if outcome.body["status"] == "submitted":
            assert row["status"] == "completed" and row["ended_at"] < attempt.deadline_at
            assert outcome.sent_at < attempt.deadline_at.timestamp()  # the server saw it before the deadline
        else:
            assert row["status"] == "timeout" and row["ended_at"] == attempt.deadline_at
            assert outcome.received_at >= attempt.deadline_at.timestamp()
        results[outcome.body["status"]] += 1
    ends = collections.Counter((f["attempt_id"], f["type"]) for f in tap.frames if f["type"].startswith("attempt_"))
    expected = {
        (a.pk, "attempt_submitted" if rows[a.pk]["status"] == "completed" else "attempt_timeout"): 1 for a in attempts
    }
    assert ends == expected, "one broadcast per attempt, of the way it ended"
    logged = collections.Counter(re.findall(r"expired attempt=(\d+)", "".join(w.log() for w in cluster.workers)))
    assert all(count == 1 for count in logged.values())
    assert set(map(int, logged)) <= {a.pk for a in attempts if rows[a.pk]["status"] == "timeout"}
    print(
        f"\nsubmit vs expiry, {ROUNDS} attempts at their deadline +-{JITTER_SECONDS * 1000:.0f} ms: {dict(results)}; "
        f"{sum(logged.values())} of the timeouts by a worker, the rest by the submit itself; 1 end event each"
    )


def test_answers_racing_the_deadline_are_accepted_exactly_when_received_before_it(stack):
    _cluster, webs = stack
    exam = make_exam(questions=1, marks=3)
    question = exam.questions.get()
    users = bulk_users(ROUNDS)
    deadlines = spread(ROUNDS, first=time.time() + LEAD_SECONDS, step=STEP_SECONDS)
    attempts = bulk_attempts(exam, users, deadline_at=[_aware(moment) for moment in deadlines])
    calls = [
        Call(
            webs[n % 3],
            "POST",
            "/api/exam/timer/submit-answer/",
            access_token_for(user),
            {"attempt_id": attempt.pk, "question_id": question.pk, "selected_option": question.correct_option},
            at=_jittered(deadlines[n]),
        )
        for n, (attempt, user) in enumerate(zip(attempts, users, strict=True))
    ]

    outcomes = fire(calls)
    ids = [attempt.pk for attempt in attempts]
    _wait_all_ended(ids)

    saved_at = dict(Answer.objects.filter(attempt_id__in=ids).values_list("attempt_id", "saved_at"))
    scores = dict(Attempt.objects.filter(pk__in=ids).values_list("pk", "score"))
    margins = {200: [], 410: []}
    write_lags = []
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        deadline = attempt.deadline_at.timestamp()
        if outcome.status == 200:
            # Accepted: it left before the deadline, and it is stored and counted. (Its `saved_at` is
            # the moment of the write, a few ms after the deadline check made under the row lock.)
            assert attempt.pk in saved_at and scores[attempt.pk] == 3
            assert outcome.sent_at < deadline
            margins[200].append(deadline - outcome.sent_at)
            write_lags.append(saved_at[attempt.pk].timestamp() - deadline)
        else:
            # Refused: the API's 410, no trace, and the server could only have decided after the deadline.
            assert (outcome.status, outcome.body) == (
                410,
                {"error": "Exam time has expired. Cannot submit answers.", "code": "time_expired"},
            )
            assert attempt.pk not in saved_at and scores[attempt.pk] == 0
            assert outcome.received_at >= deadline
            margins[410].append(outcome.sent_at - deadline)
    print(
        f"\nanswers at their deadline +-{JITTER_SECONDS * 1000:.0f} ms: {len(margins[200])} accepted "
        f"(sent as late as {min(margins[200], default=0) * 1000:.1f} ms before the deadline; saved_at up to "
        f"{max(write_lags, default=0) * 1000:.1f} ms after it), {len(margins[410])} refused with 410 "
        f"(sent as early as {-min(margins[410], default=0) * 1000:.1f} ms before the deadline); no grace"
    )
    assert margins[200] and margins[410], "the jitter puts requests on both sides of the deadline"


def test_50_simultaneous_starts_make_one_attempt_and_one_201(stack):
    _cluster, webs = stack
    exam = make_exam(questions=2)
    tap = ProctorTap(exam.pk)
    users = bulk_users(START_ROUNDS)
    # Each student's 50 starts are queued together: they are in flight at once, on three processes.
    calls = [
        Call(webs[n % 3], "POST", f"/api/exam/timer/start/{exam.pk}/", token)
        for token in (access_token_for(user) for user in users)
        for n in range(SIMULTANEOUS_STARTS)
    ]

    began = time.monotonic()

    def burst():
        outcomes = fire(calls)
        return outcomes, time.monotonic() - began

    # Collected while the burst runs (it took 71 s once), and up to 10 s after it on an idle machine.
    outcomes, took = tap.drain_while(burst, until_count=START_ROUNDS, kinds=("attempt_started",), timeout=180)

    attempts = dict(Attempt.objects.filter(exam=exam).values_list("user_id", "pk"))
    assert len(attempts) == START_ROUNDS and Attempt.objects.filter(exam=exam).count() == START_ROUNDS
    for number, user in enumerate(users):
        mine = outcomes[number * SIMULTANEOUS_STARTS : (number + 1) * SIMULTANEOUS_STARTS]
        assert collections.Counter(o.status for o in mine) == {201: 1, 200: SIMULTANEOUS_STARTS - 1}
        assert {o.body["attempt_id"] for o in mine} == {attempts[user.pk]}
        assert all(o.body["message"] == "Resuming existing exam attempt" for o in mine if o.status == 200)
    keys = list(timer.client().scan_iter(match=f"{timer.key_for('')}*", count=1000))
    assert sorted(keys) == sorted(timer.key_for(pk) for pk in attempts.values())
    assert tap.per_attempt(("attempt_started",)) == dict.fromkeys(attempts.values(), 1)
    print(
        f"\n{START_ROUNDS} students x {SIMULTANEOUS_STARTS} simultaneous starts ({len(calls)} requests, "
        f"{took:.1f} s on 3 processes): one attempt, one 201, one timer, one attempt_started each"
    )


def _aware(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, tz=UTC)


def _wait_all_ended(ids: list[int]) -> None:
    wait_until(
        lambda: not Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING).exists(),
        timeout=15,
        what="every attempt to time out",
    )
