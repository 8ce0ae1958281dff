"""The clock: reads never write; reconciling restores a lost timer before the deadline and expires after it."""

from __future__ import annotations

import pytest

from attempts import clock, timer
from attempts.models import Attempt
from attempts.services import attempt_submit
from tests.factories import start_attempt
from tests.helpers import set_deadline

pytestmark = pytest.mark.django_db


def test_seconds_left_many_reads_a_missing_timer_from_the_deadline_and_writes_nothing(attempt):
    timer.clear(attempt.pk)  # as if Redis had been flushed

    left = clock.seconds_left_many([attempt])

    assert 3590 <= left[attempt.pk] <= 3600
    assert timer.remaining(attempt.pk) is None  # a read restored nothing


def test_seconds_left_many_is_zero_for_an_ended_attempt(attempt, student):
    attempt_submit(user=student, attempt_id=attempt.pk)
    attempt.refresh_from_db()

    assert clock.seconds_left_many([attempt]) == {attempt.pk: 0}


def test_reconcile_restores_a_timer_lost_before_the_deadline(attempt):
    timer.clear(attempt.pk)

    seconds = clock.attempt_reconcile(attempt=attempt)

    assert 3590 <= seconds <= 3600
    assert 3590 <= timer.remaining(attempt.pk) <= 3600
    assert attempt.status == Attempt.Status.ONGOING


def test_reconcile_expires_an_attempt_whose_deadline_passed(attempt):
    set_deadline(attempt, -1)

    assert clock.attempt_reconcile(attempt=attempt) == 0
    assert attempt.status == Attempt.Status.TIMEOUT


def test_a_restore_racing_an_end_leaves_no_stray_timer(attempt, student):
    # Another process read the attempt as ongoing with its timer gone, then the student submitted
    # before that process wrote the timer back: the write must not leave a key behind.
    deadline_at = attempt.deadline_at
    attempt_submit(user=student, attempt_id=attempt.pk)
    timer.clear(attempt.pk)

    assert clock.restore_lost([(attempt.pk, deadline_at)]) == []
    assert timer.remaining(attempt.pk) is None


def test_ends_of_due_tells_decided_ends_from_moved_deadlines(exam, student, other_student):
    due = set_deadline(start_attempt(student, exam), -1)
    moved = start_attempt(other_student, exam)  # its deadline is an hour ahead: not due after all

    assert clock.ends_of_due([due.pk, moved.pk]) == {due.pk: "timeout", moved.pk: None}
