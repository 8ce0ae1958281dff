"""Writes back the Redis timers of ongoing attempts that Redis lost (restart, flush, failover)."""

from __future__ import annotations

import redis
from django.utils import timezone

from attempts import clock, redis_cluster, timer
from attempts.models import Attempt

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
        restored += clock.restore_lost([row for row in rows if seconds_left[row[0]] is None])
        if len(rows) < chunk:
            break
    return len(restored)


def redis_run_id() -> str | None:
    """The id of the running Redis server: it changes when Redis restarts (and loses its keys).

    On a cluster, the ids of all primaries: it changes too when a replica takes over (and may lack
    the last writes of the primary it replaced).
    """
    try:
        if timer.on_cluster():
            return redis_cluster.run_ids(timer.client())
        return timer.client().info("server").get("run_id")
    except redis.ResponseError:  # INFO forbidden (some managed Redis): the periodic restore still runs
        return None
