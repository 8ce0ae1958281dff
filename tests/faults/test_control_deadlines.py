"""A moved deadline everywhere a timer is read or rebuilt: a whole exam extended as its attempts run out,
the expiry worker's restorer and sweep, and the settling that the REST views, sockets and ticker do.
"""

from __future__ import annotations

import collections
import functools
import math
import random
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from attempts import audit, clock, errors, timer
from attempts.models import Attempt
from attempts.services import answer_save, control
from tests.factories import make_exam, make_user
from tests.faults.bulk import bulk_attempts, bulk_users
from tests.faults.load import spread
from tests.faults.racing import (
    TickerVerdicts,
    assert_timed_out_at_new_deadlines,
    assert_timers_follow,
    audit_rows,
    aware,
    wait_all_ended,
)
from tests.helpers import run_threads, sleep_until, wait_for_every_timer, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WAVES = 3  # whole-exam extensions, each of its own exam, at least
# More waves while none has raced both ways yet: on a loaded machine every extension of a run once came after
# all of its exam's deadlines (0 of 300 extended; every outcome was still right).
MAX_WAVES = 6
# exam_extend reads its clock only after holding the 100 deadlines and locking their rows, tens of ms after it
# is called (called at the middle of the spread, 31 of 300 attempts were extended on an idle machine).
EXTEND_AHEAD_SECONDS = 0.03
ATTEMPTS = 100  # per exam
LEAD_SECONDS = 2.0
# The exam's deadlines lie this far around the moment of its extension: the extension's one
# transaction finds some run out, and the worker expires those meanwhile.
SPREAD_SECONDS = 0.1
ANSWERING_THREADS = 6  # students answering meanwhile, each thread for a share of them
EXTENSION_SECONDS = 3
# How far ahead the attempt's old deadline lies when it is extended: the extension must come before it
# also on a loaded machine (0.5 s was once too little: the extension came 131 ms after it and was refused).
OLD_DEADLINE_LEAD = 1.5


def _answering(pairs: list, questions: list, *, start: float, stop: float) -> collections.Counter:
    """Students answering their questions from `start` to `stop` (Unix seconds); saved and refused counts."""
    if (delay := start - time.time()) > 0:
        time.sleep(delay)
    counts = collections.Counter()
    while time.time() < stop:
        for attempt, user in pairs:
            question = random.choice(questions)
            try:
                answer_save(
                    user=user, attempt_id=attempt.pk, question_id=question.pk, selected_option=question.correct_option
                )
                counts["saved"] += 1
            except errors.TimeExpired:
                counts["refused"] += 1
    return counts


def _extend_at(moment: float, **kwargs):
    if (delay := moment - time.time()) > 0:
        time.sleep(delay)
    return control.exam_extend(**kwargs)


@pytest.mark.solo
def test_extending_a_whole_exam_as_its_attempts_run_out_leaves_none_on_a_stale_timer(cluster):
    cluster.start_worker(args=("--sweep-interval", "0.1"))
    proctor = make_user(is_staff=True)
    counts = collections.Counter()
    extended: dict = {}
    waves = 0
    while waves < WAVES or (waves < MAX_WAVES and not (counts["extended"] and counts["timed out"])):
        waves += 1
        exam = make_exam(questions=4)
        users = bulk_users(ATTEMPTS)
        moment = time.time() + LEAD_SECONDS
        deadlines = spread(ATTEMPTS, first=moment - SPREAD_SECONDS / 2, step=SPREAD_SECONDS / ATTEMPTS)
        attempts = bulk_attempts(exam, users, deadline_at=[aware(at) for at in deadlines])
        old = {attempt.pk: attempt.deadline_at for attempt in attempts}
        pairs = list(zip(attempts, users, strict=True))
        questions = list(exam.questions.all())
        answering = [
            functools.partial(
                _answering, pairs[k::ANSWERING_THREADS], questions, start=moment - SPREAD_SECONDS, stop=moment + 0.2
            )
            for k in range(ANSWERING_THREADS)
        ]

        with TickerVerdicts(old) as ticker:
            extended_ids, *answered = run_threads(
                functools.partial(
                    _extend_at, moment - EXTEND_AHEAD_SECONDS, actor=proctor, exam_id=exam.pk, seconds=EXTENSION_SECONDS
                ),
                *answering,
            )
            ids = set(extended_ids)
            wait_all_ended([pk for pk in old if pk not in ids], timeout=10)

        rows = assert_timers_follow(list(old))
        assert ticker.wrong(rows) == {}, "the ticker told sockets an end that did not happen"
        trail = audit_rows(list(old), audit.Kind.TIME_CHANGED)
        for pk, deadline in old.items():
            row = rows[pk]
            if pk in ids:
                assert row.status == Attempt.Status.ONGOING
                assert row.deadline_at == deadline + timedelta(seconds=EXTENSION_SECONDS)
                assert row.change_seconds == EXTENSION_SECONDS and len(trail[pk]) == 1
                extended[pk] = deadline
            else:
                assert (row.status, row.ended_at) == (Attempt.Status.TIMEOUT, deadline) and not trail[pk]
        counts["extended"] += len(ids)
        counts["timed out"] += len(old) - len(ids)
        counts.update(sum(answered, collections.Counter()))

    wait_all_ended(list(extended), timeout=EXTENSION_SECONDS + 15)
    assert_timed_out_at_new_deadlines(extended, EXTENSION_SECONDS)
    print(
        f"\nwhole-exam extension at its deadlines (+-{SPREAD_SECONDS * 500:.0f} ms), {waves} exams of {ATTEMPTS}, "
        f"students answering: {dict(counts)}"
    )
    assert counts["extended"] and counts["timed out"]


def test_the_worker_rebuilds_a_lost_timer_from_the_new_deadline_and_does_not_sweep_at_the_old(cluster):
    cluster.start_worker(args=("--sweep-interval", "0.1", "--restore-interval", "0.2"))
    proctor = make_user(is_staff=True)
    [attempt] = bulk_attempts(make_exam(), bulk_users(1), deadline_at=timezone.now() + timedelta(seconds=1.5))
    old = attempt.deadline_at
    control.attempt_extend(actor=proctor, attempt_id=attempt.pk, seconds=EXTENSION_SECONDS)
    timer.clear(attempt.pk)  # Redis lost it: a flush, a failover to a replica that never had it

    wait_for_every_timer([attempt.pk])

    assert_timers_follow([attempt.pk])  # running out at the new deadline
    # The restore writes the key first and its audit row just after (clock.restore_lost).
    wait_until(lambda: audit_rows([attempt.pk], audit.Kind.TIMER_RESTORED)[attempt.pk], timeout=5, what="the audit row")
    assert [kind for kind, *_ in audit_rows([attempt.pk], audit.Kind.TIMER_RESTORED)[attempt.pk]] == [
        audit.Kind.TIMER_RESTORED
    ]
    sleep_until(old + timedelta(seconds=0.5))  # five sweeps past the old deadline
    assert assert_timers_follow([attempt.pk])[attempt.pk].status == Attempt.Status.ONGOING
    wait_all_ended([attempt.pk], timeout=EXTENSION_SECONDS + 10)
    assert_timed_out_at_new_deadlines({attempt.pk: old}, EXTENSION_SECONDS)


def _extended_and_lost(seconds_ahead: float) -> tuple[Attempt, Attempt]:
    """An attempt extended by EXTENSION_SECONDS whose timer Redis then lost; (its row as read before, now)."""
    proctor, exam, users = make_user(is_staff=True), make_exam(), bulk_users(1)  # before the clock starts
    [attempt] = bulk_attempts(exam, users, deadline_at=timezone.now() + timedelta(seconds=seconds_ahead))
    control.attempt_extend(actor=proctor, attempt_id=attempt.pk, seconds=EXTENSION_SECONDS)
    timer.clear(attempt.pk)
    return attempt, Attempt.objects.select_related("exam").get(pk=attempt.pk)


def test_settling_a_lost_timer_of_an_extended_attempt_restores_it_from_the_new_deadline():
    _, attempt = _extended_and_lost(60)

    seconds = clock.attempt_reconcile(attempt=attempt)

    assert seconds == math.ceil(clock.ms_until(attempt.deadline_at) / 1000)
    assert_timers_follow([attempt.pk])


def test_settling_from_a_row_read_before_the_extension_uses_the_new_deadline():
    # A socket or a request read the attempt, the proctor extended it, then its old deadline passed.
    before, _ = _extended_and_lost(OLD_DEADLINE_LEAD)
    wait_until(lambda: timezone.now() > before.deadline_at, timeout=5, what="the old deadline to pass")

    seconds = clock.attempt_reconcile(attempt=before)

    assert before.status == Attempt.Status.ONGOING
    assert seconds == math.ceil(clock.ms_until(before.deadline_at) / 1000) > EXTENSION_SECONDS - 1
    assert_timers_follow([before.pk])


def test_the_tickers_settle_after_a_moved_deadline_neither_ends_the_attempt_nor_leaves_it_without_a_timer():
    # The ticker cached the old deadline; it passed with the timer missing, so the ticker sees it due.
    before, _ = _extended_and_lost(OLD_DEADLINE_LEAD)
    wait_until(lambda: timezone.now() > before.deadline_at, timeout=5, what="the old deadline to pass")

    assert clock.ends_of_due([before.pk]) == {before.pk: None}, "not decided: its deadline moved ahead"
    settled = clock.attempts_reconcile_many(due_ids=[before.pk], other_ids=[])

    assert settled[before.pk].status == Attempt.Status.ONGOING
    assert settled[before.pk].deadline_at == before.deadline_at + timedelta(seconds=EXTENSION_SECONDS)
    assert_timers_follow([before.pk])
