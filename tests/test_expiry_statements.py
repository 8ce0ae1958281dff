"""A batch of expiries costs a fixed handful of statements, whatever its size and its number of distinct scores.

A mass deadline (10,000 attempts at once) is expired in batches; each statement of a batch is a
round trip on a loaded database, so a statement per distinct score or a second read of the rows
made the database rows trail the sockets' frames by seconds (bench/README.md, "mass deadline").
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attempts import events
from attempts.models import Answer, Attempt, AttemptEvent
from attempts.services.expire import attempts_expire_many
from tests.factories import make_exam

pytestmark = pytest.mark.django_db(transaction=True)

# The locking read, the scores, the exams' totals, one UPDATE, one INSERT of the audit rows, in one transaction.
STATEMENTS_PER_BATCH = ["BEGIN", "SELECT", "SELECT", "SELECT", "UPDATE", "INSERT", "COMMIT"]


def _kinds(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"].split(None, 1)[0].upper() for query in queries.captured_queries]


@pytest.fixture
def heard():
    batches: list = []
    events.subscribe(batches.append)
    yield batches
    events._subscribers.remove(batches.append)


def _due_attempts_with_scores(count: int) -> tuple[dict[int, int], int]:
    """`count` ongoing attempts past their deadline, answered so that their scores differ; {id: score}, total marks."""
    marks = [1, 2, 4, 8]  # any subset has its own sum: up to 16 distinct scores
    exam = make_exam(marks_each=marks)
    questions = list(exam.questions.order_by("id"))
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"batch{exam.pk}-{n}") for n in range(count)]
    )
    now = timezone.now()
    Attempt.objects.bulk_create(
        Attempt(
            user=user,
            exam=exam,
            started_at=now - timedelta(minutes=1),
            deadline_at=now - timedelta(seconds=1),
            time_limit_seconds=59,
        )
        for user in users
    )
    ids = sorted(Attempt.objects.filter(exam=exam).values_list("pk", flat=True))
    expected, answers = {}, []
    for n, attempt_id in enumerate(ids):
        right = n % 16  # bit i: question i answered correctly; otherwise answered wrongly
        for i, question in enumerate(questions):
            good = question.correct_option
            option = good if right >> i & 1 else ("B" if good == "A" else "A")
            answers.append(Answer(attempt_id=attempt_id, question=question, selected_option=option))
        expected[attempt_id] = sum(m for i, m in enumerate(marks) if right >> i & 1)
    Answer.objects.bulk_create(answers)
    return expected, sum(marks)


@pytest.mark.parametrize("count", [1, 50, 200])
def test_a_batch_is_a_fixed_number_of_statements_and_scores_each_attempt(count, heard):
    expected, total_marks = _due_attempts_with_scores(count)

    with CaptureQueriesContext(connection) as queries:
        ended = attempts_expire_many(attempt_ids=list(expected), path="sweep")

    assert sorted(ended) == sorted(expected)
    assert _kinds(queries) == STATEMENTS_PER_BATCH, [q["sql"][:100] for q in queries.captured_queries]
    rows = Attempt.objects.filter(pk__in=expected).values_list("pk", "status", "score", "ended_at", "deadline_at")
    for attempt_id, status, score, ended_at, deadline_at in rows:
        assert (status, score, ended_at) == (Attempt.Status.TIMEOUT, expected[attempt_id], deadline_at)
    assert AttemptEvent.objects.filter(attempt_id__in=expected, kind="timed_out").count() == count
    # The end announced after commit carries what the rows hold.
    announced = {event.attempt_id: event for batch in heard for event in batch}
    assert set(announced) == set(expected)
    for attempt_id, event in announced.items():
        assert (event.status, event.score, event.total_marks) == ("timeout", expected[attempt_id], total_marks)
        assert event.percentage == round(expected[attempt_id] * 100 / total_marks, 2)


def test_a_batch_whose_attempts_ended_already_stops_after_the_locking_read(heard):
    expected, _ = _due_attempts_with_scores(20)
    attempts_expire_many(attempt_ids=list(expected), path="sweep")
    heard.clear()

    with CaptureQueriesContext(connection) as queries:
        assert attempts_expire_many(attempt_ids=list(expected), path="notification") == []

    assert _kinds(queries) == ["BEGIN", "SELECT", "COMMIT"]  # the locking read finds them over
    assert heard == []
