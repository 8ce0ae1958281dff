"""Finds attempts whose deadline has passed in the database and expires them.

Needed beside the notifications: Redis announces an untouched key only when its sampler
finds it (tens of seconds late with thousands of keys), and announcements made while no
worker listens are lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from attempts.expiry.batches import expire_each
from attempts.models import Attempt

# Attempts read per query: small enough that a mass timeout never holds one long transaction.
SWEEP_BATCH = 200
# Time one sweep may take before the worker gets back to its notifications and signals.
SWEEP_BUDGET_SECONDS = 1.0


def due_attempts(*, limit: int) -> list[tuple[int, datetime]]:
    """(id, deadline) of ongoing attempts whose deadline has passed, oldest first (index attempt_due_idx)."""
    rows = (
        Attempt.objects.filter(status=Attempt.Status.ONGOING, deadline_at__lte=timezone.now())
        .order_by("deadline_at")
        .values_list("pk", "deadline_at")[:limit]
    )
    return list(rows)


def sweep(*, batch: int = SWEEP_BATCH, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> tuple[int, bool]:
    """Expire due attempts batch by batch; returns (expired by us, more may be due)."""
    started = time.monotonic()
    expired = 0
    while True:
        rows = due_attempts(limit=batch)
        # Several workers read the same oldest rows: in another order each, they collide less.
        random.shuffle(rows)
        expired += expire_each(rows, path="sweep")
        if len(rows) < batch:
            return expired, False
        if time.monotonic() - started >= budget_seconds:
            return expired, True


def seconds_to_next_deadline() -> float | None:
    """Seconds until the earliest deadline of an ongoing attempt still ahead (index attempt_due_idx), or None."""
    now = timezone.now()
    upcoming = (
        Attempt.objects.filter(status=Attempt.Status.ONGOING, deadline_at__gt=now)
        .order_by("deadline_at")
        .values_list("deadline_at", flat=True)
        .first()
    )
    return None if upcoming is None else (upcoming - now).total_seconds()


def ongoing_due_among(attempt_ids: Iterable[int]) -> list[tuple[int, datetime]]:
    """(id, deadline) of those of `attempt_ids` that are still ongoing with their deadline passed."""
    ids = list(attempt_ids)
    if not ids:
        return []
    rows = Attempt.objects.filter(pk__in=ids, status=Attempt.Status.ONGOING, deadline_at__lte=timezone.now())
    return list(rows.values_list("pk", "deadline_at"))
