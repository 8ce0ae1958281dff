"""Score = sum of the marks of correct answers; percentage with two decimals; minutes from start to end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from attempts.models import Answer, Attempt, Exam
from attempts.scoring import result_of, score_of
from tests.factories import make_exam
from tests.helpers import save_answer, started_attempt, submit

pytestmark = pytest.mark.django_db


def exam_with_marks(*marks: int) -> Exam:
    """Questions with the given marks; correct options A, B, C, D, A, ..."""
    return make_exam(marks_each=list(marks), title="Scoring")


def wrong(option: str) -> str:
    return "B" if option == "A" else "A"


@pytest.fixture
def client(student, client_for):
    return client_for(student)


def test_score_is_the_sum_of_the_marks_of_correct_answers(client):
    exam = exam_with_marks(1, 2, 3, 4)
    q1, q2, q3, _q4 = exam.questions.order_by("id")
    attempt_id = started_attempt(client, exam.pk).pk
    save_answer(client, attempt_id, q1.pk, wrong(q1.correct_option))
    save_answer(client, attempt_id, q2.pk, q2.correct_option)
    save_answer(client, attempt_id, q3.pk, q3.correct_option)
    # q4 unanswered

    body = submit(client, attempt_id).json()

    assert (body["score"], body["total_marks"], body["percentage"]) == (5, 10, 50.0)
    assert (body["correct_answers"], body["total_questions"]) == (2, 4)
    assert Attempt.objects.get(pk=attempt_id).score == 5


def test_a_changed_answer_counts_as_last_saved(client):
    exam = exam_with_marks(3)
    question = exam.questions.get()
    attempt_id = started_attempt(client, exam.pk).pk
    save_answer(client, attempt_id, question.pk, question.correct_option)
    save_answer(client, attempt_id, question.pk, wrong(question.correct_option))

    body = submit(client, attempt_id).json()

    assert (body["score"], body["correct_answers"]) == (0, 0)


@pytest.mark.parametrize(("correct", "percentage"), [(0, 0.0), (1, 33.33), (2, 66.67), (3, 100.0)])
def test_percentage_has_two_decimals(client, correct, percentage):
    exam = exam_with_marks(1, 1, 1)
    attempt_id = started_attempt(client, exam.pk).pk
    for index, question in enumerate(exam.questions.order_by("id")):
        option = question.correct_option if index < correct else wrong(question.correct_option)
        save_answer(client, attempt_id, question.pk, option)

    body = submit(client, attempt_id).json()

    assert body["percentage"] == percentage


def test_an_exam_without_questions_scores_zero_percent(client):
    exam = exam_with_marks()
    attempt_id = started_attempt(client, exam.pk).pk

    body = submit(client, attempt_id).json()

    assert (body["score"], body["total_marks"], body["percentage"], body["total_questions"]) == (0, 0, 0.0, 0)


def test_only_this_attempts_answers_count(client, other_student, client_for):
    exam = exam_with_marks(2, 2)
    first = exam.questions.order_by("id").first()
    other = client_for(other_student)
    other_attempt = started_attempt(other, exam.pk).pk
    save_answer(other, other_attempt, first.pk, first.correct_option)
    attempt_id = started_attempt(client, exam.pk).pk

    assert score_of(attempt_id) == 0
    assert score_of(other_attempt) == 2


def _move_start(attempt_id: int, minutes_ago: float) -> None:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    Attempt.objects.filter(pk=attempt_id).update(started_at=started, deadline_at=started + timedelta(minutes=60))


def test_time_taken_is_minutes_from_start_to_submit(client):
    exam = exam_with_marks(1)
    attempt_id = started_attempt(client, exam.pk).pk
    _move_start(attempt_id, 45 + 10 / 60)  # 45 minutes 10 seconds ago

    body = submit(client, attempt_id).json()

    assert (body["status"], body["time_taken_minutes"]) == ("submitted", 45)


def test_time_taken_of_a_timeout_is_the_whole_duration(client):
    exam = exam_with_marks(1)
    attempt_id = started_attempt(client, exam.pk).pk
    _move_start(attempt_id, 61)  # the deadline passed a minute ago, unnoticed

    body = submit(client, attempt_id).json()

    assert (body["status"], body["time_taken_minutes"]) == ("timeout", 60)


def test_result_of_an_ongoing_attempt_has_no_time_taken(client):
    exam = exam_with_marks(1)
    attempt = started_attempt(client, exam.pk)

    result = result_of(attempt)

    assert result.time_taken_minutes is None
    assert not Answer.objects.filter(attempt=attempt).exists()
