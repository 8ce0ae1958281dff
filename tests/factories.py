"""Small builders of test data, and an API client that carries a JWT."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from attempts import timer
from attempts.models import Attempt, Exam, Question

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)


def make_user(username: str | None = None, *, is_staff: bool = False):
    name = username or f"student{next(_seq)}"
    return get_user_model().objects.create_user(username=name, password=PASSWORD, is_staff=is_staff)


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


def set_deadline(attempt: Attempt, seconds_from_now: float) -> Attempt:
    """Move an ongoing attempt's deadline, in the database and in Redis alike (a real short TTL)."""
    attempt.deadline_at = timezone.now() + timedelta(seconds=seconds_from_now)
    attempt.save(update_fields=["deadline_at"])
    if seconds_from_now > 0:
        timer.start(attempt.pk, int(seconds_from_now * 1000))
    else:
        timer.clear(attempt.pk)
    return attempt
