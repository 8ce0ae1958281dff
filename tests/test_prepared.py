"""Queries compiled once (`attempts.prepared`): the same rows, converted the same way, as the ORM's own run."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.test.utils import CaptureQueriesContext

from attempts.models import Accommodation, Exam, Question
from attempts.prepared import Prepared
from tests.factories import make_exam, make_user

pytestmark = pytest.mark.django_db


def _exam_query(exam_id: int, user_id: int):
    questions = Question.objects.filter(exam_id=OuterRef("pk")).order_by().values("exam_id")
    return (
        Exam.objects.filter(pk=exam_id)
        .annotate(
            question_count=Subquery(questions.annotate(n=Count("pk")).values("n")),
            multiplier=Subquery(
                Accommodation.objects.filter(user_id=user_id, exam_id=OuterRef("pk")).values("time_multiplier")[:1]
            ),
        )
        .values("id", "is_published", "opens_at", "warning_minutes", "question_count", "multiplier")
    )


EXAM = Prepared(_exam_query)


def test_each_call_gets_the_rows_and_types_the_orm_would_give():
    student = make_user()
    first = make_exam(questions=2)
    first.opens_at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    first.warning_minutes = [10, 2]
    first.save()
    second = make_exam(questions=5, is_published=False)
    Accommodation.objects.create(user=student, exam=second, time_multiplier=Decimal("1.50"))

    for exam in (first, second):
        expected = _exam_query(exam.pk, student.pk).first()
        got = EXAM.first(exam_id=exam.pk, user_id=student.pk)
        assert got == expected
        assert type(got["is_published"]) is bool
    assert EXAM.first(exam_id=second.pk, user_id=student.pk)["multiplier"] == Decimal("1.50")
    assert EXAM.first(exam_id=first.pk, user_id=student.pk)["opens_at"] == first.opens_at
    assert EXAM.first(exam_id=first.pk + second.pk + 1000, user_id=student.pk) is None


def test_the_sql_is_sent_through_djangos_cursor_with_the_callers_values():
    exam = make_exam()
    with CaptureQueriesContext(connection) as sent:
        EXAM.first(exam_id=exam.pk, user_id=7)
    assert len(sent.captured_queries) == 1
    assert str(exam.pk) in sent.captured_queries[0]["sql"]  # the debug cursor shows the values sent


def test_an_argument_that_does_not_reach_the_parameters_is_refused_when_compiled():
    unused = Prepared(lambda exam_id, user_id: Exam.objects.filter(pk=exam_id).values("id"))
    with pytest.raises(ValueError, match="user_id"):
        unused.first(exam_id=1, user_id=2)


def test_a_locking_read_runs_only_inside_a_transaction():
    student = make_user()
    lock = Prepared(lambda user_id: type(student).objects.select_for_update().filter(pk=user_id).values("username"))
    with transaction.atomic():
        assert lock.first(user_id=student.pk) == {"username": student.username}
        assert "FOR UPDATE" in lock.sql() or connection.vendor == "sqlite"
