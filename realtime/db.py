"""The sockets' database calls: a few threads of their own, each keeping its connection, no ping before each call.

Channels' `database_sync_to_async` runs every call of every socket of a process on one thread,
and before and after each it closes obsolete connections, which with `CONN_HEALTH_CHECKS` makes
the next query ping first. A connect then cost three round trips on that one thread (ping,
the read, the timer's TTL), each waiting for the GIL that the event loop holds: 100 connects in
flight queued ~1 s behind each other, 90-170 connects/s with the process half idle
(bench/README.md, "Socket connects").

Here the calls run on `SOCKET_DB_THREADS` threads, so round trips overlap, and a call pings
nothing: a connection is trusted until it fails. When a call fails with a database error and
the connection turns out to be dead (MariaDB restarted, KILL, `wait_timeout`), it is closed and
the call runs once more on a new one (tests/faults/test_db_connections.py). That is safe because
every socket call is a read or an idempotent transition (expire a due attempt, restore a lost
timer) that ran in a transaction of its own and was rolled back with the connection. A
connection past `CONN_MAX_AGE` is closed after the call, as a request's would be.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.SOCKET_DB_THREADS, thread_name_prefix="socket-db")


def socket_db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` as a coroutine function that runs on the sockets' database threads (see the module's note)."""
    return SyncToAsync(functools.partial(_call, func), thread_sensitive=False, executor=_pool())


def _call(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        try:
            return func(*args, **kwargs)
        except DatabaseError:
            if connection.in_atomic_block or connection.connection is None or connection.is_usable():
                raise  # a real error, not a connection the server dropped
            logger.info("socket database connection lost; reconnecting once")
            connection.close()
            return func(*args, **kwargs)
    finally:
        _close_if_obsolete()


def _close_if_obsolete() -> None:
    """Close this thread's connection after errors that broke it, or past CONN_MAX_AGE; never pings a good one."""
    if connection.connection is None:
        return
    if connection.errors_occurred or (connection.close_at is not None and time.monotonic() >= connection.close_at):
        connection.close_if_unusable_or_obsolete()
