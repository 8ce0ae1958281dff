"""Retries and health checks for every Redis connection pool of the project, built in one place.

redis-py 8.1 gives a client built with `Redis(...)`/`Redis.from_url` ten retries, on timeouts too,
with random waits of up to 1 s each (a call on a dead Redis can take ~5 s), and a pool built
directly (what channels-redis and Django's cache do) none: there, the first command on a pooled
connection that Redis closed by restarting fails. Every pool gets the options below instead (README,
"Configuration"): the timers and presence (`attempts.timer`), the channel layer's hosts and the
cache (settings).

Only `ConnectionError` is retried (Redis refused, or closed the connection before answering: the
command did not run, or ran on a server that has just lost its data). A timeout is not: the command
may have run, and a second wait would double the hang of a request.

On request paths (not the channel layer), once a call ran out of retries, every connection of the
client tries once per call until one call gets through (`Outage`): a dead Redis costs one call its
retries and the others a refused connect each (a 10 s outage cost a page's round of calls ~3.5 s
before), and the first call after Redis answers again succeeds.

The retries are bounded by time, not only by count: redis-py retries a reconnect inside each retry of
a command, so a count alone multiplies (8 retries of a command whose connection broke, each with 8
retries of its reconnect, would wait ~16 s on a Redis that stays dead).
"""

from __future__ import annotations

import time

import redis.asyncio.retry
import redis.retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Waits between tries: 0.1 s, 0.2 s, then 0.25 s each. The first try after a failure is on a new
# connection, which is all that a connection left over from before a restart needs; the cap keeps
# the wait after Redis answers again short (a process notices within one wait).
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 0.25
# Request paths (timers, presence, cache): no new try once this long has passed since the first one,
# so a call gives up within ~0.8 s. Enough for a restart of an empty Redis (~0.1-0.5 s from stop to
# answering); on a Redis that stays dead a request waits that long per call before it falls back
# (deadline_at for timers; the login throttle lets the login through).
REQUEST_RETRY_SECONDS = 0.5
# The channel layer: a socket whose receive runs out of retries is closed (1011), so it tries for
# longer, ~2 s: a restart of ~1 s is ridden over with every socket open. A publish on a layer that
# stays dead waits that long before it is given up (and logged).
LAYER_RETRY_SECONDS = 1.75
_MAX_RETRIES = 100  # never reached: the time bound above ends the retries first
# A connection idle in the pool this long is PINGed before use (one round trip at most this often per
# connection): a connection Redis dropped without a word (failover, a NAT) is found before a command is lost.
HEALTH_CHECK_SECONDS = 5


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS)


class Outage:
    """What the connections of one client share: whether its last call ran out of retries.

    redis-py copies a client's Retry into each connection (`copy.deepcopy`); this state is not
    copied, so every connection of the client knows that Redis is down once one found out.
    """

    def __init__(self) -> None:
        self.down = False

    def begun(self) -> None:
        self.down = True

    def ended(self) -> None:
        if self.down:
            self.down = False


def _fail(fail, error, kwargs) -> None:
    if kwargs.get("with_failure_count"):
        fail(error, 1)
    else:
        fail(error)


class TimeBoundRetry(redis.retry.Retry):
    """redis-py's Retry that tries no more once `seconds` passed since the first try.

    With an `outage` (the request paths): once a call ran out of retries, each call tries once,
    without waiting between tries, until one gets through. A refused connection fails in about a
    millisecond, so a dead Redis costs one call its retries and the others almost nothing, and the
    first call after Redis answers again succeeds.
    """

    def __init__(self, seconds: float, outage: Outage | None = None) -> None:
        super().__init__(_backoff(), _MAX_RETRIES, supported_errors=(RedisConnectionError,))
        self.seconds = seconds
        self.outage = outage

    def __deepcopy__(self, memo):
        return type(self)(self.seconds, self.outage)

    def call_with_retry(self, do, fail, *args, **kwargs):
        if self.outage is not None and self.outage.down:
            try:
                result = do()
            except RedisConnectionError as error:
                _fail(fail, error, kwargs)
                raise
            self.outage.ended()
            return result
        started = time.monotonic()

        def failed(error, *rest):
            fail(error, *rest)
            if time.monotonic() - started >= self.seconds:
                if self.outage is not None:
                    self.outage.begun()
                raise error

        return super().call_with_retry(do, failed, *args, **kwargs)


class AsyncTimeBoundRetry(redis.asyncio.retry.Retry):
    """The asyncio twin of `TimeBoundRetry`."""

    def __init__(self, seconds: float, outage: Outage | None = None) -> None:
        super().__init__(_backoff(), _MAX_RETRIES, supported_errors=(RedisConnectionError,))
        self.seconds = seconds
        self.outage = outage

    def __deepcopy__(self, memo):
        return type(self)(self.seconds, self.outage)

    async def call_with_retry(self, do, fail, *args, **kwargs):
        if self.outage is not None and self.outage.down:
            try:
                result = await do()
            except RedisConnectionError as error:
                if kwargs.get("with_failure_count"):
                    await fail(error, 1)
                else:
                    await fail(error)
                raise
            self.outage.ended()
            return result
        started = time.monotonic()

        async def failed(error, *rest):
            await fail(error, *rest)
            if time.monotonic() - started >= self.seconds:
                if self.outage is not None:
                    self.outage.begun()
                raise error

        return await super().call_with_retry(do, failed, *args, **kwargs)


def sync_pool_options(*, retry_seconds: float = REQUEST_RETRY_SECONDS) -> dict:
    """Keyword arguments for a synchronous redis-py client or pool (`redis.Redis`, `ConnectionPool.from_url`)."""
    return {
        "retry": TimeBoundRetry(retry_seconds, Outage()),
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "socket_keepalive": True,
    }


def async_pool_options(*, retry_seconds: float = REQUEST_RETRY_SECONDS, fail_fast: bool = True) -> dict:
    """Keyword arguments for an asyncio redis-py client or pool (`redis.asyncio`, a channel-layer host)."""
    return {
        "retry": AsyncTimeBoundRetry(retry_seconds, Outage() if fail_fast else None),
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "socket_keepalive": True,
    }


def layer_host_options() -> dict:
    """The options of a channel-layer host (channels-redis passes them to its asyncio pool)."""
    # No fail-fast: a socket's receive that gave up would close the socket; it rides over instead.
    return async_pool_options(retry_seconds=LAYER_RETRY_SECONDS, fail_fast=False)
