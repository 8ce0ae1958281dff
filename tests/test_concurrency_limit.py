"""The per-process bound on HTTP requests in flight (examsite/concurrency.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async

from examsite.concurrency import ConcurrencyLimit

LIMIT = 3
REQUESTS = 10


def test_at_most_limit_requests_run_at_once_and_the_rest_start_in_arrival_order():
    in_flight = 0
    most = 0
    started: list[int] = []

    async def app(scope, receive, send):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        started.append(scope["n"])
        await scope["release"].wait()
        in_flight -= 1

    async def run():
        gate_open = asyncio.Event()
        limited = ConcurrencyLimit(app, limit=LIMIT)
        calls = [
            asyncio.create_task(limited({"type": "http", "n": n, "release": gate_open}, None, None))
            for n in range(REQUESTS)
        ]
        while len(started) < LIMIT:
            await asyncio.sleep(0.01)
        held = list(started)
        gate_open.set()
        await asyncio.wait_for(asyncio.gather(*calls), timeout=5)
        return held

    held = asyncio.run(run())

    assert held == list(range(LIMIT))  # the others waited
    assert most == LIMIT
    assert started == list(range(REQUESTS))


def test_websockets_are_not_counted():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    async def run():
        await ConcurrencyLimit(app, limit=1)({"type": "websocket"}, None, None)

    asyncio.run(run())
    assert seen == ["websocket"]


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        ConcurrencyLimit(lambda *args: None, limit=0)


def test_requests_run_their_sync_code_on_the_slots_threads_only():
    """Each slot keeps one thread, so a persistent database connection per slot is used again (CONN_MAX_AGE)."""
    threads: set[int] = set()

    def view():
        threads.add(threading.get_ident())

    async def app(scope, receive, send):
        # What Django's ASGI handler does around each request: a context of its own, unless one is set.
        async with ThreadSensitiveContext():
            await sync_to_async(view)()
            await sync_to_async(view)()

    async def run():
        limited = ConcurrencyLimit(app, limit=LIMIT)
        await asyncio.gather(*(limited({"type": "http"}, None, None) for _ in range(REQUESTS * 5)))

    asyncio.run(run())
    assert 1 <= len(threads) <= LIMIT
