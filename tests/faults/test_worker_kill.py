"""The only expiry worker dies (SIGKILL) while 200 deadlines pass; its successor ends each of them once."""

from __future__ import annotations

import collections
import re
import time

import pytest
from django.utils import timezone

from attempts import timer
from attempts.models import Attempt
from tests.factories import make_exam
from tests.faults.bulk import answer_first_question_correctly, bulk_attempts, bulk_users
from tests.faults.taps import ProctorTap
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 200
DEADLINE_IN_SECONDS = 2.0  # all 200 fall due while the worker is dead
RECOVERY_BOUND_SECONDS = 5.0  # the promise: all 200 timed out and scored within 5 s of the restart


def test_200_deadlines_passed_while_the_only_worker_was_dead_end_once_each_after_restart(cluster):
    exam = make_exam(questions=2)
    tap = ProctorTap(exam.pk)
    (worker,) = cluster.start_workers(1)
    users = bulk_users(ATTEMPTS)
    deadline = timezone.now() + timezone.timedelta(seconds=DEADLINE_IN_SECONDS)
    attempts = bulk_attempts(exam, users, deadline_at=deadline)
    ids = [attempt.pk for attempt in attempts]
    answer_first_question_correctly(attempts[::2])  # half of them score 1, the others 0

    assert worker.kill() == -9
    # Past every deadline, then read every key: Redis deletes the due ones now and announces
    # them to nobody, so the notifications are lost for good and only the database remembers.
    wait_until(lambda: timezone.now() > deadline + timezone.timedelta(seconds=0.3), timeout=10)
    assert all(seconds is None for seconds in timer.remaining_many(ids).values())
    assert Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING).count() == ATTEMPTS

    spawned = time.monotonic()
    successor = cluster.start_worker(name="worker-restarted")
    ready = time.monotonic()
    wait_until(
        lambda: not Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING).exists(),
        timeout=RECOVERY_BOUND_SECONDS + 5,
        interval=0.02,
        what="every attempt to time out after the restart",
    )
    done = time.monotonic()
    tap.drain(until_count=ATTEMPTS, timeout=10)

    print(
        f"\nworker SIGKILLed, {ATTEMPTS} deadlines passed meanwhile: restart -> ready {ready - spawned:.2f} s, "
        f"ready -> all {ATTEMPTS} timed out {max(0.0, done - ready):.2f} s "
        f"(process start -> all done {done - spawned:.2f} s)"
    )
    assert done - ready <= RECOVERY_BOUND_SECONDS
    rows = dict(Attempt.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert collections.Counter(rows.values()) == {Attempt.Status.TIMEOUT: ATTEMPTS}
    scores = dict(Attempt.objects.filter(pk__in=ids).values_list("pk", "score"))
    assert scores == {attempt.pk: (1 if index % 2 == 0 else 0) for index, attempt in enumerate(attempts)}
    assert Attempt.objects.filter(pk__in=ids).exclude(ended_at=deadline).count() == 0
    # Exactly once: one broadcast and one worker log line per attempt, none from the dead worker.
    assert tap.per_attempt(("attempt_timeout",)) == dict.fromkeys(ids, 1)
    assert tap.count(("attempt_submitted",)) == 0
    logged = collections.Counter(
        int(re.search(r"expired attempt=(\d+)", line).group(1)) for line in successor.log_lines(r"expired attempt=")
    )
    assert logged == dict.fromkeys(ids, 1)
    assert worker.log_lines(r"expired attempt=") == []
