"""Starting an attempt, or resuming the one in progress: one ongoing attempt per student and exam."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from attempts import clock, errors, events, timer
from attempts.models import Attempt, Exam, Question
from attempts.selectors import attempt_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartResult:
    attempt: Attempt
    created: bool
    remaining_seconds: int


def attempt_start(*, user, exam_id: int) -> StartResult:
    """Start a new attempt of a published exam, or resume the user's ongoing one."""
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
    except IntegrityError:
        # Another request of the same user won the race for the one ongoing slot.
        ongoing = _ongoing_attempt(user=user, exam=exam)
        if ongoing is None:
            raise
        return _resume(ongoing)
    return StartResult(attempt=attempt, created=True, remaining_seconds=exam.duration_minutes * 60)


def _ongoing_attempt(*, user, exam: Exam) -> Attempt | None:
    return Attempt.objects.select_related("exam").filter(user=user, exam=exam, status=Attempt.Status.ONGOING).first()


def _create_attempt(*, user, exam: Exam) -> Attempt:
    with transaction.atomic():
        now = timezone.now()
        attempt = Attempt.objects.create(
            user=user,
            exam=exam,
            started_at=now,
            deadline_at=now + timedelta(minutes=exam.duration_minutes),
        )
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
        remaining_seconds=attempt.exam.duration_minutes * 60,
        answered=0,
        total_questions=Question.objects.filter(exam_id=attempt.exam_id).count(),
    )
    events.announce([events.AttemptStarted(attempt_id=attempt.pk, exam_id=attempt.exam_id, row=row)])


def _resume(attempt: Attempt) -> StartResult:
    seconds = clock.attempt_reconcile(attempt=attempt)
    if attempt.status != Attempt.Status.ONGOING:
        raise errors.PreviousAttemptTimedOut()
    return StartResult(attempt=attempt, created=False, remaining_seconds=seconds)
