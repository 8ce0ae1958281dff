"""Timers, /healthz and the worker's check through Redis Sentinel: they reach the primary it names, and name it."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.core.cache import caches
from rest_framework.test import APIClient

from attempts import rate_limits, timer
from attempts.expiry.notifications import ensure_expired_events
from tests.scale.sentinel_group import MASTER, SentinelGroup

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]


def health() -> tuple[int, dict]:
    response = APIClient().get("/healthz")
    return response.status_code, response.json()


def test_timers_are_on_the_primary_that_the_sentinels_name(sentinel_redis: SentinelGroup):
    timer.start(7, 30_000)

    assert 29_000 < sentinel_redis.primary.client(db=1).pttl(timer.key_for(7)) <= 30_000
    assert timer.node() == sentinel_redis.primary.address
    assert health() == (
        200,
        {"status": "ok", "checks": {"database": "ok", "redis": "ok", "keyspace_notifications": "ok"}},
    )


def test_events_off_on_the_primary_are_named_and_turned_on_there(sentinel_redis: SentinelGroup):
    primary = sentinel_redis.primary
    primary.client().config_set("notify-keyspace-events", "")

    status, body = health()
    assert status == 503
    assert body["checks"]["keyspace_notifications"] == f"off at {primary.address}"
    assert ensure_expired_events() == f"turned on with CONFIG SET at {primary.address}"
    assert health()[0] == 200


def test_a_dead_primary_is_named_until_sentinel_replaces_it(sentinel_redis: SentinelGroup):
    old = sentinel_redis.primary.address
    sentinel_redis.kill_primary()

    status, body = health()  # well inside the 1 s before the sentinels count it down
    assert status == 503
    assert body["checks"]["redis"].startswith(f"error at {old}: ")

    sentinel_redis.wait_for_failover(timeout=20)
    status, body = health()
    # The replica was started with events off: named, until a worker sets them there.
    assert (status, body["checks"]["keyspace_notifications"]) == (503, f"off at {sentinel_redis.replica.address}")


def test_the_cache_is_on_the_primary_too(sentinel_redis: SentinelGroup):
    cache = caches["default"]
    cache.set("sentinel-probe", "here", timeout=30)

    assert cache.get("sentinel-probe") == "here"
    keys = sentinel_redis.primary.client(db=3).keys("*sentinel-probe")
    assert len(keys) == 1


def test_passwords_on_the_servers_and_on_the_sentinels(sentinel_redis_with_passwords: SentinelGroup):
    group = sentinel_redis_with_passwords
    timer.start(8, 30_000)
    caches["default"].set("sentinel-probe", "here", timeout=30)

    assert 29_000 < group.primary.client(db=1).pttl(timer.key_for(8)) <= 30_000
    assert caches["default"].get("sentinel-probe") == "here"
    assert health()[0] == 200
    # Without the sentinels' password nobody learns where the primary is.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=group.sentinels[0].port).sentinel_get_master_addr_by_name(MASTER)


def test_the_rate_limits_count_on_the_primary_too(sentinel_redis: SentinelGroup, settings):
    """The per-user budgets live in the cache's database: through the sentinels, not at the master's name."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "remaining": "2/30s"}

    async def three_hits():
        return [(await rate_limits.ahit("remaining", 41)).allowed for _ in range(3)]

    assert asyncio.run(three_hits()) == [True, True, False]
    assert sentinel_redis.primary.client(db=3).keys("*")  # the counter is on the primary
