"""Expiring due attempts in batches through the idempotent service, with one log line for each."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache

from django.db import close_old_connections

from attempts import services

# Expiries in flight at once per worker process (each thread holds one database connection).
EXPIRY_THREADS = 4


# Attempts expired per transaction when several are due at once: a mass timeout of 1,000 took
# 5-10 s one attempt at a time (a dozen round trips each), and a batch costs about what one did.
EXPIRY_BATCH = 50


def expire_each(rows: Iterable[tuple[int, datetime]], *, path: str) -> int:
    """Expire each (attempt id, deadline); logs and counts only the ones this process won."""
    rows = list(rows)
    # Batches on several threads: a mass timeout neither queues behind one connection nor
    # holds thousands of row locks in one transaction. One batch runs right here.
    batches = [rows[start : start + EXPIRY_BATCH] for start in range(0, len(rows), EXPIRY_BATCH)]
    if len(batches) <= 1:
        return sum(_expire_batch(batch, path=path) for batch in batches)
    return sum(_pool().map(lambda batch: _expire_batch(batch, path=path), batches))


def _expire_batch(rows: list[tuple[int, datetime]], *, path: str) -> int:
    # The pool's threads keep their connection from one batch to the next (no request cycle
    # closes it), as Django's request signals do for a request: before, so that one the server
    # dropped (restart, KILL, wait_timeout) is found by the health check's ping and replaced
    # instead of failing with "server has gone away" (tests/faults/test_mariadb_restart.py);
    # after, so that one past CONN_MAX_AGE or broken by an error is closed.
    close_old_connections()
    try:
        # Logs each attempt it ends, with how late it was.
        return len(services.attempts_expire_many(attempt_ids=[attempt_id for attempt_id, _ in rows], path=path))
    finally:
        close_old_connections()


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=EXPIRY_THREADS, thread_name_prefix="expire")
