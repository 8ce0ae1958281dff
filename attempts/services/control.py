"""What proctors do to running exams: extend, end, reopen an attempt; extend a whole exam; announce.

Each change and its audit row are one transaction under the attempt's row lock (the lock every
transition takes first, `lock_attempt_row`), so an extension, the expiry, a submit and a
second proctor are ordered: whichever comes second sees what the first did. A deadline and
its Redis timer move together: the timer is written with one SET PX inside the transaction
(one pipeline per batch for a whole exam). If Redis does not answer, the database still
moves, and the timer is rebuilt from `deadline_at` as any lost timer is (`clock`).

Expiry and the ticker judge an attempt past its deadline from its committed row, without the
lock: an extension or an end that found the attempt still running therefore holds its
deadline open (`deadlines_held`) until it has committed, as a student's answer received in
time does, so that nobody takes the attempt for timed out meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from attempts import audit, clock, errors, events, timer
from attempts.models import Announcement, Attempt, Exam, Question
from attempts.scoring import score_of
from attempts.selectors import attempt_row, offline_ms_of, offline_seconds_of
from attempts.services.expire import (
    attempt_expire,
    attempts_expire_many,
    deadlines_held,
    end_announcement,
    lock_attempt_row,
)
from attempts.services.start import lock_student_row

logger = logging.getLogger(__name__)

# Attempts of one exam moved per transaction and Redis pipeline: short row locks for the
# students answering meanwhile, and few round trips for a hall of a thousand.
EXTEND_BATCH = 200


@dataclass(frozen=True)
class TimeChange:
    attempt: Attempt  # as it stands after the change
    change_seconds: int  # this change


def attempt_extend(*, actor, attempt_id: int, seconds: int, reason: str = "") -> TimeChange:
    """Give one ongoing attempt `seconds` more; AttemptEnded when it is over or its time already ran out."""
    with deadlines_held([attempt_id]), transaction.atomic():
        lock_attempt_row(attempt_id)
        attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
        if attempt is None:
            raise errors.NotFound()
        ran_out = attempt.status == Attempt.Status.ONGOING and attempt.deadline_at <= timezone.now()
        if attempt.status == Attempt.Status.ONGOING and not ran_out:
            _move_deadlines([attempt.pk], seconds=seconds, reason=reason, actor=actor)
            attempt.refresh_from_db()
            return TimeChange(attempt=attempt, change_seconds=seconds)
    if ran_out:
        # Too late by the server's clock: the attempt ends as its timer said (idempotent).
        attempt_expire(attempt_id=attempt_id, path="request")
    raise errors.AttemptEnded()


# The reason a credit gives the student when the proctor writes none.
CREDIT_REASON = "Offline time credited"


@dataclass(frozen=True)
class Credit:
    change: TimeChange
    credited_seconds: int  # this credit


def attempt_credit_offline(*, actor, attempt_id: int, reason: str = "") -> Credit:
    """Extend an ongoing attempt by its offline time not credited yet; NothingToCredit below one second."""
    with deadlines_held([attempt_id]), transaction.atomic():
        lock_attempt_row(attempt_id)  # two proctors crediting at once: the second finds nothing left
        attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
        if attempt is None:
            raise errors.NotFound()
        ran_out = attempt.status == Attempt.Status.ONGOING and attempt.deadline_at <= timezone.now()
        if attempt.status == Attempt.Status.ONGOING and not ran_out:
            offline = offline_seconds_of(attempt)
            seconds = offline - attempt.offline_credited_seconds
            if seconds < 1:
                raise errors.NothingToCredit()
            Attempt.objects.filter(pk=attempt.pk).update(offline_credited_seconds=offline)
            _move_deadlines([attempt.pk], seconds=seconds, reason=reason or CREDIT_REASON, actor=actor)
            attempt.refresh_from_db()
            return Credit(change=TimeChange(attempt=attempt, change_seconds=seconds), credited_seconds=seconds)
    if ran_out:
        attempt_expire(attempt_id=attempt_id, path="request")
    raise errors.AttemptEnded()


def exam_extend(*, actor, exam_id: int, seconds: int, reason: str = "") -> list[int]:
    """Give every ongoing attempt of an exam whose time has not run out `seconds` more; the ids extended.

    Those found with their time run out are timed out here (the holds kept the worker off them).
    """
    if not Exam.objects.filter(pk=exam_id).exists():
        raise errors.NotFound()
    ongoing = Attempt.objects.filter(exam_id=exam_id, status=Attempt.Status.ONGOING)
    # The attempts ongoing when the proctor asked: one started while the batches run had its full time.
    newest = ongoing.order_by("-pk").values_list("pk", flat=True).first() or 0
    extended: list[int] = []
    last_id = 0
    while True:
        ids = list(
            ongoing.filter(pk__gt=last_id, pk__lte=newest).order_by("pk").values_list("pk", flat=True)[:EXTEND_BATCH]
        )
        if not ids:
            return extended
        last_id = ids[-1]
        with deadlines_held(ids), transaction.atomic():
            # Locked in key order through the primary key, as every batch transition does.
            locked = Attempt.objects.select_for_update().filter(pk__in=ids).order_by("pk")
            now = timezone.now()
            found = [
                (pk, deadline_at > now)
                for pk, status, deadline_at in locked.values_list("pk", "status", "deadline_at")
                if status == Attempt.Status.ONGOING
            ]
            still = [pk for pk, running in found if running]
            _move_deadlines(still, seconds=seconds, reason=reason, actor=actor)
        extended += still
        # Too late by the server's clock: they end as their timers said.
        attempts_expire_many(attempt_ids=[pk for pk, running in found if not running], path="request")


def _move_deadlines(attempt_ids: list[int], *, seconds: int, reason: str, actor) -> None:
    """Inside a transaction holding their row locks: move deadline and timer of these ongoing attempts."""
    if not attempt_ids:
        return
    Attempt.objects.filter(pk__in=attempt_ids).update(
        deadline_at=F("deadline_at") + timedelta(seconds=seconds), change_seconds=F("change_seconds") + seconds
    )
    moved = list(
        Attempt.objects.filter(pk__in=attempt_ids).values_list(
            "pk", "exam_id", "deadline_at", "change_seconds", "offline_credited_seconds"
        )
    )
    audit.record_many(
        attempt_ids,
        audit.Kind.TIME_CHANGED,
        actor=actor,
        data_of=lambda _: {"change_seconds": seconds, "reason": reason},
    )
    try:
        timer.set_many({pk: clock.ms_until(deadline_at) for pk, _, deadline_at, _, _ in moved})
    except timer.TimerUnavailable as exc:
        # The deadlines moved; the timers follow when Redis answers (restored from deadline_at).
        logger.warning("timers of %d extended attempts not moved, Redis unreachable: %s", len(moved), exc)
    by = audit.actor_of(actor)
    events.announce_on_commit(
        [
            events.TimeChanged(
                attempt_id=pk,
                exam_id=exam_id,
                deadline_at=deadline_at,
                change_seconds=seconds,
                total_change_seconds=total,
                reason=reason,
                by=by,
                offline_credited_seconds=credited,
            )
            for pk, exam_id, deadline_at, total, credited in moved
        ]
    )


def attempt_end(*, actor, attempt_id: int, reason: str = "") -> Attempt:
    """End an ongoing attempt now as `completed`, scored; AttemptEnded when it was over or its time had run out."""
    with deadlines_held([attempt_id]), transaction.atomic():
        lock_attempt_row(attempt_id)
        attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
        if attempt is None:
            raise errors.NotFound()
        now = timezone.now()
        ran_out = attempt.status == Attempt.Status.ONGOING and attempt.deadline_at <= now
        if attempt.status == Attempt.Status.ONGOING and not ran_out:
            Attempt.objects.filter(pk=attempt.pk).update(
                status=Attempt.Status.COMPLETED, ongoing_guard=None, ended_at=now, score=score_of(attempt.pk)
            )
            audit.record(attempt.pk, audit.Kind.ENDED, actor=actor, reason=reason)
            transaction.on_commit(end_announcement([attempt.pk], by=audit.actor_of(actor)), robust=True)
            attempt.refresh_from_db()
            return attempt
    if ran_out:
        attempt_expire(attempt_id=attempt_id, path="request")
    raise errors.AttemptEnded()


def attempt_reopen(*, actor, attempt_id: int, seconds: int, reason: str = "") -> Attempt:
    """Make an ended attempt ongoing again until now + `seconds`, answers kept and score cleared."""
    with transaction.atomic():
        lock_attempt_row(attempt_id)
        attempt = Attempt.objects.select_related("exam", "user").filter(pk=attempt_id).first()
        if attempt is None:
            raise errors.NotFound()
        if attempt.status == Attempt.Status.ONGOING:
            raise errors.AttemptRunning()
        lock_student_row(attempt.user_id)  # orders this reopen against the student's own start
        now = timezone.now()
        deadline_at = now + timedelta(seconds=seconds)
        try:
            with transaction.atomic():  # a savepoint: the unique index refuses a second ongoing attempt
                Attempt.objects.filter(pk=attempt.pk).update(
                    status=Attempt.Status.ONGOING,
                    ongoing_guard=True,
                    ended_at=None,
                    score=None,
                    deadline_at=deadline_at,
                    # Offline time counted to its end is kept; the time it was over is not offline
                    # time. Its sockets closed at the end: offline again from now until one opens.
                    offline_ms=offline_ms_of(attempt, now=now),
                    connected=False,
                    presence_changed_at=now,
                )
        except IntegrityError:
            raise errors.OtherAttemptRunning() from None
        audit.record(attempt.pk, audit.Kind.REOPENED, actor=actor, seconds=seconds, reason=reason)
        try:
            timer.start(attempt.pk, clock.ms_until(deadline_at))
        except timer.TimerUnavailable as exc:
            logger.warning("timer of reopened attempt %s not written, Redis unreachable: %s", attempt.pk, exc)
        attempt.refresh_from_db()
        row = attempt_row(
            attempt,
            remaining_seconds=seconds,
            answered=attempt.answers.count(),
            total_questions=Question.objects.filter(exam_id=attempt.exam_id).count(),
        )
        events.announce_on_commit(
            [events.AttemptReopened(attempt_id=attempt.pk, exam_id=attempt.exam_id, row=row, by=audit.actor_of(actor))]
        )
    return attempt


def announcement_post(*, actor, exam_id: int, message: str) -> Announcement:
    """Store a proctor's announcement and push it to every socket of the exam's ongoing attempts."""
    if not Exam.objects.filter(pk=exam_id).exists():
        raise errors.NotFound()
    with transaction.atomic():
        announcement = Announcement.objects.create(exam_id=exam_id, message=message, author=actor)
        ongoing = Attempt.objects.filter(exam_id=exam_id, status=Attempt.Status.ONGOING).values_list("pk", flat=True)
        events.announce_on_commit(
            [
                events.AnnouncementPosted(
                    exam_id=exam_id,
                    announcement_id=announcement.pk,
                    message=announcement.message,
                    created_at=announcement.created_at,
                    attempt_ids=tuple(ongoing),
                    by=audit.actor_of(actor),
                )
            ]
        )
    return announcement
