"""Reads: attempts as their owner sees them, and the proctor's rows of an exam."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from attempts import errors, policy
from attempts.models import Accommodation, Announcement, Answer, Attempt, Exam, Question
from attempts.scoring import results_of

# The proctor table shows every attempt that is ongoing or ended within the last hour.
PROCTOR_RECENT_WINDOW = timedelta(hours=1)


def attempt_for_user(*, user, attempt_id: int) -> Attempt:
    """The attempt, if it exists (404) and belongs to `user` (403)."""
    attempt = Attempt.objects.select_related("exam").filter(pk=attempt_id).first()
    if attempt is None:
        raise errors.NotFound()
    if attempt.user_id != user.pk:
        raise errors.NotYourAttempt()
    return attempt


# What a socket's connect reads of an attempt, its exam and its owner. Every column more costs the
# ORM's compiling and converting on the socket's thread: all of them, 487 us of CPU a read; these,
# without an ORDER BY, 323 us (bench/README.md, "Socket connects"). Others load when first used.
_SOCKET_FIELDS = (
    "id",
    "user_id",
    "exam_id",
    "status",
    "deadline_at",
    "exam__warning_minutes",
    "user__id",
    "user__is_active",
    "user__password",  # SimpleJWT's CHECK_REVOKE_TOKEN compares its hash
)


def attempt_with_owner(*, attempt_id: int) -> Attempt | None:
    """The attempt with its exam and its user, in one query (None: there is none); the caller checks the owner."""
    query = Attempt.objects.select_related("exam", "user").only(*_SOCKET_FIELDS).filter(pk=attempt_id)
    return next(iter(query[:1]), None)  # the primary key: no ORDER BY needed, unlike first()


def attempt_row(attempt: Attempt, *, remaining_seconds: int, answered: int, total_questions: int) -> dict:
    """One attempt as the proctor table shows it (snapshot row, `attempt_started`)."""
    return {
        "attempt_id": attempt.pk,
        "user": {"id": attempt.user_id, "username": attempt.user.username},
        "status": attempt.status,
        "remaining_seconds": remaining_seconds,
        "answered": answered,
        "total_questions": total_questions,
        "started_at": attempt.started_at.isoformat(),
        "deadline_at": attempt.deadline_at.isoformat(),
        "score": attempt.score,
        "time_limit_seconds": attempt.time_limit_seconds,
        "change_seconds": attempt.change_seconds,
        **presence_of(attempt),
    }


def presence_of(attempt: Attempt, *, now: datetime | None = None) -> dict:
    """A proctor row's presence keys: `connected`, `offline_seconds`, `offline_since`, `offline_credited_seconds`."""
    ongoing = attempt.status == Attempt.Status.ONGOING
    connected = ongoing and attempt.connected
    offline_since = None
    if ongoing and not connected:
        offline_since = (attempt.presence_changed_at or attempt.started_at).isoformat()
    return {
        "connected": connected,
        "offline_seconds": offline_seconds_of(attempt, now=now),
        "offline_since": offline_since,
        "offline_credited_seconds": attempt.offline_credited_seconds,
    }


def offline_seconds_of(attempt: Attempt, *, now: datetime | None = None) -> int:
    """Whole seconds the attempt was ongoing with no socket open, from its start."""
    return offline_ms_of(attempt, now=now) // 1000


def offline_ms_of(attempt: Attempt, *, now: datetime | None = None) -> int:
    """Milliseconds the attempt was ongoing with no socket open, from its start (`policy.offline_ms`)."""
    return policy.offline_ms(
        offline_ms_closed=attempt.offline_ms,
        connected=attempt.connected,  # an attempt that ended with a socket open ended online
        changed_at=attempt.presence_changed_at,
        started_at=attempt.started_at,
        ended_at=None if attempt.status == Attempt.Status.ONGOING else attempt.ended_at,
        now=now or timezone.now(),
    )


@dataclass(frozen=True)
class ProctorView:
    exam_id: int
    exam_title: str
    rows: list[dict]


def proctor_view(*, exam_id: int) -> ProctorView:
    """Every attempt of an exam that is ongoing or ended in the last hour, as proctor rows; NotFound for no exam."""
    # Imported here: the clock reconciles through the services, which read through this module.
    from attempts.clock import seconds_left_many

    exam = Exam.objects.filter(pk=exam_id).only("title").first()
    if exam is None:
        raise errors.NotFound()
    attempts = list(
        Attempt.objects.filter(exam_id=exam_id)
        .filter(Q(status=Attempt.Status.ONGOING) | Q(ended_at__gte=timezone.now() - PROCTOR_RECENT_WINDOW))
        .select_related("user")
        .annotate(answered=Count("answers"))
        .order_by("started_at", "pk")
    )
    total_questions = Question.objects.filter(exam_id=exam_id).count()
    left = seconds_left_many(attempts)
    rows = [
        attempt_row(
            attempt, remaining_seconds=left[attempt.pk], answered=attempt.answered, total_questions=total_questions
        )
        for attempt in attempts
    ]
    return ProctorView(exam_id=exam_id, exam_title=exam.title, rows=rows)


@dataclass(frozen=True)
class OwnAttempts:
    exam_id: int
    exam_title: str
    attempts: list[dict]


def attempts_of_user(*, user, exam_id: int) -> OwnAttempts:
    """Every attempt of `user` at an exam, newest first, with the result of each ended one; NotFound for no exam.

    What the exam page asks before it starts anything: a student who comes back after a
    timeout sees that result first, and starts again only on request.
    """
    from attempts.clock import seconds_left_many  # here: see proctor_view

    exam = Exam.objects.filter(pk=exam_id).only("title").first()
    if exam is None:
        raise errors.NotFound()
    attempts = list(Attempt.objects.filter(user=user, exam_id=exam_id).order_by("-started_at", "-pk"))
    left = seconds_left_many(attempts)
    results = results_of(attempts)
    rows = []
    for attempt in attempts:
        ended = attempt.status != Attempt.Status.ONGOING
        result = results[attempt.pk]
        rows.append(
            {
                "attempt_id": attempt.pk,
                "status": attempt.status,
                "started_at": attempt.started_at,
                "deadline_at": attempt.deadline_at,
                "ended_at": attempt.ended_at,
                "remaining_seconds": left[attempt.pk],
                "score": result.score if ended else None,
                "total_marks": result.total_marks,
                "percentage": result.percentage if ended else None,
            }
        )
    return OwnAttempts(exam_id=exam_id, exam_title=exam.title, attempts=rows)


def questions_of(attempt: Attempt) -> list[Question]:
    """The questions of the attempt's exam, in order."""
    return list(Question.objects.filter(exam_id=attempt.exam_id).order_by("id"))


def saved_answers_of(attempt: Attempt) -> dict[str, str]:
    """The saved choices of an attempt, keyed by question id as a string."""
    rows = Answer.objects.filter(attempt_id=attempt.pk).values_list("question_id", "selected_option")
    return {str(question_id): option for question_id, option in rows}


def allowance_for(*, user_id: int, exam_id: int) -> policy.Allowance:
    """The student's accommodation for this exam: its own row, else the all-exams row, else none."""
    rows = Accommodation.objects.filter(user_id=user_id).filter(Q(exam_id=exam_id) | Q(exam__isnull=True))
    best = min(rows, key=lambda row: row.exam_id is None, default=None)  # False sorts first: the per-exam row
    if best is None:
        return policy.NO_ALLOWANCE
    return policy.Allowance(
        extra_minutes=best.extra_minutes, time_multiplier=best.time_multiplier, extra_attempts=best.extra_attempts
    )


def announcements_of(exam_id: int) -> list[dict]:
    """The exam's announcements, oldest first, as `questions` lists them."""
    rows = Announcement.objects.filter(exam_id=exam_id).order_by("created_at", "pk")
    return [
        {"id": row.pk, "exam_id": row.exam_id, "message": row.message, "created_at": row.created_at} for row in rows
    ]


@dataclass(frozen=True)
class SinceMoment:
    """What attempts' sockets were told since a moment: announcements per exam, choices saved per attempt."""

    announcements: dict[int, list[Announcement]]  # exam id -> its announcements, oldest first
    answers: dict[int, list[tuple[int, str]]]  # attempt id -> (question id, selected option), as stored now


def published_since(*, attempts: dict[int, int], since: datetime) -> SinceMoment:
    """What was announced to these attempts' sockets (attempt id -> exam id) at or after `since` (a lost
    channel-layer group's catch-up): two queries, whatever the number of attempts."""
    announcements: dict[int, list[Announcement]] = {}
    rows = Announcement.objects.filter(exam_id__in=set(attempts.values()), created_at__gte=since)
    for row in rows.order_by("created_at", "pk"):
        announcements.setdefault(row.exam_id, []).append(row)
    answers: dict[int, list[tuple[int, str]]] = {}
    saved = Answer.objects.filter(attempt_id__in=list(attempts), saved_at__gte=since).order_by("saved_at", "pk")
    for attempt_id, question_id, option in saved.values_list("attempt_id", "question_id", "selected_option"):
        answers.setdefault(attempt_id, []).append((question_id, option))
    return SinceMoment(announcements=announcements, answers=answers)
