"""Makes sure Redis announces expired timer keys (`notify-keyspace-events` with E and x)."""

from __future__ import annotations

import logging
import time

import redis

from attempts import redis_cluster, timer

logger = logging.getLogger(__name__)

# How long a probe waits for the expired event of its own key: Redis sends it within milliseconds.
PROBE_WAIT_SECONDS = 2.0

HOW_TO_ENABLE = (
    "Set notify-keyspace-events to include E and x (for example 'Ex') on that Redis server (under Sentinel "
    "on every server that can become the primary; on a cluster on every node of it, replicas too): "
    "in redis.conf ('notify-keyspace-events Ex'), with 'redis-cli CONFIG SET notify-keyspace-events Ex' "
    "(add 'CONFIG REWRITE' to keep it across restarts), or, on managed Redis that forbids CONFIG, in the "
    "service's own settings (AWS ElastiCache: the cluster's parameter group; Azure Cache for Redis: "
    "Advanced settings > Keyspace notifications; Google Memorystore: the redis config "
    "'notify-keyspace-events'). Then start the expiry worker again."
)


class NotificationsUnavailable(Exception):
    """Redis does not publish expired-key events and this process may not turn them on."""


def ensure_expired_events() -> str:
    """Turn expired-key events on if needed; returns how they were found on, and on which servers (host:port).

    Raises NotificationsUnavailable naming the server. Every timer server is checked: the one Redis (under
    Sentinel the primary of the moment: CONFIG SET is not replicated, so the worker calls this again after
    every failover), or each primary of a cluster.
    """
    where = timer.node()
    try:
        off = timer.nodes_without_notifications()
        if off or timer.on_cluster():  # on a cluster the replicas too, which a failover may promote
            timer.enable_notifications()
        if not off:
            return f"already on at {where}"
        return f"turned on with CONFIG SET at {', '.join(off)}"
    except redis.ResponseError as exc:
        # CONFIG is renamed or forbidden (managed Redis): the operator may have set the flags
        # in the service's console, so ask Redis itself whether it sends the events.
        silent = [name for name, node in timer.nodes() if not _probe(name, node)]
        if not silent:
            return f"confirmed by a probe key at {where} (CONFIG unavailable: {exc})"
        raise NotificationsUnavailable(
            f"Redis at {', '.join(silent)} does not publish expired-key events, and CONFIG is refused ({exc}). "
            f"{HOW_TO_ENABLE}"
        ) from exc


def probe_expired_events() -> bool:
    """True when an expiring key of ours makes every timer server publish an `expired` event."""
    return all(_probe(name, node) for name, node in timer.nodes())


def _probe(name: str, client: redis.Redis) -> bool:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    # On a cluster, a key of a slot this node owns: each node announces only its own keys.
    key = redis_cluster.probe_key_on(timer.client(), name, timer.probe_key) if timer.on_cluster() else timer.probe_key()
    try:
        pubsub.subscribe(timer.expired_channel())
        client.set(key, "probe", px=1)
        deadline = time.monotonic() + PROBE_WAIT_SECONDS
        while time.monotonic() < deadline:
            client.exists(key)  # reading a due key deletes it at once, which emits the event
            message = pubsub.get_message(timeout=0.1)
            if message and message.get("data") == key:
                return True
        return False
    finally:
        client.delete(key)
        pubsub.close()
