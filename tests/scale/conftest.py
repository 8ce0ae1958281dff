"""Fixtures of the scale tests: the e2e `cluster`, and a Redis Sentinel deployment that the whole stack uses.

Run with `pytest -m scale tests/scale`; each test starts its own Redis processes on free loopback ports.
"""

from __future__ import annotations

import pytest
from channels.layers import channel_layers

from examsite.redis_target import RedisTarget, Sentinels
from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401  (fixture and hook re-used)
from tests.e2e.servers import subprocess_env
from tests.scale.sentinel_group import MASTER, SentinelGroup

# Redis databases of the stack, as on one server (docs/operations.md).
TIMER_DB, LAYER_DB, CACHE_DB = 1, 2, 3


def _url(db: int) -> str:
    # Under Sentinel the host of a URL is the master's name: only its database (and password) is used.
    return f"redis://{MASTER}/{db}"


@pytest.fixture
def sentinel_redis(settings, timer_prefix, channel_layer_prefix, cluster):  # noqa: F811  (the fixture imported above)
    """A primary, a replica and three sentinels of this test alone; the test process and every server
    process started through `cluster` reach timers, layer and cache through the sentinels."""
    group = SentinelGroup()
    try:
        group.start()
        sentinels = Sentinels(tuple(("127.0.0.1", node.port) for node in group.sentinels), MASTER)
        saved = (settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES)
        settings.REDIS_SENTINELS, settings.REDIS_SENTINEL_MASTER = sentinels.addresses, MASTER
        settings.REDIS_SENTINEL_PASSWORD = ""
        settings.REDIS_URL, settings.CHANNEL_LAYER_URL = _url(TIMER_DB), _url(LAYER_DB)
        layer = settings.CHANNEL_LAYERS["default"]
        host_options = {key: value for key, value in layer["CONFIG"]["hosts"][0].items() if key != "address"}
        host = RedisTarget(_url(LAYER_DB), sentinels).layer_host(**host_options)
        settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
        cache = settings.CACHES["default"]
        settings.CACHES = {"default": {**cache, **RedisTarget(_url(CACHE_DB), sentinels).cache(**cache["OPTIONS"])}}
        channel_layers.backends.clear()
        cluster.env = subprocess_env(
            REDIS_SENTINELS=group.sentinel_addresses, REDIS_SENTINEL_MASTER=MASTER, CACHE_URL=_url(CACHE_DB)
        )
        yield group
    finally:
        # The servers first (they use this Redis), then the settings go back before `timer_prefix` cleans up.
        cluster.stop_all()
        settings.REDIS_SENTINELS = ()
        if "saved" in locals():
            settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES = saved
        channel_layers.backends.clear()
        group.stop()
