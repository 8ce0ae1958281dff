"""The request pools' one try per call while Redis is down (`examsite.redis_pools`), on a private redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio

from examsite.redis_pools import (
    REQUEST_RETRY_SECONDS,
    async_pool_options,
    layer_host_options,
    sync_pool_options,
)
from tests.redis_server import PrivateRedis

# A call's one try on a refused connection took ~1 ms here; one that retries takes REQUEST_RETRY_SECONDS or more.
AT_ONCE_SECONDS = REQUEST_RETRY_SECONDS / 5


@pytest.fixture
def server():
    running = PrivateRedis().start()
    try:
        yield running
    finally:
        running.stop()


def _seconds_to_fail(call) -> float:
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        call()
    return time.monotonic() - started


def test_while_redis_is_down_one_call_waits_its_retries_and_the_next_fail_at_once(server):
    client = redis.Redis.from_url(server.url(), socket_connect_timeout=1, socket_timeout=1, **sync_pool_options())
    assert client.ping()
    port = server.port
    server.stop()

    first = _seconds_to_fail(lambda: client.get("k"))
    following = [_seconds_to_fail(lambda: client.get("k")) for _ in range(20)]
    print(f"\nfirst call {first:.3f} s, the next 20 at most {max(following):.4f} s each")
    assert first >= REQUEST_RETRY_SECONDS
    assert max(following) < AT_ONCE_SECONDS

    server.start(port=port)
    # The first call once the server answers gets through, and so do the next: no window to wait out.
    assert client.set("probe", "1") is True
    assert client.get("probe") == b"1"


def test_the_async_pool_fails_fast_too_and_the_layers_never_does(server):
    async def scenario():
        request = redis.asyncio.Redis.from_url(server.url(), **async_pool_options())
        layer = redis.asyncio.Redis.from_url(server.url(), **layer_host_options())
        assert await request.ping() and await layer.ping()
        port = server.port
        server.stop()
        timings = {}
        for name, client in (("request", request), ("layer", layer)):
            for attempt in ("first", "second"):
                started = time.monotonic()
                with pytest.raises(redis.ConnectionError):
                    await client.get("k")
                timings[name, attempt] = time.monotonic() - started
        server.start(port=port)
        timings["request", "back"] = await request.set("probe", "1")  # the first call once Redis answers
        await request.aclose()
        await layer.aclose()
        return timings

    timings = asyncio.run(scenario())
    print(f"\n{ {f'{name} {attempt}': round(seconds, 3) for (name, attempt), seconds in timings.items()} }")
    assert timings["request", "first"] >= REQUEST_RETRY_SECONDS
    assert timings["request", "second"] < AT_ONCE_SECONDS
    assert timings["request", "back"] is True
    # The channel layer's sockets ride over a restart: each of its calls retries, none fails fast.
    assert timings["layer", "second"] >= REQUEST_RETRY_SECONDS
