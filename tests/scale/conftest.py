"""Fixtures of the scale tests: the e2e `cluster`, a Redis Sentinel deployment that the whole stack uses, and a
Redis Cluster for the timers.

Run with `pytest -m scale tests/scale`; each test starts its own Redis processes on free loopback ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from channels.layers import channel_layers

from examsite.redis_target import RedisTarget, Sentinels
from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401  (fixture and hook re-used)
from tests.e2e.servers import subprocess_env
from tests.scale.redis_cluster_nodes import RedisClusterNodes
from tests.scale.sentinel_group import MASTER, SentinelGroup

# Redis databases of the stack, as on one server (docs/operations.md).
TIMER_DB, LAYER_DB, CACHE_DB = 1, 2, 3


def _url(db: int, password: str = "") -> str:
    # Under Sentinel the host of a URL is the master's name: only its database (and password) is used.
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{MASTER}/{db}"


def _use(group: SentinelGroup, settings, servers) -> None:
    """Point this test process, and the processes that `servers` (a Cluster) starts, at `group`."""
    addresses = tuple(("127.0.0.1", node.port) for node in group.sentinels)
    sentinels = Sentinels(addresses, MASTER, group.sentinel_password)
    settings.REDIS_SENTINELS, settings.REDIS_SENTINEL_MASTER = sentinels.addresses, MASTER
    settings.REDIS_SENTINEL_PASSWORD = group.sentinel_password
    settings.REDIS_URL, settings.CHANNEL_LAYER_URL = _url(TIMER_DB, group.password), _url(LAYER_DB, group.password)
    layer = settings.CHANNEL_LAYERS["default"]
    host_options = {key: value for key, value in layer["CONFIG"]["hosts"][0].items() if key != "address"}
    host = RedisTarget(settings.CHANNEL_LAYER_URL, sentinels).layer_host(**host_options)
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
    cache = settings.CACHES["default"]
    target = RedisTarget(_url(CACHE_DB, group.password), sentinels)
    settings.CACHES = {"default": {**cache, **target.cache(**cache["OPTIONS"])}}
    channel_layers.backends.clear()
    servers.env = subprocess_env(
        REDIS_SENTINELS=group.sentinel_addresses,
        REDIS_SENTINEL_MASTER=MASTER,
        REDIS_SENTINEL_PASSWORD=group.sentinel_password,
        CACHE_URL=target.url,
    )


@contextmanager
def _sentinel_stack(settings, servers, **passwords: str) -> Iterator[SentinelGroup]:
    group = SentinelGroup(**passwords)
    saved = (settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES)
    try:
        group.start()
        _use(group, settings, servers)
        yield group
    finally:
        # The servers first (they use this Redis), then the settings go back before `timer_prefix` cleans up.
        servers.stop_all()
        settings.REDIS_SENTINELS = ()
        settings.REDIS_URL, settings.CHANNEL_LAYER_URL, settings.CHANNEL_LAYERS, settings.CACHES = saved
        channel_layers.backends.clear()
        group.stop()


@pytest.fixture
def sentinel_redis(settings, timer_prefix, channel_layer_prefix, cluster):  # noqa: F811  (the fixture imported above)
    """A primary, a replica and three sentinels of this test alone; the test process and every server
    process started through `cluster` reach timers, layer and cache through the sentinels."""
    with _sentinel_stack(settings, cluster) as group:
        yield group


@pytest.fixture
def sentinel_redis_with_passwords(settings, timer_prefix, channel_layer_prefix, cluster):  # noqa: F811
    """The same with a password on the data servers and another on the sentinels."""
    with _sentinel_stack(settings, cluster, password="data-secret", sentinel_password="sentinel-secret") as group:
        yield group


@pytest.fixture
def timers_on_cluster(settings) -> Iterator[Callable[..., RedisClusterNodes]]:
    """Start a Redis Cluster (`timers_on_cluster(primaries=3, replicas=0)`) and put the timers on it,
    in this process and in every server the test starts; stopped, and the settings put back, afterwards."""
    started: list[RedisClusterNodes] = []
    previous = settings.REDIS_CLUSTER_NODES

    def start(*, primaries: int = 3, replicas: int = 0) -> RedisClusterNodes:
        nodes = RedisClusterNodes(primaries=primaries, replicas=replicas).start()
        started.append(nodes)
        settings.REDIS_CLUSTER_NODES = (
            nodes.names
        )  # every node, as a deployment lists them: any one that answers finds the rest
        return nodes

    yield start
    # Put back before the timer-prefix fixture cleans up on the shared Redis.
    settings.REDIS_CLUSTER_NODES = previous
    for nodes in started:
        nodes.stop()
