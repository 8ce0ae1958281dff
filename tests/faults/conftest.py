"""Fixtures of the fault tests: the e2e `cluster`, a private Redis for the whole stack, a private MariaDB.

The shared Redis (6379) and MariaDB (3306) serve every engineer's tests at once: a test that
stops, restarts or empties a server does it to one of its own, started here on a free port.
"""

from __future__ import annotations

import pytest
from channels.layers import channel_layers

from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401  (fixture and hook re-used)
from tests.faults.mariadb_server import PrivateMariaDB, mariadb_unavailable_reason
from tests.redis_server import PrivateRedis

# Redis databases of the stack on one server, as in production (docs/operations.md).
TIMER_DB, LAYER_DB, CACHE_DB = 1, 2, 3


@pytest.fixture
def private_redis(settings, timer_prefix, channel_layer_prefix):
    """A redis-server of this test alone, empty and without persistence, that the test process
    and every server process it starts use for timers, the channel layer and the cache.

    Request it BEFORE `cluster`, so that the servers are stopped before this Redis goes away.
    """
    server = PrivateRedis().start()
    saved = settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES
    settings.REDIS_URL = server.url(TIMER_DB)
    settings.CHANNEL_LAYER_URL = server.url(LAYER_DB)
    settings.CHANNEL_LAYERS = {
        name: {
            **layer,
            "CONFIG": {**layer["CONFIG"], "hosts": [{**layer["CONFIG"]["hosts"][0], "address": server.url(LAYER_DB)}]},
        }
        for name, layer in settings.CHANNEL_LAYERS.items()
    }
    settings.CACHES = {name: {**cache, "LOCATION": server.url(CACHE_DB)} for name, cache in settings.CACHES.items()}
    channel_layers.backends.clear()
    try:
        yield server
    finally:
        # Back on the shared servers before `timer_prefix` cleans up there.
        settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES = saved
        channel_layers.backends.clear()
        server.stop()


@pytest.fixture
def private_mariadb():
    """A mariadbd of this test alone (root without password), on a free port; removed afterwards."""
    reason = mariadb_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PrivateMariaDB()
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()
        server.cleanup()
