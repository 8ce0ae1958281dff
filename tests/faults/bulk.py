"""Many attempts at once, in a few queries: the load that fault and race tests need."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from attempts import timer
from attempts.models import Answer, Attempt, Exam


def bulk_users(count: int, *, tag: str = "fault") -> list:
    """`count` new students (no password: tests mint their tokens)."""
    names = [f"{tag}{uuid.uuid4().hex[:12]}" for _ in range(count)]
    get_user_model().objects.bulk_create([get_user_model()(username=name) for name in names])
    users = {user.username: user for user in get_user_model().objects.filter(username__in=names)}
    return [users[name] for name in names]


def bulk_attempts(exam: Exam, users: list, *, deadline_at: datetime | list[datetime]) -> list[Attempt]:
    """One ongoing attempt per user, each with its Redis timer running until its deadline."""
    deadlines = deadline_at if isinstance(deadline_at, list) else [deadline_at] * len(users)
    now = timezone.now()
    Attempt.objects.bulk_create(
        [
            Attempt(
                user=user,
                exam=exam,
                started_at=now - timedelta(minutes=1),
                deadline_at=deadline,
                time_limit_seconds=round((deadline - now).total_seconds()) + 60,
            )
            for user, deadline in zip(users, deadlines, strict=True)
        ]
    )
    by_user = {attempt.user_id: attempt for attempt in Attempt.objects.filter(exam=exam, user__in=users)}
    attempts = [by_user[user.pk] for user in users]
    pipe = timer.client().pipeline(transaction=False)
    for attempt in attempts:
        left_ms = int((attempt.deadline_at - timezone.now()).total_seconds() * 1000)
        pipe.set(timer.key_for(attempt.pk), max(1, left_ms // 1000), px=max(1, left_ms))
    pipe.execute()
    return attempts


def answer_first_question_correctly(attempts: list[Attempt]) -> None:
    """A correct answer to the exam's first question in each of `attempts`."""
    if not attempts:
        return
    question = attempts[0].exam.questions.order_by("id").first()
    Answer.objects.bulk_create(
        [Answer(attempt=attempt, question=question, selected_option=question.correct_option) for attempt in attempts]
    )
