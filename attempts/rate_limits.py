"""Per-user request budgets, counted in the cache's Redis so that every server process shares them.

Each budget (`settings.RATE_LIMITS`, README "Fair share") is `<requests>/<seconds>s`, kept per
user and budget as a token bucket in GCRA form (one key: the theoretical arrival time of the next
request, one atomic script per request, Redis's own clock): up to `requests` at once after a quiet
spell, then one every `seconds / requests`, spread out. Fixed windows, tried first, let a client
that keeps 50 requests in flight take its whole budget in one burst at each window's start, on
every slot it may hold, and the other students' p99 doubled or tripled at those moments
(bench/README.md, "Fair share"); spread, its requests cost the others no more than their own.
Past the budget the caller answers 429 with the wait until the next request would pass. A refused
request moves nothing, so hammering gains nothing: the flood still gets one request per interval.

A defence, not a dependency: while the cache's Redis cannot be reached every request is let
through (as the login throttle does), with one log line per outage second.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
import weakref
from dataclasses import dataclass
from functools import cache

import redis
import redis.asyncio
from django.conf import settings

from examsite import redis_target
from examsite.redis_pools import async_pool_options

logger = logging.getLogger(__name__)

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError)
# Short: a request must not wait long on a dead Redis before it is let through.
SOCKET_TIMEOUT_SECONDS = 0.5

# KEYS[1] the bucket: the theoretical arrival time (TAT, ms of Redis's clock) of the next request at
# the steady rate. ARGV[1] the interval between requests at that rate (ms), ARGV[2] the bucket's
# size (requests let through at once). A request passes when the TAT is at most size - 1 intervals
# ahead of now; it then moves the TAT one interval on. Answers [1, 0] or [0, ms until it would pass].
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now - (tonumber(ARGV[2]) - 1) * interval
if wait > 0 then
  return {0, math.ceil(wait)}
end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now))
return {1, 0}
"""

# KEYS[1] the counter; ARGV[1] the window (ms). Answers [requests in this window, ms left of it].
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""

# KEYS[1] a counter. Answers [its count (0 if none), ms left of its window].
_PEEK = "return {tonumber(redis.call('GET', KEYS[1]) or 0), redis.call('PTTL', KEYS[1])}"

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*s\s*$")


@dataclass(frozen=True)
class Budget:
    requests: int
    seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds until a request would pass again (at least 1 when refused)


@cache
def parse(rate: str) -> Budget | None:
    """`"40/10s"` -> Budget(40, 10); `"off"` (or empty) -> None: no limit."""
    if not rate or rate.strip().lower() == "off":
        return None
    match = _RATE.match(rate)
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        raise ValueError(f"rate limit {rate!r}: expected <requests>/<seconds>s, e.g. 40/10s, or off")
    return Budget(int(match[1]), int(match[2]))


def budget_of(scope: str) -> Budget | None:
    """The budget of `scope` (read at each call, so a setting's override holds); None: unlimited."""
    return parse(settings.RATE_LIMITS.get(scope, "off"))


def key_for(scope: str, user_id) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:rate:{scope}:{user_id}"


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[redis_target.RedisTarget, redis.asyncio.Redis]] = (
    weakref.WeakKeyDictionary()
)


def _client() -> redis.asyncio.Redis:
    """An asyncio client of the cache's Redis for the running loop (the counters never leave the event loop)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    # The cache's database, through the sentinels under Sentinel (its URL's host is then the master's
    # name, never dialled: dialled, every limit was silently off).
    target = redis_target.RedisTarget(
        settings.CACHES["default"]["LOCATION"], redis_target.sentinels_from_settings(settings)
    )
    if target not in per_loop:
        per_loop[target] = target.async_client(
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            **async_pool_options(),
        )
    return per_loop[target]


_outage_logged_at = {"at": -math.inf}


def _log_outage(exc: Exception) -> None:
    """One line a second while the cache's Redis is away, not one per request."""
    now = time.monotonic()
    if now - _outage_logged_at["at"] >= 1.0:
        _outage_logged_at["at"] = now
        logger.warning("rate limits skipped, cache unreachable: %s", exc)


async def ahit(scope: str, user_id) -> Verdict:
    """One request of `user_id` against `scope`'s budget: let through, or refused with the wait before the next."""
    budget = budget_of(scope)
    if budget is None:
        return Verdict(allowed=True)
    interval_ms = budget.seconds * 1000 / budget.requests
    try:
        allowed, wait_ms = await _client().eval(_GCRA, 1, key_for(scope, user_id), interval_ms, budget.requests)
    except REDIS_ERRORS as exc:
        _log_outage(exc)
        return Verdict(allowed=True)
    if int(allowed):
        return Verdict(allowed=True)
    return Verdict(allowed=False, retry_after=max(1, math.ceil(int(wait_ms) / 1000)))


# --- sockets refused for their token or ids, per client address ----------------------------


def _refusals_key(address: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:rate:ws_refused:{hashlib.sha256(address.encode()).hexdigest()}"


# An address found under its budget is not asked about again for this long by this process (every connect
# asked Redis: a round trip per connect, and a hall behind one NAT is one address). A refusal recorded here
# forgets it at once; one recorded by another process counts here at most this late.
CLEAR_FOR_SECONDS = 1.0
CLEAR_ADDRESSES_KEPT = 10_000
_clear_until: dict[str, float] = {}


async def arefusals_wait(address: str) -> int:
    """Seconds until `address` may connect sockets again after too many refusals; 0 when it may now."""
    budget = parse(settings.SOCKET_REFUSAL_RATE)
    if budget is None:
        return 0
    if _clear_until.get(address, 0.0) > time.monotonic():
        return 0
    try:
        with_ttl = await _client().eval(_PEEK, 1, _refusals_key(address))
    except REDIS_ERRORS as exc:
        _log_outage(exc)
        return 0
    count, ms_left = int(with_ttl[0]), int(with_ttl[1])
    if count >= budget.requests:
        return max(1, math.ceil(ms_left / 1000))
    if len(_clear_until) >= CLEAR_ADDRESSES_KEPT:
        _clear_until.clear()
    _clear_until[address] = time.monotonic() + CLEAR_FOR_SECONDS
    return 0


async def arecord_refusal(address: str) -> None:
    """Count one socket of `address` refused for its token or ids (4401, 4403, 4404)."""
    budget = parse(settings.SOCKET_REFUSAL_RATE)
    _clear_until.pop(address, None)  # its next connect asks Redis again
    if budget is None:
        return
    try:
        await _client().eval(_HIT, 1, _refusals_key(address), budget.seconds * 1000)
    except REDIS_ERRORS as exc:
        _log_outage(exc)
