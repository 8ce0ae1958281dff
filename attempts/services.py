"""Every state change of an attempt: start, answer, submit, expire.

Transitions out of `ongoing` are conditional UPDATEs (`WHERE status='ongoing'`), so of two
racing callers (submit and expiry, two expiry workers) exactly one wins. Events go out
only after the transaction commits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from attempts import errors, timer
from attempts.models import Answer, Attempt, Exam, Question
from attempts.scoring import results_of, score_of, scores_of
from attempts.selectors import attempt_for_user
from realtime import events

logger = logging.getLogger(__name__)


def _ms_until(moment: datetime) -> int:
    return math.floor((moment - timezone.now()).total_seconds() * 1000)


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
            timer.start(attempt.pk, _ms_until(attempt.deadline_at))
        except timer.TimerUnavailable as exc:
            logger.error("timer start failed for attempt %s: %s", attempt.pk, exc)
            raise errors.TimerStartFailed() from exc
        transaction.on_commit(lambda: events.attempt_started(attempt), robust=True)
    return attempt


def _resume(attempt: Attempt) -> StartResult:
    seconds = attempt_time_left(attempt=attempt)
    if attempt.status != Attempt.Status.ONGOING:
        raise errors.PreviousAttemptTimedOut()
    return StartResult(attempt=attempt, created=False, remaining_seconds=seconds)


def attempt_time_left(*, attempt: Attempt) -> int:
    """Seconds left of an attempt from its Redis timer; expires it when due, restores a lost timer.

    Updates `attempt.status` when the attempt turns out to be over. While Redis is unreachable
    the answer comes from `deadline_at`, the permanent record.
    """
    if attempt.status != Attempt.Status.ONGOING:
        return 0
    left_ms = _ms_until(attempt.deadline_at)
    if left_ms <= 0:
        attempt_expire(attempt_id=attempt.pk)
        attempt.refresh_from_db()
        return 0
    try:
        seconds = timer.remaining(attempt.pk)
        if seconds is None:
            # The key vanished before the deadline: Redis restarted or was flushed. The
            # student loses nothing; the timer comes back with the time that is left.
            timer.restore(attempt.pk, left_ms)
            logger.warning("timer of attempt %s was lost; restored with %d ms", attempt.pk, left_ms)
            seconds = math.ceil(left_ms / 1000)
    except timer.TimerUnavailable:
        seconds = math.ceil(left_ms / 1000)
    return seconds


def _lock_attempt_row(attempt_id: int) -> None:
    """Lock the attempt's row through its primary key, first thing in every transition.

    A conditional UPDATE alone may reach the row through the (status, deadline_at) index and
    then wait for the primary key that another transition holds while it waits for that index
    entry: MySQL/MariaDB then kills one of them with a deadlock (error 1213). One lock order, none.
    """
    Attempt.objects.select_for_update().filter(pk=attempt_id).values_list("pk", flat=True).first()


def attempt_expire(*, attempt_id: int) -> bool:
    """Mark a due attempt timed out and score it; True only for the one caller that did it."""
    return bool(attempts_expire_many(attempt_ids=[attempt_id]))


def attempts_expire_many(*, attempt_ids: list[int]) -> list[int]:
    """Time out and score the due attempts among `attempt_ids` in one transaction; the ids this caller ended.

    A mass timeout (a whole exam sharing one deadline) cost a dozen round trips per attempt
    one by one; here it is a handful per batch (bench/README.md, "shared deadline").
    """
    ids = sorted(set(attempt_ids))
    if not ids:
        return []
    with transaction.atomic():
        # Rows locked through the primary key in key order, as `_lock_attempt_row` does for
        # one: batches, submits and answers then never wait for each other in a cycle.
        rows = Attempt.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        now = timezone.now()
        due = [
            pk
            for pk, status, deadline_at in rows.values_list("pk", "status", "deadline_at")
            if status == Attempt.Status.ONGOING and deadline_at <= now
        ]
        if not due:
            return []
        Attempt.objects.filter(pk__in=due, status=Attempt.Status.ONGOING).update(
            status=Attempt.Status.TIMEOUT, ongoing_guard=None, ended_at=F("deadline_at")
        )
        # Answers take the row lock and check the deadline under it, so every answer in the
        # table now was received before the deadline.
        by_score: dict[int, list[int]] = {}
        for attempt_id, score in scores_of(due).items():
            by_score.setdefault(score, []).append(attempt_id)
        for score, same in by_score.items():
            Attempt.objects.filter(pk__in=same).update(score=score)
        transaction.on_commit(_end_announcement(due), robust=True)
    return due


def _end_announcement(attempt_ids: list[int]) -> Callable[[], None]:
    """Read, inside the transaction, what the end of these attempts announces; the sender to run after commit.

    Reading before the commit means a database that fails right after it cannot cost the broadcast.
    """
    attempts = list(Attempt.objects.select_related("exam", "user").filter(pk__in=attempt_ids))
    messages = events.end_messages(attempts, results_of(attempts))

    def announce() -> None:
        try:
            timer.clear_many(attempt_ids)
        except timer.TimerUnavailable:
            pass  # The keys expire by themselves; their events find the attempts already over.
        events.publish(messages)

    return announce


@dataclass(frozen=True)
class SubmitResult:
    attempt: Attempt
    outcome: str  # "submitted", "timeout" or "already_completed"


def attempt_submit(*, user, attempt_id: int, received_at: datetime | None = None) -> SubmitResult:
    """Submit and score an attempt received (`received_at`, default now) before its deadline.

    An attempt whose time ran out first is reported as timed out.
    """
    attempt = attempt_for_user(user=user, attempt_id=attempt_id)
    submitted = False
    if attempt.status == Attempt.Status.ONGOING:
        with transaction.atomic():
            _lock_attempt_row(attempt.pk)
            moment = received_at or timezone.now()
            submitted = bool(
                Attempt.objects.filter(pk=attempt.pk, status=Attempt.Status.ONGOING, deadline_at__gt=moment).update(
                    status=Attempt.Status.COMPLETED, ongoing_guard=None, ended_at=moment
                )
            )
            if submitted:
                Attempt.objects.filter(pk=attempt.pk).update(score=score_of(attempt.pk))
                transaction.on_commit(_end_announcement([attempt.pk]), robust=True)
        if not submitted:
            attempt_expire(attempt_id=attempt.pk)
        attempt.refresh_from_db()
    if submitted:
        return SubmitResult(attempt=attempt, outcome="submitted")
    if attempt.status == Attempt.Status.TIMEOUT:
        return SubmitResult(attempt=attempt, outcome="timeout")
    return SubmitResult(attempt=attempt, outcome="already_completed")


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    created: bool


def answer_save(
    *, user, attempt_id: int, question_id: int, selected_option: str, received_at: datetime | None = None
) -> AnswerResult:
    """Save or change one answer, accepted only if received (`received_at`, default now) before the deadline."""
    attempt = attempt_for_user(user=user, attempt_id=attempt_id)
    question = Question.objects.filter(pk=question_id).first()
    if question is None:
        raise errors.NotFound()
    try:
        return _answer_save_locked(
            attempt_id=attempt.pk,
            question=question,
            selected_option=selected_option,
            received_at=received_at or timezone.now(),
        )
    except errors.TimeExpired:
        attempt_expire(attempt_id=attempt.pk)
        raise


def _answer_save_locked(
    *, attempt_id: int, question: Question, selected_option: str, received_at: datetime
) -> AnswerResult:
    with transaction.atomic():
        # The row lock orders this answer against expiry and submit: whichever comes
        # second sees what the first did.
        attempt = Attempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status == Attempt.Status.COMPLETED:
            raise errors.AttemptAlreadySubmitted()
        if attempt.status == Attempt.Status.TIMEOUT or received_at >= attempt.deadline_at:
            raise errors.TimeExpired()
        if question.exam_id != attempt.exam_id:
            raise errors.QuestionNotInExam()
        answer, created = Answer.objects.update_or_create(
            attempt=attempt,
            question=question,
            defaults={"selected_option": selected_option},
        )
        answered = Answer.objects.filter(attempt=attempt).count()
        transaction.on_commit(lambda: events.answer_saved(attempt, answered=answered), robust=True)
    return AnswerResult(answer=answer, created=created)
