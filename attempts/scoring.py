"""Scores and the result figures of an attempt."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Sum

from attempts.models import Answer, Attempt, Question


def score_of(attempt_id: int) -> int:
    """Sum of the marks of the correctly answered questions of an attempt."""
    return (
        Answer.objects.filter(attempt_id=attempt_id, selected_option=F("question__correct_option")).aggregate(
            total=Sum("question__marks")
        )["total"]
        or 0
    )


@dataclass(frozen=True)
class Result:
    score: int
    total_marks: int
    percentage: float
    correct_answers: int
    total_questions: int
    time_taken_minutes: int | None


def result_of(attempt: Attempt) -> Result:
    """The figures the submit response and the proctor events report for an ended attempt."""
    questions = Question.objects.filter(exam_id=attempt.exam_id)
    total_marks = questions.aggregate(total=Sum("marks"))["total"] or 0
    score = attempt.score or 0
    correct = Answer.objects.filter(attempt_id=attempt.pk, selected_option=F("question__correct_option")).count()
    taken = None
    if attempt.ended_at is not None:
        taken = round((attempt.ended_at - attempt.started_at).total_seconds() / 60)
    return Result(
        score=score,
        total_marks=total_marks,
        percentage=round(score * 100 / total_marks, 2) if total_marks else 0.0,
        correct_answers=correct,
        total_questions=questions.count(),
        time_taken_minutes=taken,
    )
