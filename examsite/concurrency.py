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

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext

from examsite.gates import LoopGate


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` calls of `app` in flight, each on a slot thread; the others queue in
    arrival order."""

    def __init__(self, app, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._gate = LoopGate(limit)  # the order of arrival; a slot is free whenever it lets a request in
        self._free = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"http-slot-{n}") for n in range(limit)]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        async with self._gate.semaphore():
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
