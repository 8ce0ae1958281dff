"""A bound on the HTTP requests one server process runs at once, each on a slot thread that keeps its connection.

Django's ASGI handler runs each request's view on a thread of its own, each with its own
database connection. A burst of slow requests (2,000 starts in 10 s on a busy machine) grew
hundreds of threads and connections until MariaDB refused more ("Too many connections",
1040) and most starts failed (bench/README.md). The Python code of the views shares one GIL,
so more than a few at once adds no throughput: the rest wait here, in the event loop, at
the cost of a coroutine each.

Why persistent connections (`CONN_MAX_AGE` > 0) are safe here: Django keeps one connection per
thread, and by default a request's thread is new (asgiref starts one for each request's
`ThreadSensitiveContext` and drops it after), so a kept connection would be left behind by its
dead thread, one per request. Here a request runs inside a context whose executor is one of
`limit` long-lived single-thread executors (a slot): every thread-sensitive call of the
request (the view, the request signals that close obsolete connections, `response.close`)
runs on the slot's one thread, one request at a time, and its connection is used again by the
next request of that slot. So a process holds at most `limit` connections for HTTP, and
`CONN_HEALTH_CHECKS` pings a kept connection before a request's first query, so a connection
the database dropped (restart, `wait_timeout`, KILL) is replaced instead of failing the request.

A task created inside a request inherits its context; asgiref refuses (RuntimeError) the
thread-sensitive calls of such a task once its request has ended, rather than running them on
a slot another request is using. Work that outlives a request must start from a clean context
(`asyncio.create_task(..., context=contextvars.Context())`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext

from examsite.gates import LoopGate

# The scope key of the request's user (set by `attempts.apis.fair_share` from the bearer token).
USER_KEY = "fair_share_user"


def user_share(limit: int) -> int:
    """Slots one user's requests may hold at once: a quarter of them, at least one."""
    return max(1, limit // 4)


class UserShares:
    """One semaphore of `share` per user with requests in flight on this event loop, dropped when the last one ends.

    A user's requests past their share wait here, behind each other, before they join the queue
    for a slot: one client with 50 requests in flight holds at most `share` slots, and everybody
    else's requests find the others free (issue: one student's 50 `remaining` in flight took
    five other students from p99 41 to 432 ms).
    """

    def __init__(self, share: int) -> None:
        self.share = share
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = weakref.WeakKeyDictionary()

    @contextlib.asynccontextmanager
    async def held(self, user):
        if user is None:
            yield
            return
        users = self._per_loop.setdefault(asyncio.get_running_loop(), {})
        entry = users.get(user)
        if entry is None:
            entry = users[user] = [asyncio.Semaphore(self.share), 0]  # semaphore, requests using it
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del users[user]


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` calls of `app` in flight, each on a slot thread; the others queue in
    arrival order, and one user's requests hold at most `per_user` slots at once (default `user_share(limit)`)."""

    def __init__(self, app, *, limit: int, per_user: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self._gate = LoopGate(limit)  # the order of arrival; a slot is free whenever it lets a request in
        self._users = UserShares(max(1, min(limit, per_user or user_share(limit))))
        self._free = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"http-slot-{n}") for n in range(limit)]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        async with self._users.held(scope.get(USER_KEY)), self._gate.semaphore():
            if not self._free:
                # Only when several event loops share this middleware (each has a gate of `limit`):
                # Django's own thread per request, as without slots.
                return await self.app(scope, receive, send)
            slot = self._free.pop()
            try:
                # Django's own per-request ThreadSensitiveContext then finds this one and adds none.
                async with ThreadSensitiveContext(executor=slot):
                    return await self.app(scope, receive, send)
            finally:
                self._free.append(slot)
