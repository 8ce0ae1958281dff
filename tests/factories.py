"""Builders of test data (users, exams, attempts, answers), and an API client that carries a JWT."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from attempts import services
from attempts.models import Attempt, Exam, Question

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def make_user(username: str | None = None, *, is_staff: bool = False, is_superuser: bool = False):
    name = username or f"student{next(_seq)}"
    return get_user_model().objects.create_user(
        username=name, password=PASSWORD, is_staff=is_staff, is_superuser=is_superuser
    )


def make_exam(
    *,
    questions: int = 3,
    duration_minutes: int = 60,
    is_published: bool = True,
    marks: int = 1,
    marks_each: list[int] | None = None,
    title: str = "",
) -> Exam:
    """An exam whose questions' correct options run A, B, C, D, A, ...; `marks_each` sets count and marks at once."""
    if marks_each is not None:
        questions = len(marks_each)
    exam = Exam.objects.create(
        title=title or f"Exam {next(_seq)}", duration_minutes=duration_minutes, is_published=is_published
    )
    for number in range(questions):
        Question.objects.create(
            exam=exam,
            text=f"Question {number + 1}?",
            option_a="alpha",
            option_b="bravo",
            option_c="charlie",
            option_d="delta",
            correct_option="ABCD"[number % 4],
            marks=marks if marks_each is None else marks_each[number],
        )
    return exam


def access_token_for(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


def start_attempt(user, exam: Exam) -> Attempt:
    """An ongoing attempt of `user` with its Redis timer, started by the service as the API would."""
    return services.attempt_start(user=user, exam_id=exam.pk).attempt


def answer_correctly(user, attempt: Attempt, how_many: int) -> None:
    """Save the right option for the first `how_many` questions of the attempt's exam."""
    for question in attempt.exam.questions.order_by("id")[:how_many]:
        services.answer_save(
            user=user, attempt_id=attempt.pk, question_id=question.pk, selected_option=question.correct_option
        )
