"""Timers on a Redis Cluster (`REDIS_CLUSTER_NODES`): the clients, and what must run once per node.

On a cluster each timer key lives on the primary that owns its slot (the key name is the contract,
so no hash tag groups them): a read of many keys is one request per primary, sent to all at once;
expired-key events, their flags and the run id are per node. `attempts.timer` asks this module for
all of that and keeps one interface for both topologies. The presence registry's keys share one
hash tag (`attempts.presence`), so its scripts run unchanged on the primary of that slot.
"""

from __future__ import annotations

import asyncio
import hashlib
from functools import cache

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.cluster import ClusterNode

from examsite.redis_pools import HEALTH_CHECK_SECONDS

# The keys come as ARGV, not KEYS: declared keys of one script must share a slot, and the flag lets the
# script touch keys of every slot this node owns. A key of another node (a stale slot map) is an error,
# and that node's keys are read again through a cluster pipeline, which follows MOVED.
_PTTL_ON_NODE_SCRIPT = """#!lua flags=allow-cross-slot-keys
local ttls = {}
for i, key in ipairs(ARGV) do ttls[i] = redis.call('PTTL', key) end
return table.concat(ttls, ',')
"""
_PTTL_ON_NODE_SHA = hashlib.sha1(_PTTL_ON_NODE_SCRIPT.encode()).hexdigest()


def startup_nodes(nodes: tuple[str, ...]) -> list[ClusterNode]:
    """`host:port` strings as redis-py's startup nodes (any reachable one finds the rest)."""
    out = []
    for node in nodes:
        host, _, port = node.strip().rpartition(":")
        out.append(ClusterNode(host or "127.0.0.1", int(port)))
    return out


def _options(socket_timeout: float) -> dict:
    # No Retry object of ours: the cluster client retries on its own (reconnect, MOVED, a failover's
    # new slot map), and redis-py refuses one per node in cluster mode.
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "decode_responses": True,
    }


@cache
def client_for(nodes: tuple[str, ...], socket_timeout: float) -> redis.cluster.RedisCluster:
    """The synchronous cluster client of these startup nodes (one per process)."""
    return redis.cluster.RedisCluster(startup_nodes=startup_nodes(nodes), **_options(socket_timeout))


def new_client(nodes: tuple[str, ...], socket_timeout: float) -> redis.cluster.RedisCluster:
    """A cluster client of its own (the expiry listener's: its subscriptions must not share a pool)."""
    return redis.cluster.RedisCluster(startup_nodes=startup_nodes(nodes), **_options(socket_timeout))


def async_client_for(nodes: tuple[str, ...], socket_timeout: float) -> redis.asyncio.cluster.RedisCluster:
    """A new asyncio cluster client (the caller keeps one per event loop)."""
    return redis.asyncio.cluster.RedisCluster(startup_nodes=startup_nodes(nodes), **_options(socket_timeout))


def primaries(client: redis.cluster.RedisCluster) -> list[tuple[str, redis.Redis]]:
    """(host:port, a client of that node alone) for every primary the client knows, by name."""
    return sorted((node.name, client.get_redis_connection(node)) for node in client.get_primaries())


def replicas(client: redis.cluster.RedisCluster) -> list[tuple[str, redis.Redis]]:
    """(host:port, a client of that node alone) for every replica the client knows, by name."""
    return sorted((node.name, client.get_redis_connection(node)) for node in client.get_replicas())


def refresh_topology(client: redis.cluster.RedisCluster) -> bool:
    """Ask the cluster who owns the slots now; True (and the client's map reloaded) when the primaries changed.

    The client reloads its map by itself only when a command hits a moved slot or a dead node: a
    replica promoted by CLUSTER FAILOVER leaves the old primary answering, as a replica that sends no
    expired events, and nothing would tell the listener.
    """
    slots = client.cluster_slots()  # {(start, end): {"primary": (host, port), ...}}
    owners = {f"{entry['primary'][0]}:{entry['primary'][1]}" for entry in slots.values()}
    known = {node.name for node in client.get_primaries()}
    if owners == known:
        return False
    client.nodes_manager.initialize(disconnect_startup_nodes_pools=False)
    return True


def probe_key_on(client: redis.cluster.RedisCluster, node_name: str, make_key) -> str:
    """A key from `make_key()` whose slot `node_name` owns (a few tries: the slots are spread evenly)."""
    for _ in range(10_000):
        key = make_key()
        if client.get_node_from_key(key).name == node_name:
            return key
    raise redis.RedisError(f"no probe key found for node {node_name}")


def node_of(client: redis.cluster.RedisCluster, key: str) -> str:
    """host:port of the primary that owns `key`'s slot, as the client's map says."""
    return client.get_node_from_key(key).name


def run_ids(client: redis.cluster.RedisCluster) -> str:
    """The run ids of every primary, one string: it changes when a primary restarts or another takes over."""
    parts = [f"{name}={node.info('server').get('run_id')}" for name, node in primaries(client)]
    return ",".join(parts)


async def apttl_many(client: redis.asyncio.cluster.RedisCluster, keys: list[str]) -> list[int]:
    """PTTL of each key (-2 none, -1 no TTL): one script per primary, all primaries at once."""
    await client.initialize()  # the slot map, once per client (a no-op after the first call)
    by_node: dict[str, tuple[object, list[int]]] = {}
    for index, key in enumerate(keys):
        node = client.get_node_from_key(key)
        by_node.setdefault(node.name, (node, []))[1].append(index)
    replies = await asyncio.gather(
        *(_apttl_on_node(client, node, [keys[i] for i in indexes]) for node, indexes in by_node.values())
    )
    ttls = [0] * len(keys)
    for (_, indexes), reply in zip(by_node.values(), replies, strict=True):
        for index, ttl in zip(indexes, reply, strict=True):
            ttls[index] = ttl
    return ttls


async def _apttl_on_node(client: redis.asyncio.cluster.RedisCluster, node, keys: list[str]) -> list[int]:
    try:
        try:
            reply = await client.execute_command("EVALSHA", _PTTL_ON_NODE_SHA, 0, *keys, target_nodes=node)
        except redis.exceptions.NoScriptError:  # a new or restarted node: EVAL caches it there
            reply = await client.execute_command("EVAL", _PTTL_ON_NODE_SCRIPT, 0, *keys, target_nodes=node)
        return [int(ms) for ms in reply.split(",")]
    except redis.ResponseError:
        # A key this node no longer owns (slots moved, a failover): one PTTL per key through the
        # cluster's pipeline, which follows the new owner and reloads the client's slot map.
        async with client.pipeline() as pipe:
            for key in keys:
                pipe.pttl(key)
            return [int(ms) for ms in await pipe.execute()]
