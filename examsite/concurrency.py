"""A bound on the HTTP requests one server process runs at once.

Django's ASGI handler runs each request's view on a thread of its own, each with its own
database connection. A burst of slow requests (2,000 starts in 10 s on a busy machine) grew
hundreds of threads and connections until MariaDB refused more ("Too many connections",
1040) and most starts failed (bench/README.md). The Python code of the views shares one GIL,
so more than a few at once adds no throughput: the rest wait here, in the event loop, at
the cost of a coroutine each.
"""

from __future__ import annotations

from examsite.gates import LoopGate


class ConcurrencyLimit:
    """ASGI middleware: at most `limit` calls of `app` in flight; the others queue in arrival order."""

    def __init__(self, app, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._gate = LoopGate(limit)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        async with self._gate.semaphore():
            return await self.app(scope, receive, send)
