"""Bulk data straight into the database and Redis: users, exams, attempts, timers, JWTs.

Much faster than the REST API (10k attempts in seconds), and what is measured is the
server under load, not how fast the bench can fill it. Runs in the orchestrator process
after django.setup().
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from attempts import timer
from attempts.models import Attempt, Exam, Question

USERNAME_PREFIX = "bench-g-"
QUESTIONS_PER_EXAM = 5
# Far above any seeded or started attempt id: "other live timers" never collide with a real attempt.
FILLER_ID_BASE = 1_000_000_000
REDIS_CHUNK = 5000


def users(count: int) -> list[int]:
    """Ids of `count` active bench students (created once, reused by later runs)."""
    User = get_user_model()
    existing = list(
        User.objects.filter(username__startswith=USERNAME_PREFIX).order_by("pk").values_list("pk", flat=True)[:count]
    )
    missing = count - len(existing)
    if missing > 0:
        start = User.objects.filter(username__startswith=USERNAME_PREFIX).count()
        User.objects.bulk_create(
            [User(username=f"{USERNAME_PREFIX}{start + i}", password="!", is_active=True) for i in range(missing)],
            batch_size=2000,
        )
        existing = list(
            User.objects.filter(username__startswith=USERNAME_PREFIX)
            .order_by("pk")
            .values_list("pk", flat=True)[:count]
        )
    return existing


def exam(title: str, duration_minutes: int = 120) -> int:
    """A published exam with a few questions; a new one per phase, so the same users can start again."""
    with transaction.atomic():
        created = Exam.objects.create(title=title, duration_minutes=duration_minutes, is_published=True)
        Question.objects.bulk_create(
            [
                Question(
                    exam=created,
                    text=f"Question {n}",
                    option_a="a",
                    option_b="b",
                    option_c="c",
                    option_d="d",
                    correct_option="A",
                )
                for n in range(QUESTIONS_PER_EXAM)
            ]
        )
    return created.pk


def attempts(exam_id: int, user_ids: list[int], deadlines: list[float]) -> list[int]:
    """Ongoing attempts, one per (user, deadline as Unix seconds), with their Redis timers; their ids."""
    now = datetime.now(UTC)
    rows = [
        Attempt(
            user_id=user_id,
            exam_id=exam_id,
            started_at=now,
            deadline_at=datetime.fromtimestamp(deadline, UTC),
            time_limit_seconds=max(0, round(deadline - now.timestamp())),
        )
        for user_id, deadline in zip(user_ids, deadlines, strict=True)
    ]
    Attempt.objects.bulk_create(rows, batch_size=2000)
    ids = list(Attempt.objects.filter(exam_id=exam_id).order_by("pk").values_list("pk", flat=True))
    by_user = dict(Attempt.objects.filter(exam_id=exam_id).values_list("user_id", "pk"))
    ordered = [by_user[user_id] for user_id in user_ids]
    assert len(ids) == len(ordered)
    write_timers(ordered, deadlines)
    return ordered


def write_timers(attempt_ids: list[int], deadlines: list[float]) -> None:
    """The Redis timer of each attempt, expiring at its deadline (pipelined, in chunks)."""
    client = timer.client()
    for start in range(0, len(attempt_ids), REDIS_CHUNK):
        pipe = client.pipeline(transaction=False)
        for attempt_id, deadline in zip(
            attempt_ids[start : start + REDIS_CHUNK], deadlines[start : start + REDIS_CHUNK], strict=True
        ):
            # PXAT, not PX: an absolute expiry lands exactly on the deadline however long the
            # pipeline takes; a relative one would expire a few ms late, and a ticker reading
            # in those ms would show the previous second (a whole second of "lateness").
            pipe.set(timer.key_for(attempt_id), math.ceil(deadline - time.time()), pxat=round(deadline * 1000))
        pipe.execute()


def filler_timers(count: int, ttl_seconds: int) -> list[int]:
    """`count` live timer keys of no attempt: the "other live timers" Redis must sample through."""
    ids = list(range(FILLER_ID_BASE, FILLER_ID_BASE + count))
    deadline = time.time() + ttl_seconds
    write_timers(ids, [deadline] * count)
    return ids


def tokens(user_ids: list[int]) -> dict[int, str]:
    """An access token per user, minted directly (no login round trip, no login throttle)."""
    lifetime = timedelta(hours=2)
    minted = {}
    for user_id in user_ids:
        token = AccessToken()
        token.set_exp(lifetime=lifetime)
        token["user_id"] = str(user_id)
        minted[user_id] = str(token)
    return minted


def delete_exams(exam_ids: list[int]) -> None:
    """Remove a phase's exams (attempts, answers and audit rows cascade): the next phase starts from a small table.

    The attempts are locked first: a daphne process still writing an audit row (a socket's
    `disconnected`, a timer restored) otherwise added it between the collector's reads and its
    DELETEs, and the attempt's DELETE failed on it (MariaDB 1451). Locked, such a write waits
    for the delete and then finds no attempt.
    """
    with transaction.atomic():
        list(Attempt.objects.select_for_update().filter(exam_id__in=exam_ids).values_list("pk", flat=True))
        Exam.objects.filter(pk__in=exam_ids).delete()


def cleanup_redis(prefixes: list[tuple[str, str]]) -> int:
    """Delete every key of ours: (Redis URL, key prefix) pairs; SCAN + UNLINK, never FLUSHDB."""
    import redis

    deleted = 0
    for url, prefix in prefixes:
        client = redis.Redis.from_url(url)
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
        client.close()
    return deleted
