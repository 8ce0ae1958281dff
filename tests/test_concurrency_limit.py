"""The per-process bound on HTTP requests in flight (examsite/concurrency.py)."""

from __future__ import annotations

import asyncio

import pytest

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
