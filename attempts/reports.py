"""What staff take away from an exam: its results table, one row per attempt (the staff API's results.csv)."""

from __future__ import annotations

from django.db.models import Count

from attempts import errors
from attempts.models import Attempt, Exam
from attempts.scoring import results_of

RESULT_COLUMNS = (
    "attempt_id",
    "username",
    "status",
    "started_at",
    "ended_at",
    "deadline_at",
    "score",
    "total_marks",
    "percentage",
    "answered",
    "total_questions",
    "time_limit_seconds",
    "change_seconds",
    "offline_seconds",
)


def exam_results(*, exam_id: int) -> list[dict]:
    """Every attempt of the exam, oldest start first, keyed by RESULT_COLUMNS; NotFound for no exam.

    `score` and `percentage` are None while an attempt is ongoing. `offline_seconds` is None until
    the sockets record presence.
    """
    if not Exam.objects.filter(pk=exam_id).exists():
        raise errors.NotFound()
    attempts = list(
        Attempt.objects.filter(exam_id=exam_id)
        .select_related("user")
        .annotate(answered=Count("answers"))
        .order_by("started_at", "pk")
    )
    results = results_of(attempts)
    rows = []
    for attempt in attempts:
        result = results[attempt.pk]
        ended = attempt.status != Attempt.Status.ONGOING
        rows.append(
            {
                "attempt_id": attempt.pk,
                "username": attempt.user.get_username(),
                "status": attempt.status,
                "started_at": attempt.started_at,
                "ended_at": attempt.ended_at,
                "deadline_at": attempt.deadline_at,
                "score": result.score if ended else None,
                "total_marks": result.total_marks,
                "percentage": result.percentage if ended else None,
                "answered": attempt.answered,
                "total_questions": result.total_questions,
                "time_limit_seconds": attempt.time_limit_seconds,
                "change_seconds": attempt.change_seconds,
                "offline_seconds": None,  # empty, not 0 ("never offline"), until presence is recorded
            }
        )
    return rows
