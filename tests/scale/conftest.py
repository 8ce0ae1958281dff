"""Fixtures of the scale-out tests: a real Redis Cluster for the timers, beside the e2e tests' servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import cluster, pytest_runtest_makereport  # noqa: F401 (the servers of a test)
from tests.scale.redis_cluster_nodes import RedisClusterNodes


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
