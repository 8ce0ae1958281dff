"""The attempt ids of timer keys that Redis reports expired: one pub/sub connection, or one per cluster primary."""

from __future__ import annotations

import redis
import redis.retry
from django.conf import settings
from redis.backoff import NoBackoff

from attempts import redis_cluster, timer
from examsite import redis_target

# Pings on an idle subscription: finds a dead connection (no RST, e.g. a failed-over host).
HEALTH_CHECK_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 2.0


class ExpiredKeyListener:
    """Subscribes to the timer database's `expired` events; `receive` returns attempt ids.

    On a cluster (`REDIS_CLUSTER_NODES`) redis-py's ClusterKeyspaceNotifications subscribes on every
    primary (keyspace events are per node, replicas send none); `follow_topology` moves the
    subscriptions to the primaries of the moment after a failover.
    """

    def __init__(self) -> None:
        self._pubsub: redis.client.PubSub | None = None
        # Held for the pub/sub's lifetime: a collected client closes its pool, and with it the subscription.
        self._client: redis.Redis | None = None
        self.node = ""  # host:port of the server subscribed to (under Sentinel: the primary of the moment)
        self._cluster = None  # the cluster's notifications (redis.keyspace_notifications), on a cluster
        self._cluster_client = None

    @property
    def connected(self) -> bool:
        return self._pubsub is not None or self._cluster is not None

    def connect(self) -> None:
        """Open the subscription; raises a redis error when Redis does not answer."""
        self.close()
        if timer.on_cluster():
            self._connect_cluster()
            return
        # No socket timeout: a subscription is silent while nothing expires, and a read
        # timeout would tear it down every few seconds. Waiting is bounded by get_message.
        # No retry either: redis-py would reconnect a broken subscription by itself and resubscribe,
        # under Sentinel on a new primary, unseen by the worker, which must then check that primary's
        # notify-keyspace-events and sweep what was lost meanwhile. A broken connection is the worker's to see.
        client = redis_target.timers().sync_client(
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_SECONDS,
            decode_responses=True,
            retry=redis.retry.Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(timer.expired_channel())
            connection = pubsub.connection
            self.node = f"{connection.host}:{connection.port}" if connection is not None else ""
        except Exception:
            pubsub.close()
            client.close()
            raise
        self._client, self._pubsub = client, pubsub

    def _connect_cluster(self) -> None:
        # A client of its own: its node pools hold the subscriptions, out of the way of the timers' commands.
        client = redis_cluster.new_client(tuple(settings.REDIS_CLUSTER_NODES), CONNECT_TIMEOUT_SECONDS)
        notifications = client.keyspace_notifications()
        try:
            notifications.subscribe(timer.expired_channel())
            # Subscribing is best effort in redis-py (a node that fails is logged); this raises instead.
            notifications.refresh_subscriptions()
        except Exception:
            notifications.close()
            client.close()
            raise
        self._cluster_client, self._cluster = client, notifications
        self.node = ",".join(self.subscribed_nodes())  # every primary heard, for the worker's log line

    def follow_topology(self) -> bool:
        """On a cluster: subscribe on the primaries of now (new ones, and ones whose connection broke), drop the
        rest; True when the primaries changed. Raises a redis error when a primary cannot be subscribed."""
        if self._cluster is None:
            return False
        changed = redis_cluster.refresh_topology(self._cluster_client)
        self._cluster.refresh_subscriptions()
        return changed

    def subscribed_nodes(self) -> list[str]:
        """host:port of each server this listener hears (tests and logs)."""
        if self._cluster is not None:
            return sorted(self._cluster._node_pubsubs)  # redis-py keeps no public list of them
        if self._client is not None:
            kwargs = self._client.connection_pool.connection_kwargs
            return [f"{kwargs.get('host')}:{kwargs.get('port')}"]
        return []

    def _receive_cluster(self, *, timeout: float, limit: int) -> list[int]:
        ids: list[int] = []
        notification = self._cluster.get_message(timeout=timeout)
        while notification is not None:
            attempt_id = timer.attempt_id_from_key(notification.key) if notification.event_type == "expired" else None
            if attempt_id is not None:
                ids.append(attempt_id)
            if len(ids) >= limit:
                break
            notification = self._cluster.get_message(timeout=0)
        return ids

    def receive(self, *, timeout: float, limit: int) -> list[int]:
        """Attempt ids of keys expired since the last call: waits up to `timeout` for the first, then drains."""
        if self._cluster is not None:
            return self._receive_cluster(timeout=timeout, limit=limit)
        if self._pubsub is None:
            raise redis.ConnectionError("listener is not connected")
        ids: list[int] = []
        message = self._pubsub.get_message(timeout=timeout)
        while message is not None:
            attempt_id = timer.attempt_id_from_key(message.get("data") or "") if message["type"] == "message" else None
            if attempt_id is not None:
                ids.append(attempt_id)
            if len(ids) >= limit:
                break
            message = self._pubsub.get_message(timeout=0)
        return ids

    def close(self) -> None:
        """Drop the subscription, if any."""
        pubsub, client = self._pubsub or self._cluster, self._client or self._cluster_client
        self._pubsub = self._client = self._cluster = self._cluster_client = None
        try:
            if pubsub is not None:
                pubsub.close()
            if client is not None:
                client.close()
        except redis.RedisError:
            pass  # it is broken already; nothing left to release
