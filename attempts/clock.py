"""An attempt's time left, and what to do when its timer is missing: the one home of both.

Reads never write: `seconds_to`, `seconds_left_many` answer from the Redis timers and fall back
to `deadline_at`, the permanent record, where a timer is missing or Redis is down.

Reconciling is a named write: a timer missing before the deadline was lost (Redis restarted
or was flushed) and is restored with the time left; a timer missing after it ran out, and the
attempt is expired (idempotent, whoever else does it). The REST views, the sockets, the ticker
and the expiry worker's restorer all reconcile through here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from attempts import audit, timer
from attempts.models import Attempt
from attempts.services.expire import attempts_expire_many, held_open

logger = logging.getLogger(__name__)

# Due attempts expired per transaction when many timers vanish together (short row locks).
RECONCILE_BATCH = 50


def ms_until(moment: datetime, *, now: datetime | None = None) -> int:
    """Whole milliseconds from `now` (default: this instant) to `moment`; negative once it passed."""
    return math.floor((moment - (now or timezone.now())).total_seconds() * 1000)


def seconds_to(deadline_at: datetime, *, now: datetime | None = None) -> int:
    """Seconds left until `deadline_at`, rounded up as the Redis timers are; 0 once it passed."""
    return max(0, math.ceil(ms_until(deadline_at, now=now) / 1000))


def seconds_left_many(attempts: Iterable[Attempt]) -> dict[int, int]:
    """Seconds left of each attempt (0 once ended), from its timer or else its deadline; reads only."""
    attempts = list(attempts)
    ongoing = [attempt.pk for attempt in attempts if attempt.status == Attempt.Status.ONGOING]
    try:
        from_timers = timer.remaining_many(ongoing)
    except timer.TimerUnavailable:
        from_timers = {}  # the permanent record answers instead, below
    now = timezone.now()
    left = {}
    for attempt in attempts:
        if attempt.status != Attempt.Status.ONGOING:
            left[attempt.pk] = 0
            continue
        seconds = from_timers.get(attempt.pk)
        left[attempt.pk] = seconds_to(attempt.deadline_at, now=now) if seconds is None else seconds
    return left


def attempt_reconcile(*, attempt: Attempt) -> int:
    """Seconds left of an attempt, after settling a missing timer: restored before the deadline, expired after it.

    Updates `attempt` when it turns out to be over. While Redis is unreachable the answer
    comes from `deadline_at`, and nothing is written.
    """
    if attempt.status != Attempt.Status.ONGOING:
        return 0
    if ms_until(attempt.deadline_at) <= 0:
        attempts_expire_many(attempt_ids=[attempt.pk])
        attempt.refresh_from_db()
        # Still ongoing with time left: read before a proctor moved the deadline; go on from the new one.
        if attempt.status != Attempt.Status.ONGOING or ms_until(attempt.deadline_at) <= 0:
            return 0
    try:
        seconds = timer.remaining(attempt.pk)
        if seconds is not None:
            return seconds
        if not restore_lost([(attempt.pk, attempt.deadline_at)]):
            attempt.refresh_from_db()  # ended meanwhile by another process, or a timer came back
            if attempt.status != Attempt.Status.ONGOING:
                return 0
    except timer.TimerUnavailable:
        pass
    return seconds_to(attempt.deadline_at)


def attempts_reconcile_many(*, due_ids: list[int], other_ids: list[int]) -> dict[int, Attempt | None]:
    """Settle the missing timers of many attempts at once; each attempt as it now stands (None: gone).

    `due_ids` are those whose deadline the caller saw pass. All of one ticker pass together:
    one by one meant thousands of database round trips when a whole exam ran out at once.
    """
    # A plain read first: the expiry worker has usually ended them already, and locking their
    # rows again only to find that out queued the ticker and the worker behind each other.
    running = Attempt.objects.filter(pk__in=due_ids, status=Attempt.Status.ONGOING).values_list("pk", flat=True)
    # From the highest id down, while the worker's sweep takes the oldest deadlines, lowest ids
    # first: a safety net that meets the worker in the middle instead of on the same rows.
    # (Each batch still locks its rows in key order: no deadlock either way.)
    due = sorted(running, reverse=True)
    for start in range(0, len(due), RECONCILE_BATCH):
        # Idempotent: a no-op for the attempts a worker expired first.
        attempts_expire_many(attempt_ids=due[start : start + RECONCILE_BATCH], path="ticker")
    attempts = Attempt.objects.select_related("exam").in_bulk([*due_ids, *other_ids])
    for attempt in attempts.values():
        if attempt.status == Attempt.Status.ONGOING:
            # Restores a key lost before the deadline; expires the attempt if the deadline moved and passed.
            attempt_reconcile(attempt=attempt)
    return {attempt_id: attempts.get(attempt_id) for attempt_id in [*due_ids, *other_ids]}


def ends_of_due(attempt_ids: list[int]) -> dict[int, str | None]:
    """How each due attempt ends ("timeout"/"completed"), or None where that is not decided yet; reads only.

    An attempt still ongoing past its deadline ends as `timeout` unless a request received
    before the deadline still holds it (a submit in the queue may yet complete it), so
    without a hold its end is decided before the transaction that records it. A deadline
    that moved ahead is not due.
    """
    now = timezone.now()  # before the holds: see attempts_expire_many
    held = held_open(attempt_ids)
    rows = Attempt.objects.filter(pk__in=attempt_ids).values_list("pk", "status", "deadline_at")
    ends: dict[int, str | None] = {}
    for attempt_id, status, deadline_at in rows:
        if status == Attempt.Status.ONGOING:
            decided = deadline_at <= now and attempt_id not in held
            ends[attempt_id] = Attempt.Status.TIMEOUT if decided else None
        else:
            ends[attempt_id] = status
    return ends


def restore_lost(rows: list[tuple[int, datetime]]) -> list[int]:
    """Write back the missing timers of these (attempt id, deadline) pairs; the ids whose timer was written.

    SET NX leaves a timer written meanwhile by a start or another process alone, and an
    attempt that ended between our read and our write has its timer cleared again, so a
    stray key never outlives its attempt.
    """
    restored = []
    for attempt_id, deadline_at in rows:
        left_ms = ms_until(deadline_at)
        if left_ms > 0 and timer.restore(attempt_id, left_ms):
            restored.append(attempt_id)
            logger.warning("timer was lost; restored attempt=%d remaining_ms=%d", attempt_id, left_ms)
    if restored:
        ended = Attempt.objects.filter(pk__in=restored).exclude(status=Attempt.Status.ONGOING)
        ended_ids = set(ended.values_list("pk", flat=True))
        if ended_ids:
            timer.clear_many(ended_ids)
            restored = [attempt_id for attempt_id in restored if attempt_id not in ended_ids]
        left_ms = {attempt_id: ms_until(deadline_at) for attempt_id, deadline_at in rows}
        audit.record_many(
            restored, audit.Kind.TIMER_RESTORED, data_of=lambda attempt_id: {"remaining_ms": left_ms[attempt_id]}
        )
    return restored
