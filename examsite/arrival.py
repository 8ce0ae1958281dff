"""When the server received a request: the moment the deadline is judged against.

The rule: an answer counts only if the server receives it before the deadline. A request that
arrived in time may still wait for a worker thread (`examsite/concurrency.py`) or the row
lock; judging it by the clock at that later moment would refuse answers that were in time.
The stamp is taken when the whole body has arrived, so a client cannot send the headers
before the deadline and choose its answer after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

SCOPE_KEY = "received_at"


class StampArrival:
    """ASGI middleware: reads the whole HTTP body, stamps `scope["received_at"]`, then calls `app`."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        _body, replay = await read_body(receive)
        return await self.app({**scope, SCOPE_KEY: datetime.now(UTC)}, replay, send)


async def read_body(receive) -> tuple[bytes, Callable[[], Awaitable[dict]]]:
    """Wait for a request's whole body; returns it and a `receive` that replays it to the app behind."""
    buffered = []
    while True:
        message = await receive()
        buffered.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(message.get("body", b"") for message in buffered)

    async def replay():
        return buffered.pop(0) if buffered else await receive()

    return body, replay


def received_at(request) -> datetime:
    """When the server received `request` (now, for a request that did not come through ASGI)."""
    scope = getattr(request, "scope", None) or {}
    return scope.get(SCOPE_KEY) or datetime.now(UTC)
