"""Reads: attempts as their owner may see them."""

from __future__ import annotations

from attempts import errors
from attempts.models import Answer, Attempt, Question


def attempt_for_user(*, user, attempt_id: int) -> Attempt:
    """The attempt, if it exists (404) and belongs to `user` (403)."""
    attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
    if attempt is None:
        raise errors.NotFound()
    if attempt.user_id != user.pk:
        raise errors.NotYourAttempt()
    return attempt


def questions_of(attempt: Attempt) -> list[Question]:
    """The questions of the attempt's exam, in order."""
    return list(Question.objects.filter(exam_id=attempt.exam_id).order_by("id"))


def saved_answers_of(attempt: Attempt) -> dict[str, str]:
    """The saved choices of an attempt, keyed by question id as a string."""
    rows = Answer.objects.filter(attempt_id=attempt.pk).values_list("question_id", "selected_option")
    return {str(question_id): option for question_id, option in rows}
