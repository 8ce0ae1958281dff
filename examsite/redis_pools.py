"""Retries and health checks for every Redis connection pool of the project, built in one place.

redis-py gives a client built with `Redis.from_url` three retries with a backoff of up to 2 s,
4 s, 8 s (a request would hang ~14 s on a dead Redis), and a pool built directly (what
channels-redis and Django's cache do) none: there, the first command on a pooled connection
that Redis closed by restarting fails. Every pool gets the options below instead (README,
"Configuration"): the timers and presence (`attempts.timer`), the channel layer's hosts and
the cache (settings).

Only `ConnectionError` is retried (Redis refused, or closed the connection before answering:
the command did not run, or ran on a server that has just lost its data). A timeout is not: the
command may have run, and a second wait would double the hang of a request.
"""

from __future__ import annotations

import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Waits between tries: 0.1 s, 0.2 s, then 0.25 s each. The first try after a failure is on a new
# connection, which is all that a connection left over from before a restart needs; the cap keeps
# the wait after Redis answers again short (a process notices within one wait).
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 0.25
# Request paths (timers, presence, cache): 3 retries wait 0.55 s in all, enough for a restart of an
# empty Redis (~0.1-0.5 s from stop to answering); a request on a Redis that stays dead waits about
# that long per call before it falls back (deadline_at for timers; the throttle lets a login through).
REQUEST_RETRIES = 3
# The channel layer: a socket whose receive runs out of retries is closed (1011), so it waits
# longer, 8 retries = 1.8 s in all: a restart of ~1 s is ridden over with every socket open. A
# publish on a layer that stays dead waits that long before it is given up (and logged). (A command
# on a connection that broke mid-way retries its reconnects inside each retry: up to a few times
# that, once per connection.)
LAYER_RETRIES = 8
# A connection idle in the pool this long is PINGed before use (one round trip at most this often per
# connection): a connection Redis dropped without a word (failover, a NAT) is found before a command is lost.
HEALTH_CHECK_SECONDS = 5


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS)


def sync_pool_options(*, retries: int = REQUEST_RETRIES) -> dict:
    """Keyword arguments for a synchronous redis-py client or pool (`redis.Redis`, `ConnectionPool.from_url`)."""
    return {
        "retry": redis.retry.Retry(_backoff(), retries, supported_errors=(RedisConnectionError,)),
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "socket_keepalive": True,
    }


def async_pool_options(*, retries: int = REQUEST_RETRIES) -> dict:
    """Keyword arguments for an asyncio redis-py client or pool (`redis.asyncio`, a channel-layer host)."""
    return {
        "retry": redis.asyncio.retry.Retry(_backoff(), retries, supported_errors=(RedisConnectionError,)),
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "socket_keepalive": True,
    }


def layer_host_options() -> dict:
    """The options of a channel-layer host (channels-redis passes them to its asyncio pool)."""
    return async_pool_options(retries=LAYER_RETRIES)
