"""The per-process bound on HTTP requests in flight (examsite/concurrency.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async

from examsite.concurrency import USER_KEY, ConcurrencyLimit, user_share

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


def test_one_user_holds_at_most_a_quarter_of_the_slots_and_the_others_pass_their_queue():
    """8 slots: the flooder's 20 requests hold 2; another user's request starts at once."""
    running: dict[str, int] = {"flooder": 0, "other": 0}
    most = {"flooder": 0, "other": 0}
    other_started = asyncio.Event()

    async def app(scope, receive, send):
        user = scope[USER_KEY]
        running[user] += 1
        most[user] = max(most[user], running[user])
        if user == "other":
            other_started.set()
        else:
            await scope["release"].wait()
        running[user] -= 1

    async def run():
        release = asyncio.Event()
        limited = ConcurrencyLimit(app, limit=8)
        flood = [
            asyncio.create_task(limited({"type": "http", USER_KEY: "flooder", "release": release}, None, None))
            for _ in range(20)
        ]
        await asyncio.sleep(0)  # every flooder request has queued first
        other = asyncio.create_task(limited({"type": "http", USER_KEY: "other"}, None, None))
        await asyncio.wait_for(other_started.wait(), timeout=5)
        release.set()
        await asyncio.wait_for(asyncio.gather(*flood, other), timeout=5)

    asyncio.run(run())
    assert user_share(8) == 2 and user_share(1) == 1
    assert most == {"flooder": 2, "other": 1}
