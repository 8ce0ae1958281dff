"""Reads: attempts as their owner sees them, and the proctor snapshot of an exam."""

from __future__ import annotations

import math
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from attempts import errors, timer
from attempts.models import Answer, Attempt, Exam, Question
from realtime import events

# SPEC: the proctor snapshot shows every attempt that is ongoing or ended within the last hour.
PROCTOR_RECENT_WINDOW = timedelta(hours=1)


def attempt_for_user(*, user, attempt_id: int) -> Attempt:
    """The attempt, if it exists (404) and belongs to `user` (403)."""
    attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
    if attempt is None:
        raise errors.NotFound()
    if attempt.user_id != user.pk:
        raise errors.NotYourAttempt()
    return attempt


def attempt_by_id(*, attempt_id: int) -> Attempt | None:
    """The attempt with its exam, whoever owns it; None when there is none."""
    return Attempt.objects.select_related("exam").filter(pk=attempt_id).first()


def proctor_snapshot(*, exam_id: int) -> dict:
    """The proctor's `snapshot` frame: every attempt of an exam that is ongoing or ended in the last hour.

    Raises NotFound when the exam does not exist.
    """
    exam = Exam.objects.filter(pk=exam_id).only("title").first()
    if exam is None:
        raise errors.NotFound()
    now = timezone.now()
    attempts = list(
        Attempt.objects.filter(exam_id=exam_id)
        .filter(Q(status=Attempt.Status.ONGOING) | Q(ended_at__gte=now - PROCTOR_RECENT_WINDOW))
        .select_related("user")
        .annotate(answered=Count("answers"))
        .order_by("started_at", "pk")
    )
    total_questions = Question.objects.filter(exam_id=exam_id).count()
    ongoing = [a.pk for a in attempts if a.status == Attempt.Status.ONGOING]
    try:
        remaining = timer.remaining_many(ongoing)
    except timer.TimerUnavailable:
        remaining = {}  # the permanent record answers instead, below
    rows = []
    for attempt in attempts:
        seconds = 0
        if attempt.status == Attempt.Status.ONGOING:
            seconds = remaining.get(attempt.pk)
            if seconds is None:  # no key (lost, or Redis down): count down from deadline_at
                seconds = max(0, math.ceil((attempt.deadline_at - now).total_seconds()))
        rows.append(
            events.attempt_row(
                attempt, remaining_seconds=seconds, answered=attempt.answered, total_questions=total_questions
            )
        )
    return events.snapshot_frame(exam_id, rows, exam_title=exam.title)


def questions_of(attempt: Attempt) -> list[Question]:
    """The questions of the attempt's exam, in order."""
    return list(Question.objects.filter(exam_id=attempt.exam_id).order_by("id"))


def saved_answers_of(attempt: Attempt) -> dict[str, str]:
    """The saved choices of an attempt, keyed by question id as a string."""
    rows = Answer.objects.filter(attempt_id=attempt.pk).values_list("question_id", "selected_option")
    return {str(question_id): option for question_id, option in rows}
