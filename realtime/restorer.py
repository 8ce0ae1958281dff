"""Writes back the Redis timers of ongoing attempts that Redis lost (restart, flush, failover)."""

from __future__ import annotations

import logging
import math

import redis
from django.utils import timezone

from attempts import timer
from attempts.models import Attempt

logger = logging.getLogger("realtime.expiry")

# Attempts checked per pipelined PTTL read: one round trip each, a few hundred KB at most.
RESTORE_CHUNK = 1000


def restore_lost_timers(*, chunk: int = RESTORE_CHUNK) -> int:
    """Restore every missing timer of an ongoing attempt whose deadline is ahead; returns how many."""
    restored: list[int] = []
    last_id = 0
    while True:
        rows = list(
            Attempt.objects.filter(status=Attempt.Status.ONGOING, deadline_at__gt=timezone.now(), pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "deadline_at")[:chunk]
        )
        if not rows:
            break
        last_id = rows[-1][0]
        seconds_left = timer.remaining_many(attempt_id for attempt_id, _ in rows)
        for attempt_id, deadline_at in rows:
            if seconds_left[attempt_id] is not None:
                continue
            left_ms = math.floor((deadline_at - timezone.now()).total_seconds() * 1000)
            # SET NX: a timer written meanwhile by a start or another worker is left alone.
            if left_ms > 0 and timer.restore(attempt_id, left_ms):
                restored.append(attempt_id)
                logger.warning("restored lost timer attempt=%d remaining_ms=%d", attempt_id, left_ms)
        if len(rows) < chunk:
            break
    _clear_ended(restored)
    return len(restored)


def _clear_ended(attempt_ids: list[int]) -> None:
    # An attempt submitted between our read and our write must not keep a key.
    if not attempt_ids:
        return
    for attempt_id in (
        Attempt.objects.filter(pk__in=attempt_ids).exclude(status=Attempt.Status.ONGOING).values_list("pk", flat=True)
    ):
        timer.clear(attempt_id)


def redis_run_id() -> str | None:
    """The id of the running Redis server: it changes when Redis restarts (and loses its keys)."""
    try:
        return timer.client().info("server").get("run_id")
    except redis.ResponseError:  # INFO forbidden (some managed Redis): the periodic restore still runs
        return None
