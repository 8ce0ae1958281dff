"""Setting and removing a student's accommodation, for one exam or (exam None) for every exam.

A change applies to attempts started afterwards; a running attempt changes only through the
live controls (`attempts.services.control`).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.contrib.auth import get_user_model

from attempts import errors
from attempts.models import Accommodation

logger = logging.getLogger(__name__)


def student_of(*, user_id: int):
    """The user an accommodation is for (any user, staff included); NotFound for no such user."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise errors.NotFound()
    return user


def accommodation_put(
    *,
    actor,
    student,
    exam_id: int | None,
    extra_minutes: int,
    time_multiplier: Decimal,
    extra_attempts: int,
    note: str,
) -> Accommodation:
    """Store the student's accommodation for the exam (None: all exams), replacing the one there was."""
    values = {
        "extra_minutes": extra_minutes,
        "time_multiplier": time_multiplier,
        "extra_attempts": extra_attempts,
        "note": note,
    }
    # A locking read, then an insert: of two PUTs creating one row, the loser's insert hits the
    # unique guard and Django reads the winner's row (with a lock) and updates it instead.
    row, _created = Accommodation.objects.update_or_create(user=student, exam_id=exam_id, defaults=values)
    # Not the note: it may say why (a medical reason), which has no place in a log.
    logger.info(
        "accommodation set user=%d exam=%s by=%d extra_minutes=%d time_multiplier=%s extra_attempts=%d",
        student.pk,
        exam_id or "all",
        actor.pk,
        extra_minutes,
        time_multiplier,
        extra_attempts,
    )
    return row


def accommodation_delete(*, actor, student, exam_id: int | None) -> bool:
    """Remove the student's accommodation for the exam (None: all exams); False when there was none."""
    deleted, _ = Accommodation.objects.filter(user=student, exam_id=exam_id).delete()
    if deleted:
        logger.info("accommodation removed user=%d exam=%s by=%d", student.pk, exam_id or "all", actor.pk)
    return bool(deleted)
