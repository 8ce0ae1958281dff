"""Scores and the result figures of an attempt."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Sum

from attempts.models import Answer, Attempt, Question


def score_of(attempt_id: int) -> int:
    """Sum of the marks of the correctly answered questions of an attempt."""
    return scores_of([attempt_id])[attempt_id]


def scores_of(attempt_ids: list[int]) -> dict[int, int]:
    """The score of each attempt in one grouped query (0 for an attempt without a correct answer)."""
    totals = (
        Answer.objects.filter(attempt_id__in=attempt_ids, selected_option=F("question__correct_option"))
        .values("attempt_id")
        .annotate(total=Sum("question__marks"))
        .values_list("attempt_id", "total")
    )
    return {attempt_id: 0 for attempt_id in attempt_ids} | {attempt_id: total or 0 for attempt_id, total in totals}


def exam_totals(exam_ids) -> dict[int, tuple[int, int]]:
    """(total marks, question count) of each exam that has questions, in one grouped query."""
    return {
        exam_id: (total or 0, count)
        for exam_id, total, count in Question.objects.filter(exam_id__in=set(exam_ids))
        .values("exam_id")
        .annotate(total=Sum("marks"), count=Count("pk"))
        .values_list("exam_id", "total", "count")
    }


def percentage(score: int, total_marks: int) -> float:
    """The score as a percentage of the exam's marks, two decimals (0.0 for an exam without marks)."""
    return round(score * 100 / total_marks, 2) if total_marks else 0.0


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
    return results_of([attempt])[attempt.pk]


def results_of(attempts: list[Attempt]) -> dict[int, Result]:
    """The result of each ended attempt: one query for the exams' totals and one for the correct answers."""
    per_exam = exam_totals(attempt.exam_id for attempt in attempts)
    correct = dict(
        Answer.objects.filter(
            attempt_id__in=[attempt.pk for attempt in attempts], selected_option=F("question__correct_option")
        )
        .values("attempt_id")
        .annotate(n=Count("pk"))
        .values_list("attempt_id", "n")
    )
    results = {}
    for attempt in attempts:
        total_marks, total_questions = per_exam.get(attempt.exam_id, (0, 0))
        score = attempt.score or 0
        taken = None
        if attempt.ended_at is not None:
            taken = round((attempt.ended_at - attempt.started_at).total_seconds() / 60)
        results[attempt.pk] = Result(
            score=score,
            total_marks=total_marks,
            percentage=percentage(score, total_marks),
            correct_answers=correct.get(attempt.pk, 0),
            total_questions=total_questions,
            time_taken_minutes=taken,
        )
    return results
