"""Starting an attempt, or resuming the one in progress: one ongoing attempt per student and exam.

A new attempt obeys the exam's time rules (`attempts.policy`): its window, its attempt limit
and the student's accommodation; resuming an ongoing attempt is never refused by them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from attempts import audit, clock, errors, events, policy, timer
from attempts.models import Attempt, Exam, Question
from attempts.selectors import allowance_for, attempt_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartResult:
    attempt: Attempt
    created: bool
    remaining_seconds: int


def attempt_start(*, user, exam_id: int) -> StartResult:
    """Start a new attempt of a published exam within its rules, or resume the user's ongoing one."""
    exam = Exam.objects.filter(pk=exam_id).first()
    if exam is None:
        raise errors.NotFound()
    if not exam.is_published:
        raise errors.ExamNotPublished()

    ongoing = _ongoing_attempt(user=user, exam=exam)
    if ongoing is not None:
        return _resume(ongoing)
    try:
        attempt = _create_attempt(user=user, exam=exam)
    except _AlreadyOngoing as found:
        return _resume(found.attempt)
    except IntegrityError:
        # Another request of the same user (or a proctor's reopen) won the one ongoing slot.
        ongoing = _ongoing_attempt(user=user, exam=exam)
        if ongoing is None:
            raise
        return _resume(ongoing)
    return StartResult(attempt=attempt, created=True, remaining_seconds=clock.seconds_to(attempt.deadline_at))


def _ongoing_attempt(*, user, exam: Exam) -> Attempt | None:
    return Attempt.objects.select_related("exam").filter(user=user, exam=exam, status=Attempt.Status.ONGOING).first()


def lock_student_row(user_id: int) -> None:
    """Lock the student's row: what orders their starts and a proctor's reopen of their attempts.

    Two starts then cannot both count the same attempts against `max_attempts`. And the
    one-ongoing-attempt index alone does not order a start against a reopen: each checks it for
    a duplicate under a shared lock and then waits for the other's, and MariaDB kills one as a
    deadlock (error 1213) instead of refusing the second with a duplicate key.
    """
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()


class _AlreadyOngoing(Exception):
    """Under the student's lock an ongoing attempt turned up: resume it, rules or not."""

    def __init__(self, attempt: Attempt):
        super().__init__(attempt.pk)
        self.attempt = attempt


def _create_attempt(*, user, exam: Exam) -> Attempt:
    allowance = allowance_for(user_id=user.pk, exam_id=exam.pk)
    with transaction.atomic():
        lock_student_row(user.pk)
        # Looked for again under the lock: a second start (double click, two tabs) or a reopen that
        # committed meanwhile must be resumed, not counted against max_attempts and refused.
        ongoing = _ongoing_attempt(user=user, exam=exam)
        if ongoing is not None:
            raise _AlreadyOngoing(ongoing)
        now = timezone.now()
        policy.check_can_start(
            now=now,
            opens_at=exam.opens_at,
            closes_at=exam.closes_at,
            max_attempts=exam.max_attempts,
            attempts_started=(
                Attempt.objects.filter(user=user, exam=exam).count() if exam.max_attempts is not None else 0
            ),
            allowance=allowance,
        )
        limit = policy.time_limit_seconds(duration_minutes=exam.duration_minutes, allowance=allowance)
        deadline_at = policy.deadline(started_at=now, limit_seconds=limit, closes_at=exam.closes_at)
        attempt = Attempt.objects.create(
            user=user,
            exam=exam,
            started_at=now,
            deadline_at=deadline_at,
            time_limit_seconds=round((deadline_at - now).total_seconds()),
        )
        audit.record(attempt.pk, audit.Kind.STARTED, time_limit_seconds=attempt.time_limit_seconds)
        try:
            # Inside the transaction: if Redis refuses, the attempt is rolled back with it.
            timer.start(attempt.pk, clock.ms_until(attempt.deadline_at))
        except timer.TimerUnavailable as exc:
            logger.error("timer start failed for attempt %s: %s", attempt.pk, exc)
            raise errors.TimerStartFailed() from exc
        transaction.on_commit(lambda: _announce_started(attempt), robust=True)
    return attempt


def _announce_started(attempt: Attempt) -> None:
    row = attempt_row(
        attempt,
        remaining_seconds=clock.seconds_to(attempt.deadline_at),
        answered=0,
        total_questions=Question.objects.filter(exam_id=attempt.exam_id).count(),
    )
    events.announce([events.AttemptStarted(attempt_id=attempt.pk, exam_id=attempt.exam_id, row=row)])


def _resume(attempt: Attempt) -> StartResult:
    seconds = clock.attempt_reconcile(attempt=attempt)
    if attempt.status != Attempt.Status.ONGOING:
        raise errors.PreviousAttemptTimedOut()
    audit.record(attempt.pk, audit.Kind.RESUMED)
    return StartResult(attempt=attempt, created=False, remaining_seconds=seconds)
