"""The request pools' fail-fast while Redis is down (`examsite.redis_pools`), on a private redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio

from examsite.redis_pools import (
    FAIL_FAST_SECONDS,
    REQUEST_RETRY_SECONDS,
    async_pool_options,
    layer_host_options,
    sync_pool_options,
)
from tests.helpers import wait_until
from tests.redis_server import PrivateRedis

# A call that fails at once took ~1 ms here; one that retries takes REQUEST_RETRY_SECONDS or more.
AT_ONCE_SECONDS = REQUEST_RETRY_SECONDS / 5
# From the server answering again to the client answering: the rest of a fail-fast window, then one
# call's first try; the bound adds a loaded machine's slack.
RECOVERY_BOUND_SECONDS = FAIL_FAST_SECONDS + REQUEST_RETRY_SECONDS + 1.0


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


def _answers(client: redis.Redis) -> bool:
    try:
        return client.set("probe", "1") is True
    except redis.ConnectionError:
        return False


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
    answering = time.monotonic()
    wait_until(lambda: _answers(client), timeout=RECOVERY_BOUND_SECONDS, what="the client answering again")
    print(f"answering again {time.monotonic() - answering:.3f} s after the server")
    # Once one call got through, the window is over for every connection of the pool.
    assert client.get("probe") == b"1"


def test_the_async_pool_fails_fast_too_and_the_layers_never_does(server):
    async def scenario():
        request = redis.asyncio.Redis.from_url(server.url(), **async_pool_options())
        layer = redis.asyncio.Redis.from_url(server.url(), **layer_host_options())
        assert await request.ping() and await layer.ping()
        server.stop()
        timings = {}
        for name, client in (("request", request), ("layer", layer)):
            for attempt in ("first", "second"):
                started = time.monotonic()
                with pytest.raises(redis.ConnectionError):
                    await client.get("k")
                timings[name, attempt] = time.monotonic() - started
        await request.aclose()
        await layer.aclose()
        return timings

    timings = asyncio.run(scenario())
    print(f"\n{ {f'{name} {attempt}': round(seconds, 3) for (name, attempt), seconds in timings.items()} }")
    assert timings["request", "first"] >= REQUEST_RETRY_SECONDS
    assert timings["request", "second"] < AT_ONCE_SECONDS
    # The channel layer's sockets ride over a restart: each of its calls retries, none fails fast.
    assert timings["layer", "second"] >= REQUEST_RETRY_SECONDS
