"""Starting an attempt, or resuming the one in progress: one ongoing attempt per student and exam.

A new attempt obeys the exam's time rules (`attempts.policy`): its window, its attempt limit
and the student's accommodation; resuming an ongoing attempt is never refused by them.

Cheap, because 9:00 on exam day is every student starting at once (issue 12): a new attempt
costs one read before the transaction (`_exam_for_start`: the exam, its question count and
marks, the student's account state, ongoing attempt and accommodation, all as subqueries of
one SELECT) and four statements in it (the student's row lock, one read of their attempts
of the exam, the attempt, its audit row); a resume costs that read, the attempt and the audit
row. `tests/test_api_start_cost.py` pins these counts. The three reads are compiled to SQL
once (`attempts.prepared`): the ORM building them again on every start cost more than sending them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from attempts import audit, clock, errors, events, policy, timer
from attempts.models import Accommodation, Attempt, Exam, Question
from attempts.prepared import Prepared
from attempts.selectors import attempt_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartResult:
    attempt: Attempt
    created: bool
    remaining_seconds: int
    total_questions: int
    total_marks: int


def attempt_start(*, user, exam_id: int) -> StartResult:
    """Start a new attempt of a published exam within its rules, or resume the user's ongoing one.

    `user` needs only its `pk` (a token's user will do): whether that account exists and is
    active is read here, with the exam, and refused with `errors.AccountUnusable`.
    """
    # A token may carry its user id as a string ("123"): as the column's type, or the proctors'
    # row would name the user {"id": "123"}.
    user_id = get_user_model()._meta.pk.to_python(user.pk)
    exam = _exam_for_start(user_id=user_id, exam_id=exam_id)
    if exam is None:
        raise errors.NotFound()
    if exam.user_active is None:
        raise errors.user_not_found()
    if not exam.user_active:
        raise errors.user_inactive()
    if not exam.is_published:
        raise errors.ExamNotPublished()

    ongoing = _ongoing_attempt(attempt_id=exam.ongoing_id, exam=exam) if exam.ongoing_id is not None else None
    if ongoing is not None:
        return _resume(ongoing, exam)
    try:
        attempt = _create_attempt(user_id=user_id, exam=exam)
    except _AlreadyOngoing as found:
        return _resume(found.attempt, exam)
    except IntegrityError:
        # Another request of the same user (or a proctor's reopen) won the one ongoing slot.
        ongoing = _ongoing_attempt(user_id=user_id, exam=exam)
        if ongoing is None:
            raise
        return _resume(ongoing, exam)
    return StartResult(
        attempt=attempt,
        created=True,
        remaining_seconds=clock.seconds_to(attempt.deadline_at),
        total_questions=exam.question_count,
        total_marks=exam.marks_total,
    )


def _exam_for_start_query(user_id: int, exam_id: int):
    """The one SELECT of `_exam_for_start`, as a queryset (compiled once: `attempts.prepared`)."""
    questions = Question.objects.filter(exam_id=OuterRef("pk")).order_by().values("exam_id")
    accommodation = (
        Accommodation.objects.filter(user_id=user_id)
        .filter(Q(exam_id=OuterRef("pk")) | Q(exam__isnull=True))
        .order_by(F("exam_id").asc(nulls_last=True))
    )
    return (
        Exam.objects.filter(pk=exam_id)
        .annotate(
            question_count=Coalesce(Subquery(questions.annotate(n=Count("pk")).values("n")), 0),
            marks_total=Coalesce(Subquery(questions.annotate(n=Sum("marks")).values("n")), 0),
            user_active=Subquery(get_user_model().objects.filter(pk=user_id).values("is_active")),
            ongoing_id=Subquery(
                Attempt.objects.filter(user_id=user_id, exam_id=OuterRef("pk"), status=Attempt.Status.ONGOING).values(
                    "pk"
                )[:1]
            ),
            acc_extra_minutes=Subquery(accommodation.values("extra_minutes")[:1]),
            acc_time_multiplier=Subquery(accommodation.values("time_multiplier")[:1]),
            acc_extra_attempts=Subquery(accommodation.values("extra_attempts")[:1]),
        )
        .values(*_EXAM_FIELDS, *_EXAM_FOR_START_EXTRAS)
    )


_EXAM_FIELDS = [field.attname for field in Exam._meta.concrete_fields]
_EXAM_FOR_START_EXTRAS = [
    "question_count",
    "marks_total",
    "user_active",
    "ongoing_id",
    "acc_extra_minutes",
    "acc_time_multiplier",
    "acc_extra_attempts",
]
_EXAM_FOR_START = Prepared(_exam_for_start_query)


def _exam_for_start(*, user_id: int, exam_id: int) -> Exam | None:
    """The exam with all a start reads before its transaction, in one SELECT (None: no such exam).

    Annotated: `question_count`, `marks_total`; the student's `user_active` (None: no such
    user); `ongoing_id` (their ongoing attempt, if any: looked for again under the lock); and
    their accommodation (`acc_*`, None without one), the exam's own row before the all-exams one.
    """
    row = _EXAM_FOR_START.first(user_id=user_id, exam_id=exam_id)
    if row is None:
        return None
    exam = Exam.from_db(DEFAULT_DB_ALIAS, _EXAM_FIELDS, [row[name] for name in _EXAM_FIELDS])
    for name in _EXAM_FOR_START_EXTRAS:
        setattr(exam, name, row[name])
    return exam


def _allowance(exam: Exam) -> policy.Allowance:
    """The student's accommodation as `_exam_for_start` read it (the rule of `selectors.allowance_for`)."""
    if exam.acc_extra_minutes is None:
        return policy.NO_ALLOWANCE
    return policy.Allowance(
        extra_minutes=exam.acc_extra_minutes,
        time_multiplier=exam.acc_time_multiplier,
        extra_attempts=exam.acc_extra_attempts,
    )


def _ongoing_attempt(*, exam: Exam, attempt_id: int | None = None, user_id: int | None = None) -> Attempt | None:
    """The ongoing attempt of this exam by id or by student, with `exam` attached (no second read of it)."""
    found = Attempt.objects.filter(exam_id=exam.pk, status=Attempt.Status.ONGOING)
    found = found.filter(pk=attempt_id) if attempt_id is not None else found.filter(user_id=user_id)
    attempt = found.first()
    if attempt is not None:
        attempt.exam = exam
    return attempt


def lock_student_row(user_id: int) -> str | None:
    """Lock the student's row: what orders their starts and a proctor's reopen of their attempts.

    Two starts then cannot both count the same attempts against `max_attempts`. And the
    one-ongoing-attempt index alone does not order a start against a reopen: each checks it for
    a duplicate under a shared lock and then waits for the other's, and MariaDB kills one as a
    deadlock (error 1213) instead of refusing the second with a duplicate key.

    Returns the student's username (None: no such user), which the proctors' row of a new
    attempt shows: read with the lock, it costs no statement of its own.
    """
    if not transaction.get_connection().in_atomic_block:  # as the ORM's own check: a lock outside one is no lock
        raise transaction.TransactionManagementError("lock_student_row() outside a transaction")
    row = _STUDENT_ROW_LOCK.first(user_id=user_id)
    return None if row is None else row["username"]


_STUDENT_ROW_LOCK = Prepared(
    lambda user_id: get_user_model().objects.select_for_update().filter(pk=user_id).values("username")
)


_STUDENTS_ATTEMPTS = Prepared(
    lambda user_id, exam_id: Attempt.objects.filter(user_id=user_id, exam_id=exam_id).order_by().values("id", "status")
)


class _AlreadyOngoing(Exception):
    """Under the student's lock an ongoing attempt turned up: resume it, rules or not."""

    def __init__(self, attempt: Attempt):
        super().__init__(attempt.pk)
        self.attempt = attempt


def _create_attempt(*, user_id: int, exam: Exam) -> Attempt:
    allowance = _allowance(exam)
    with transaction.atomic():
        username = lock_student_row(user_id)
        if username is None:
            raise errors.user_not_found()  # deleted since the first read
        # Looked for again under the lock: a second start (double click, two tabs) or a reopen that
        # committed meanwhile must be resumed, not counted against max_attempts and refused.
        # One read: how many (for max_attempts), and the ongoing one's id (a handful of rows at most).
        mine = _STUDENTS_ATTEMPTS.rows(user_id=user_id, exam_id=exam.pk)
        ongoing_id = next((row["id"] for row in mine if row["status"] == Attempt.Status.ONGOING), None)
        if ongoing_id is not None:
            ongoing = _ongoing_attempt(attempt_id=ongoing_id, exam=exam)
            if ongoing is not None:
                raise _AlreadyOngoing(ongoing)
        now = timezone.now()
        policy.check_can_start(
            now=now,
            opens_at=exam.opens_at,
            closes_at=exam.closes_at,
            max_attempts=exam.max_attempts,
            attempts_started=len(mine),
            allowance=allowance,
        )
        limit = policy.time_limit_seconds(duration_minutes=exam.duration_minutes, allowance=allowance)
        deadline_at = policy.deadline(started_at=now, limit_seconds=limit, closes_at=exam.closes_at)
        attempt = Attempt(
            # The user as far as the proctors' row needs it (id, username), without reading the row again.
            user=get_user_model()(pk=user_id, username=username),
            exam=exam,
            started_at=now,
            deadline_at=deadline_at,
            time_limit_seconds=round((deadline_at - now).total_seconds()),
        )
        attempt.save(force_insert=True)
        audit.record(attempt.pk, audit.Kind.STARTED, time_limit_seconds=attempt.time_limit_seconds)
        try:
            # Inside the transaction: if Redis refuses, the attempt is rolled back with it.
            timer.start(attempt.pk, clock.ms_until(attempt.deadline_at))
        except timer.TimerUnavailable as exc:
            logger.error("timer start failed for attempt %s: %s", attempt.pk, exc)
            raise errors.TimerStartFailed() from exc
        # Read now, announced after commit: the announcement costs the request no query.
        started = events.AttemptStarted(
            attempt_id=attempt.pk,
            exam_id=exam.pk,
            row=attempt_row(
                attempt,
                remaining_seconds=clock.seconds_to(attempt.deadline_at),
                answered=0,
                total_questions=exam.question_count,
            ),
        )
        events.announce_on_commit([started])
    return attempt


def _resume(attempt: Attempt, exam: Exam) -> StartResult:
    seconds = clock.attempt_reconcile(attempt=attempt)
    if attempt.status != Attempt.Status.ONGOING:
        raise errors.PreviousAttemptTimedOut()
    audit.record(attempt.pk, audit.Kind.RESUMED)
    return StartResult(
        attempt=attempt,
        created=False,
        remaining_seconds=seconds,
        total_questions=exam.question_count,
        total_marks=exam.marks_total,
    )
