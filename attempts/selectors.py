"""Reads: attempts as their owner sees them, and the proctor's rows of an exam."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from attempts import errors
from attempts.models import Answer, Attempt, Exam, Question

# The proctor table shows every attempt that is ongoing or ended within the last hour.
PROCTOR_RECENT_WINDOW = timedelta(hours=1)


def attempt_for_user(*, user, attempt_id: int) -> Attempt:
    """The attempt, if it exists (404) and belongs to `user` (403)."""
    attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
    if attempt is None:
        raise errors.NotFound()
    if attempt.user_id != user.pk:
        raise errors.NotYourAttempt()
    return attempt


def attempt_row(attempt: Attempt, *, remaining_seconds: int, answered: int, total_questions: int) -> dict:
    """One attempt as the proctor table shows it (snapshot row, `attempt_started`)."""
    return {
        "attempt_id": attempt.pk,
        "user": {"id": attempt.user_id, "username": attempt.user.username},
        "status": attempt.status,
        "remaining_seconds": remaining_seconds,
        "answered": answered,
        "total_questions": total_questions,
        "started_at": attempt.started_at.isoformat(),
        "deadline_at": attempt.deadline_at.isoformat(),
        "score": attempt.score,
    }


@dataclass(frozen=True)
class ProctorView:
    exam_id: int
    exam_title: str
    rows: list[dict]


def proctor_view(*, exam_id: int) -> ProctorView:
    """Every attempt of an exam that is ongoing or ended in the last hour, as proctor rows; NotFound for no exam."""
    # Imported here: the clock reconciles through the services, which read through this module.
    from attempts.clock import seconds_left_many

    exam = Exam.objects.filter(pk=exam_id).only("title").first()
    if exam is None:
        raise errors.NotFound()
    attempts = list(
        Attempt.objects.filter(exam_id=exam_id)
        .filter(Q(status=Attempt.Status.ONGOING) | Q(ended_at__gte=timezone.now() - PROCTOR_RECENT_WINDOW))
        .select_related("user")
        .annotate(answered=Count("answers"))
        .order_by("started_at", "pk")
    )
    total_questions = Question.objects.filter(exam_id=exam_id).count()
    left = seconds_left_many(attempts)
    rows = [
        attempt_row(
            attempt, remaining_seconds=left[attempt.pk], answered=attempt.answered, total_questions=total_questions
        )
        for attempt in attempts
    ]
    return ProctorView(exam_id=exam_id, exam_title=exam.title, rows=rows)


def questions_of(attempt: Attempt) -> list[Question]:
    """The questions of the attempt's exam, in order."""
    return list(Question.objects.filter(exam_id=attempt.exam_id).order_by("id"))


def saved_answers_of(attempt: Attempt) -> dict[str, str]:
    """The saved choices of an attempt, keyed by question id as a string."""
    rows = Answer.objects.filter(attempt_id=attempt.pk).values_list("question_id", "selected_option")
    return {str(question_id): option for question_id, option in rows}
