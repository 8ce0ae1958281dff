"""Saving one answer: accepted only if received before the deadline, under the attempt's row lock.

Several tabs of one attempt may save the same question. Each request says when its choice was
made (`chosen_at`, by the page's clock); the later choice wins, whichever request arrives
last: a request whose choice is older than the stored one is refused (409 answer_superseded)
and changes nothing. Without `chosen_at` on either side the last write wins, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from attempts import audit, errors, events
from attempts.models import Answer, Attempt, Question
from attempts.selectors import attempt_for_user
from attempts.services.expire import attempt_expire

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    created: bool


def answer_save(
    *,
    user,
    attempt_id: int,
    question_id: int,
    selected_option: str,
    chosen_at: datetime | None = None,
    received_at: datetime | None = None,
    caller_holds: int | None = None,
) -> AnswerResult:
    """Save or change one answer, accepted only if received (`received_at`, default now) before the deadline.

    `chosen_at`: when the student made this choice (None: unknown); refused with
    AnswerSuperseded when the stored answer's choice was made later.
    `caller_holds`: the attempt whose deadline this request holds (`apis.holds`).
    """
    attempt = attempt_for_user(user=user, attempt_id=attempt_id)
    question = Question.objects.filter(pk=question_id).first()
    if question is None:
        raise errors.NotFound()
    received_at = received_at or timezone.now()
    try:
        return _answer_save_locked(
            attempt_id=attempt.pk,
            question=question,
            selected_option=selected_option,
            chosen_at=_within_attempt(chosen_at, started_at=attempt.started_at, received_at=received_at),
            received_at=received_at,
        )
    except errors.TimeExpired as refusal:
        # How late it arrived, by the server's own stamp: what a dispute about a refused answer turns on.
        late_ms = round((received_at - attempt.deadline_at).total_seconds() * 1000)
        logger.info("answer refused attempt=%d question=%d late_ms=%d", attempt.pk, question.pk, late_ms)
        _record_refusal(attempt.pk, question.pk, selected_option, refusal, late_ms=late_ms)
        attempt_expire(attempt_id=attempt.pk, caller_holds=caller_holds)
        raise
    except errors.AttemptAlreadySubmitted as refusal:
        _record_refusal(attempt.pk, question.pk, selected_option, refusal)
        raise
    except errors.AnswerSuperseded as refusal:
        _record_refusal(
            attempt.pk,
            question.pk,
            selected_option,
            refusal,
            chosen_at=_iso(chosen_at),
            stored_option=refusal.selected_option,
        )
        raise


def _within_attempt(chosen_at: datetime | None, *, started_at: datetime, received_at: datetime) -> datetime | None:
    """`chosen_at` kept between the attempt's start and the request's arrival: no choice is made outside them.

    A page whose clock runs ahead would otherwise win every comparison for as long as it is
    ahead, against choices made later on a tab with the right time; one running behind the
    start gains nothing either. Inside those bounds the page's own clock decides.
    """
    if chosen_at is None:
        return None
    return min(max(chosen_at, started_at), received_at)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _record_refusal(attempt_id: int, question_id: int, option: str, refusal: errors.DomainError, **data) -> None:
    # Its own transaction: the refusal rolled back the answer's, and the trail must still show it.
    audit.record(
        attempt_id,
        audit.Kind.ANSWER_REFUSED,
        question_id=question_id,
        selected_option=option,
        code=refusal.code,
        **data,
    )


def _answer_save_locked(
    *, attempt_id: int, question: Question, selected_option: str, chosen_at: datetime | None, received_at: datetime
) -> AnswerResult:
    with transaction.atomic():
        # The row lock orders this answer against expiry and submit: whichever comes
        # second sees what the first did.
        attempt = Attempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status == Attempt.Status.COMPLETED:
            raise errors.AttemptAlreadySubmitted()
        if attempt.status == Attempt.Status.TIMEOUT or received_at >= attempt.deadline_at:
            raise errors.TimeExpired()
        if question.exam_id != attempt.exam_id:
            raise errors.QuestionNotInExam()
        # Under the attempt's lock every save of this question waits its turn: the stored choice
        # read here is the one this save would replace.
        stored = Answer.objects.filter(attempt=attempt, question=question).first()
        if stored is not None and _chosen_later(stored.chosen_at, than=chosen_at):
            raise errors.AnswerSuperseded(question_id=question.pk, selected_option=stored.selected_option)
        answer, created = Answer.objects.update_or_create(
            attempt=attempt,
            question=question,
            defaults={"selected_option": selected_option, "chosen_at": chosen_at},
        )
        answered = Answer.objects.filter(attempt=attempt).count()
        audit.record(attempt.pk, audit.Kind.ANSWER_SAVED, question_id=question.pk, selected_option=selected_option)
        events.announce_on_commit(
            [
                events.AnswerSaved(
                    attempt_id=attempt.pk,
                    exam_id=attempt.exam_id,
                    status=attempt.status,
                    answered=answered,
                    question_id=question.pk,
                    selected_option=selected_option,
                )
            ]
        )
    return AnswerResult(answer=answer, created=created)


def _chosen_later(stored: datetime | None, *, than: datetime | None) -> bool:
    """Whether the stored choice was made after the request's; unknown on either side: no (the last write wins)."""
    return stored is not None and than is not None and stored > than
