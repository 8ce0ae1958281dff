"""The countdown of each attempt as a Redis key with a TTL: the only module that names a key.

A key `<TIMER_KEY_PREFIX><attempt_id>` exists exactly while its attempt is ongoing and its
time has not run out. Every call raises `TimerUnavailable` when Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
import weakref
from collections.abc import Iterable
from functools import cache, wraps
from typing import NamedTuple

import redis
import redis.asyncio
from django.conf import settings

from attempts import redis_cluster
from examsite import redis_target
from examsite.redis_pools import async_pool_options, sync_pool_options

# On a cluster also: a slot with no primary during a failover (CLUSTERDOWN, TRYAGAIN, not covered).
REDIS_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)
# Short: a student's request must not hang on a dead Redis; callers fall back to deadline_at.
SOCKET_TIMEOUT_SECONDS = 2.0


class TimerUnavailable(Exception):
    """Redis could not be reached."""


@cache
def _client_for(target: redis_target.RedisTarget) -> redis.Redis:
    return target.sync_client(
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        decode_responses=True,
        **sync_pool_options(),  # rides over a Redis restart or failover; examsite/redis_pools.py
    )


def _cluster_nodes() -> tuple[str, ...]:
    return tuple(settings.REDIS_CLUSTER_NODES)


def on_cluster() -> bool:
    """True when the timers live on a Redis Cluster (`REDIS_CLUSTER_NODES`), not one Redis."""
    return bool(settings.REDIS_CLUSTER_NODES)


def client() -> redis.Redis | redis.cluster.RedisCluster:
    """The Redis client of the timer database (one pool per process): one server's (under Sentinel, the
    current primary's) or a cluster's."""
    if on_cluster():
        return redis_cluster.client_for(_cluster_nodes(), SOCKET_TIMEOUT_SECONDS)
    return _client_for(redis_target.timers())


def node() -> str:
    """`host:port` of the Redis server the timers are on now (a cluster: its nodes as configured), for
    messages that must name it; never raises."""
    if on_cluster():
        return ",".join(_cluster_nodes())
    return redis_target.node_of(client())


def nodes() -> list[tuple[str, redis.Redis]]:
    """(host:port, its client) of every server that holds timers: the one Redis, or each cluster primary."""
    if on_cluster():
        return redis_cluster.primaries(client())
    return [(node(), client())]


def key_for(attempt_id: int) -> str:
    """The Redis key of an attempt's timer."""
    return f"{settings.TIMER_KEY_PREFIX}{attempt_id}"


def probe_key() -> str:
    """A throwaway key no attempt uses, for checking that expired-key events arrive."""
    return f"{settings.TIMER_KEY_PREFIX}probe:{uuid.uuid4().hex}"


def hold_key(attempt_id: int) -> str:
    """The Redis key that counts the requests for an attempt received but not yet answered (not a timer)."""
    return f"{settings.TIMER_KEY_PREFIX}hold:{attempt_id}"


def attempt_id_from_key(key: str) -> int | None:
    """The attempt id of a timer key, or None for any other key."""
    prefix = settings.TIMER_KEY_PREFIX
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    return int(rest) if rest.isdigit() else None


def _seconds_from_ms(milliseconds: int) -> int | None:
    # -2: no key; -1: a key without TTL, which no code of ours writes: treat it as lost.
    if milliseconds < 0:
        return None
    return math.ceil(milliseconds / 1000)


def _guarded(func):
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except REDIS_ERRORS as exc:
            raise TimerUnavailable(str(exc)) from exc

    return wrapper


@_guarded
def start(attempt_id: int, milliseconds: int) -> None:
    """Write the timer with value and TTL in one atomic command (PSETEX)."""
    seconds = math.ceil(milliseconds / 1000)
    client().set(key_for(attempt_id), seconds, px=max(1, milliseconds))


@_guarded
def set_many(milliseconds_by_attempt: dict[int, int]) -> None:
    """Write or move many timers, each with one atomic SET PX, in one pipelined round trip (an exam's extension)."""
    if not milliseconds_by_attempt:
        return
    pipe = client().pipeline(transaction=False)
    for attempt_id, milliseconds in milliseconds_by_attempt.items():
        pipe.set(key_for(attempt_id), math.ceil(milliseconds / 1000), px=max(1, milliseconds))
    pipe.execute()


@_guarded
def restore(attempt_id: int, milliseconds: int) -> bool:
    """Write a lost timer back unless one exists; True when it was written (or given back its TTL)."""
    seconds = math.ceil(milliseconds / 1000)
    key = key_for(attempt_id)
    if client().set(key, seconds, px=max(1, milliseconds), nx=True):
        return True
    # A key without a TTL ("TTL = -1", a corruption seen in the wild) would never expire.
    return client().pttl(key) == -1 and bool(client().pexpire(key, max(1, milliseconds)))


@_guarded
def remaining(attempt_id: int) -> int | None:
    """Seconds left (rounded up), or None when the key is gone."""
    return _seconds_from_ms(client().pttl(key_for(attempt_id)))


@_guarded
def remaining_many(attempt_ids: Iterable[int]) -> dict[int, int | None]:
    """Seconds left for many attempts in one pipelined round trip."""
    ids = list(attempt_ids)
    if not ids:
        return {}
    pipe = client().pipeline(transaction=False)
    for attempt_id in ids:
        pipe.pttl(key_for(attempt_id))
    return {attempt_id: _seconds_from_ms(ms) for attempt_id, ms in zip(ids, pipe.execute(), strict=True)}


# One asyncio client per event loop and target: an asyncio connection belongs to the loop that opened it.
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[redis_target.RedisTarget, redis.asyncio.Redis]
] = weakref.WeakKeyDictionary()


def async_client() -> redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster:
    """The asyncio Redis client of the timer database, for the running event loop."""
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if on_cluster():
        name = ",".join(_cluster_nodes())
        if name not in per_loop:
            per_loop[name] = redis_cluster.async_client_for(_cluster_nodes(), SOCKET_TIMEOUT_SECONDS)
        return per_loop[name]
    target = redis_target.timers()
    if target not in per_loop:
        per_loop[target] = target.async_client(
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            decode_responses=True,
            **async_pool_options(),
        )
    return per_loop[target]


class TimeLeft(NamedTuple):
    """An attempt's time left as one read of its timer saw it (a tuple: 10,000 are made a second on a full
    process: 0.24 us each here, a frozen dataclass 0.51 us)."""

    seconds: int  # rounded up, as of the moment the read was meant for (`as_of`); never more than is left then
    milliseconds: int  # exact, as of the read itself or `as_of` if that is later (a read ahead of its second)
    deadline_ms: int  # when the timer runs out, Unix milliseconds (the moment the read was asked plus its TTL)


# All the TTLs in one command: a pipeline of 10,000 PTTLs cost 121 ms of the event loop's CPU in
# redis-py (packing 10,000 commands, parsing 10,000 replies), this 14 ms (bench/README.md, "Ticks"): one
# string back, split in C, instead of an array of 10,000 replies. -2: no key, -1: no TTL (as PTTL).
# Standalone Redis and Sentinel only: on a Redis Cluster the keys of one script must share a slot, so
# there it is one script per primary (`redis_cluster.apttl_many`).
_PTTL_MANY_SCRIPT = """
local ttls = {}
for i, key in ipairs(KEYS) do ttls[i] = redis.call('PTTL', key) end
return table.concat(ttls, ',')
"""


_PTTL_MANY_SHA = hashlib.sha1(_PTTL_MANY_SCRIPT.encode()).hexdigest()


async def _pttl_many(ids: list[int]) -> list[int]:
    client, keys = async_client(), [key_for(attempt_id) for attempt_id in ids]
    if on_cluster():
        return await redis_cluster.apttl_many(client, keys)
    try:
        reply = await client.evalsha(_PTTL_MANY_SHA, len(keys), *keys)
    except redis.exceptions.NoScriptError:  # a restarted or flushed Redis forgot it: EVAL caches it again
        reply = await client.eval(_PTTL_MANY_SCRIPT, len(keys), *keys)
    return [int(ms) for ms in reply.split(",")]


async def aremaining_many(attempt_ids: Iterable[int], *, as_of: float | None = None) -> dict[int, TimeLeft | None]:
    """Time left for many attempts in one round trip that never blocks the loop; None where a key is gone.

    With `as_of` (Unix seconds: a moment just past, or just ahead when the caller reads before
    the second it will send), `seconds` is the time left at that moment: a read that a busy loop
    made late still reports the second it was meant for.
    """
    ids = list(attempt_ids)
    if not ids:
        return {}
    # The clock is read before the request, not after the reply: each TTL was taken at or after this
    # moment, so "this moment + TTL" is never later than the deadline and the rounded-up seconds never
    # show a second that is not left. Read after the reply (as before), a TTL taken a few ms earlier
    # made a deadline on a whole second show one second more than was left (bench/README.md).
    asked_at = time.time()
    try:
        replies = await _pttl_many(ids)
    except (*REDIS_ERRORS, OSError) as exc:
        raise TimerUnavailable(str(exc)) from exc
    # Milliseconds from `as_of` to the moment asked: > 0 for a late read, < 0 for one ahead of its second.
    shift_ms = 0 if as_of is None else math.floor((asked_at - as_of) * 1000)
    asked_ms = math.floor(asked_at * 1000)
    ahead_ms = min(0, shift_ms)
    left: dict[int, TimeLeft | None] = {}
    for attempt_id, ms in zip(ids, replies, strict=True):
        if ms < 0:  # -2: no key; -1: a key without TTL, which no code of ours writes: treat it as lost
            left[attempt_id] = None
            continue
        left[attempt_id] = TimeLeft(max(0, math.ceil((ms + shift_ms) / 1000)), max(0, ms + ahead_ms), asked_ms + ms)
    return left


# Longest a hold can outlive a request whose process died before releasing it. Longer than any
# request waits in a queue; a crashed process delays the attempts it held by at most this.
HOLD_TTL_MS = 60_000
# INCR and its TTL in one step, one key per script (a MULTI over many keys is refused on a cluster).
_HOLD_SCRIPT = "local n = redis.call('INCR', KEYS[1]) redis.call('PEXPIRE', KEYS[1], ARGV[1]) return n"
# DECR, and DEL at zero, in one step: a hold taken between the two must not be deleted.
_RELEASE_SCRIPT = "local n = redis.call('DECR', KEYS[1]) if n <= 0 then redis.call('DEL', KEYS[1]) end return n"


async def ahold(attempt_id: int) -> None:
    """Count one more request for the attempt in flight (INCR with a TTL, one round trip)."""
    try:
        await async_client().eval(_HOLD_SCRIPT, 1, hold_key(attempt_id), HOLD_TTL_MS)
    except (*REDIS_ERRORS, OSError) as exc:
        raise TimerUnavailable(str(exc)) from exc


async def arelease(attempt_id: int) -> None:
    """Count one request for the attempt fewer (the key goes at zero)."""
    try:
        await async_client().eval(_RELEASE_SCRIPT, 1, hold_key(attempt_id))
    except (*REDIS_ERRORS, OSError) as exc:
        raise TimerUnavailable(str(exc)) from exc


@_guarded
def hold_many(attempt_ids: Iterable[int]) -> None:
    """Count one more transition in flight for each attempt (as `ahold` does), in one round trip."""
    ids = list(attempt_ids)
    if not ids:
        return
    pipe = client().pipeline(transaction=False)
    for attempt_id in ids:
        # execute_command, not eval(): a cluster pipeline has no eval() (it routes EVAL by its key all the same).
        pipe.execute_command("EVAL", _HOLD_SCRIPT, 1, hold_key(attempt_id), HOLD_TTL_MS)
    pipe.execute()


@_guarded
def release_many(attempt_ids: Iterable[int]) -> None:
    """Count one transition in flight fewer for each attempt (as `arelease` does), in one round trip."""
    ids = list(attempt_ids)
    if not ids:
        return
    pipe = client().pipeline(transaction=False)
    for attempt_id in ids:
        pipe.execute_command("EVAL", _RELEASE_SCRIPT, 1, hold_key(attempt_id))
    pipe.execute()


@_guarded
def holds(attempt_ids: Iterable[int]) -> dict[int, int]:
    """How many requests are in flight for each attempt that has any, in one pipelined round trip."""
    ids = list(attempt_ids)
    if not ids:
        return {}
    pipe = client().pipeline(transaction=False)
    for attempt_id in ids:
        pipe.get(hold_key(attempt_id))
    return {attempt_id: int(n) for attempt_id, n in zip(ids, pipe.execute(), strict=True) if n and int(n) > 0}


@_guarded
def clear(attempt_id: int) -> None:
    """Delete an attempt's timer (submitted or over)."""
    client().delete(key_for(attempt_id))


@_guarded
def clear_many(attempt_ids: Iterable[int]) -> None:
    """Delete the timers of many attempts in one round trip."""
    keys = [key_for(attempt_id) for attempt_id in attempt_ids]
    if keys:
        client().delete(*keys)


@_guarded
def ping() -> bool:
    """True when Redis answers (every primary, on a cluster)."""
    return all(node.ping() for _, node in nodes())


@_guarded
def refresh_topology() -> bool:
    """On a cluster: reload who owns the slots; True when the primaries changed (a failover). False on one Redis."""
    return on_cluster() and redis_cluster.refresh_topology(client())


def expired_channel() -> str:
    """The keyspace-notification channel on which Redis announces expired timer keys."""
    if on_cluster():
        return "__keyevent@0__:expired"  # a cluster has database 0 only
    db = client().connection_pool.connection_kwargs.get("db", 0)
    return f"__keyevent@{db}__:expired"


def _flags(node: redis.Redis) -> str:
    return node.config_get("notify-keyspace-events").get("notify-keyspace-events", "")


@_guarded
def nodes_without_notifications() -> list[str]:
    """host:port of each timer server (each primary) that does not publish expired-key events (E and x)."""
    return [name for name, node in nodes() if not ("E" in (f := _flags(node)) and ("x" in f or "A" in f))]


def notifications_enabled() -> bool:
    """True when every timer server publishes expired-key events (`notify-keyspace-events` has E and x)."""
    return not nodes_without_notifications()


@_guarded
def enable_notifications() -> None:
    """Turn expired-key events on, keeping the flags already set; raises where CONFIG is forbidden.

    On a cluster on every primary, and on each replica that answers: a replica that a failover
    promotes sends events only if its own flags are on (the expiry worker checks again after each).
    """
    for _, node in nodes():
        _add_expired_flags(node)
    if on_cluster():
        for _, node in redis_cluster.replicas(client()):
            try:
                _add_expired_flags(node)
            except (*REDIS_ERRORS, redis.ResponseError):
                pass  # a replica that is down (or refuses CONFIG) is checked again when it is promoted


def _add_expired_flags(node: redis.Redis) -> None:
    node.config_set("notify-keyspace-events", "".join(sorted(set(_flags(node)) | {"E", "x"})))
