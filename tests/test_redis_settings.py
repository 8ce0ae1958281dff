"""The Redis settings read from the environment: the design document's variables, Sentinel, a sharded layer.

Each case imports the settings module in a fresh interpreter with its own environment (settings are read once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.servers import ROOT

REDIS_VARIABLES = (
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_SENTINEL_PASSWORD",
    "CHANNEL_LAYER_URL",
    "CHANNEL_LAYER_HOSTS",
    "CACHE_URL",
    "REDIS_CLUSTER_NODES",
)

_PRINT = """
import json
import examsite.settings as s
layer = s.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
cache = s.CACHES["default"]
print(json.dumps({
    "timers": s.REDIS_URL,
    "sentinels": s.REDIS_SENTINELS,
    "layer": [{k: v for k, v in host.items() if k in ("address", "sentinels", "master_name", "db", "password")}
              for host in layer],
    "layer_sentinel_password": [host.get("sentinel_kwargs", {}).get("password") for host in layer],
    "layer_retries": [type(host["retry"]).__name__ for host in layer],
    "cache": cache["LOCATION"],
    "cache_pool": getattr(cache["OPTIONS"].get("pool_class"), "__name__", None),
    "cache_master": cache["OPTIONS"].get("service_name"),
    "cache_retry": type(cache["OPTIONS"]["retry"]).__name__,
}))
"""


def settings_with(**variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in REDIS_VARIABLES}
    env.update(variables)
    return subprocess.run([sys.executable, "-c", _PRINT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def read(**variables: str) -> dict:
    result = settings_with(**variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_design_documents_variables_when_redis_url_is_unset():
    got = read(REDIS_HOST="10.0.0.5", REDIS_PORT="6380", REDIS_PASSWORD="p@ss/word", REDIS_DB="4")

    assert got["timers"] == "redis://:p%40ss%2Fword@10.0.0.5:6380/4"
    # The layer and the cache on the same server, in databases of their own, with the same retries.
    assert got["layer"] == [{"address": "redis://:p%40ss%2Fword@10.0.0.5:6380/2"}]
    assert got["cache"] == "redis://:p%40ss%2Fword@10.0.0.5:6380/3"
    assert got["layer_retries"] == ["AsyncTimeBoundRetry"] and got["cache_retry"] == "TimeBoundRetry"


def test_redis_url_wins_over_the_parts():
    got = read(REDIS_URL="redis://127.0.0.1:6390/1", REDIS_HOST="10.0.0.5")

    assert got["timers"] == "redis://127.0.0.1:6390/1"
    assert got["layer"] == [{"address": "redis://127.0.0.1:6390/2"}]


def test_sentinel_for_timers_layer_and_cache():
    got = read(
        REDIS_SENTINELS="10.0.0.1:26379, 10.0.0.2:26379,10.0.0.3:26380",
        REDIS_SENTINEL_MASTER="exams",
        REDIS_SENTINEL_PASSWORD="s3cret",
        REDIS_PASSWORD="data",
    )

    addresses = [["10.0.0.1", 26379], ["10.0.0.2", 26379], ["10.0.0.3", 26380]]
    assert got["sentinels"] == addresses
    assert got["timers"] == "redis://:data@exams:6379/1"  # the host is the master's name, never dialled
    assert got["layer"] == [{"sentinels": addresses, "master_name": "exams", "db": 2, "password": "data"}]
    assert got["layer_sentinel_password"] == ["s3cret"]
    assert got["layer_retries"] == ["AsyncTimeBoundRetry"]
    assert (got["cache_pool"], got["cache_master"], got["cache_retry"]) == (
        "SentinelConnectionPool",
        "exams",
        "TimeBoundRetry",
    )


def test_a_sharded_channel_layer():
    got = read(CHANNEL_LAYER_HOSTS="redis://10.0.0.7:6379/0,redis://10.0.0.8:6379/0")

    assert got["layer"] == [{"address": "redis://10.0.0.7:6379/0"}, {"address": "redis://10.0.0.8:6379/0"}]
    assert got["layer_retries"] == ["AsyncTimeBoundRetry", "AsyncTimeBoundRetry"]
    assert got["timers"] == "redis://127.0.0.1:6379/1"  # timers stay where they were


def test_a_malformed_sentinel_list_stops_start_up_naming_it():
    result = settings_with(REDIS_SENTINELS="10.0.0.1:26379,no-port")

    assert result.returncode != 0
    assert "ImproperlyConfigured: REDIS_SENTINELS: 'no-port' is not host:port" in result.stderr


def test_a_malformed_cluster_node_list_stops_start_up_naming_it():
    """Not a ValueError (a 500) on every timer call later."""
    result = settings_with(REDIS_CLUSTER_NODES="10.0.0.1:7000,redis-a")

    assert result.returncode != 0
    assert "ImproperlyConfigured: REDIS_CLUSTER_NODES: 'redis-a' is not host:port" in result.stderr
