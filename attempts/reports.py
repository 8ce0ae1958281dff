"""What staff take away from an exam: its results table, one row per attempt, and that table as CSV
(the staff API's results.csv and `manage.py export_results` write the same bytes)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import TextIO

from django.db.models import Count

from attempts import errors
from attempts.models import Attempt, Exam
from attempts.scoring import results_of
from attempts.selectors import offline_seconds_of

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

    `score` and `percentage` are None while an attempt is ongoing; `offline_seconds` counts the
    time ongoing with no socket open, from the start (up to now for an ongoing attempt).
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
                "offline_seconds": offline_seconds_of(attempt),
            }
        )
    return rows


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a
# text gets a leading apostrophe, which spreadsheets show as text and hide.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(FORMULA_STARTS) else value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")  # as the REST answers write times
    return value


def write_results_csv(out: TextIO, *, exam_id: int) -> int:
    """The exam's results as CSV (a header row, then RESULT_COLUMNS per attempt) into `out`; the rows written.

    NotFound for no exam, before anything is written.
    """
    rows = exam_results(exam_id=exam_id)
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in RESULT_COLUMNS])
    return len(rows)
