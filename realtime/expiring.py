"""Expiring attempts one by one through the idempotent service, with one log line for each."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache

from django.db import connection
from django.utils import timezone

from attempts import services

logger = logging.getLogger("realtime.expiry")

# Expiries in flight at once per worker process (each thread holds one database connection).
EXPIRY_THREADS = 4


def expire_each(rows: Iterable[tuple[int, datetime]], *, path: str) -> int:
    """Expire each (attempt id, deadline); logs and counts only the ones this process won."""
    rows = list(rows)
    if len(rows) <= 1:
        return sum(_expire_one(row, path=path) for row in rows)
    # Each expiry waits on a dozen database and Redis round trips: several at once keep a
    # mass timeout from queueing behind one connection.
    return sum(_pool().map(lambda row: _expire_one(row, path=path), rows))


def _expire_one(row: tuple[int, datetime], *, path: str) -> bool:
    attempt_id, deadline_at = row
    _drop_dead_connection()
    try:
        # One transaction per attempt: a mass timeout never holds thousands of row locks,
        # and each attempt's events go out as soon as its own commit is done.
        if not services.attempt_expire(attempt_id=attempt_id):
            return False
    finally:
        if connection.errors_occurred:  # a database that went away: reconnect on the next call
            connection.close_if_unusable_or_obsolete()
    late_ms = round((timezone.now() - deadline_at).total_seconds() * 1000)
    logger.info("expired attempt=%d late_ms=%d path=%s", attempt_id, late_ms, path)
    return True


def _drop_dead_connection() -> None:
    """Close this thread's database connection if the server dropped it (restart, wait_timeout)."""
    # The pool's threads keep their connection from one batch to the next (no request cycle
    # closes it): after a database restart its first query would fail with "Lost connection"
    # or "server has gone away". One ping finds that out first (tests/faults/test_mariadb_restart.py).
    if connection.connection is not None and not connection.is_usable():
        connection.close()


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=EXPIRY_THREADS, thread_name_prefix="expire")
