"""Which attempts have a socket open on some server process: the presence registry in Redis.

Three kinds of keys, all under one hash tag so a Redis Cluster keeps them in one slot:

- `procs`: a hash, server process id -> its last heartbeat (Redis clock, Unix ms);
- `attempt:<id>`: a hash, process id -> 1 for each process with a socket of the attempt open;
- `proc:<process id>`: a set of the attempts that process has sockets of (to clean up after it).

A server process writes only when its own first socket of an attempt opens or its last one
closes, and beats every HEARTBEAT_SECONDS (`realtime.presence`): the cost is per transition
and per process, not per socket per second. A process that stops beating for
DEAD_AFTER_SECONDS (SIGKILL, a hung host) is reaped (`reap_dead`) by the expiry worker and by
every other server process with sockets open: one script takes its sockets out of every
attempt, so however many reap at once, one of them gets each dead process.
A process that beats again after being reaped, or after Redis lost its data, is told so
(`beat` answers `fresh`) and writes all of its attempts again.

What the database records (connected, offline time) follows from this registry in
`services.presence`; the registry is the truth only about "now".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.conf import settings

from attempts import timer

HEARTBEAT_SECONDS = 0.5
# Four missed beats: a busy event loop is late by a few hundred ms at worst (bench), and a
# process reaped by mistake writes its attempts again on its next beat. Reaped within 0.5 s
# after that and settled in tens of ms: a dead process's pages are offline for proctors < 3 s.
DEAD_AFTER_SECONDS = 2.0


class PresenceUnavailable(Exception):
    """Redis could not be reached."""


def _prefix() -> str:
    return f"{settings.TIMER_KEY_PREFIX}{{presence}}:"


def procs_key() -> str:
    return _prefix() + "procs"


def attempt_key(attempt_id: int) -> str:
    return f"{_prefix()}attempt:{attempt_id}"


def proc_key(process_id: str) -> str:
    return f"{_prefix()}proc:{process_id}"


# KEYS[1] procs, KEYS[2] this process's set. ARGV: process id, attempt key prefix, then pairs
# (attempt id, "1" open / "0" closed). Beats, applies the pairs; answers
# [fresh, now (Unix ms), attempts in the process's set, HLEN per pair].
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fresh = redis.call('HSET', KEYS[1], ARGV[1], now)
local counts = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[2] .. ARGV[i]
  if ARGV[i + 1] == '1' then
    redis.call('HSET', key, ARGV[1], 1)
    redis.call('SADD', KEYS[2], ARGV[i])
  else
    redis.call('HDEL', key, ARGV[1])
    redis.call('SREM', KEYS[2], ARGV[i])
  end
  counts[#counts + 1] = redis.call('HLEN', key)
end
local out = {fresh, now, redis.call('SCARD', KEYS[2])}
for _, count in ipairs(counts) do out[#out + 1] = count end
return out
"""

# KEYS[1] procs, KEYS[2] this process's set. ARGV: process id, attempt key prefix, then every
# attempt the process has a socket of. Makes the registry say exactly that (and beats);
# answers [now, then every attempt whose entry it changed].
_REPLACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now)
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
local out = {now}
for _, attempt in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not wanted[attempt] then
    redis.call('SREM', KEYS[2], attempt)
    redis.call('HDEL', ARGV[2] .. attempt, ARGV[1])
    out[#out + 1] = attempt
  end
end
for i = 3, #ARGV do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then out[#out + 1] = ARGV[i] end
  redis.call('HSET', ARGV[2] .. ARGV[i], ARGV[1], 1)
end
return out
"""

# KEYS[1] procs. ARGV: dead-after ms, process set prefix, attempt key prefix. Removes every
# process silent for longer than dead-after; answers the attempts left with no socket at all,
# each followed by the dead process's last beat.
_REAP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local proc, seen = all[i], tonumber(all[i + 1])
  if now - seen > tonumber(ARGV[1]) then
    local set = ARGV[2] .. proc
    for _, attempt in ipairs(redis.call('SMEMBERS', set)) do
      local key = ARGV[3] .. attempt
      redis.call('HDEL', key, proc)
      if redis.call('HLEN', key) == 0 then
        out[#out + 1] = attempt
        out[#out + 1] = seen
      end
    end
    redis.call('DEL', set)
    redis.call('HDEL', KEYS[1], proc)
  end
end
return out
"""


# KEYS[1] procs. ARGV: process id. Refreshes the process's beat only if the registry still lists it:
# a process reaped meanwhile is brought back by its own full beat, which writes its sockets too.
_KEEP_ALIVE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return 1
"""


@dataclass(frozen=True)
class Beat:
    fresh: bool  # the registry did not know this process (reaped, or Redis lost it): write all again
    now_ms: int  # Redis's clock when the changes were applied
    attempts_held: int  # attempts the registry lists for this process, after the changes
    sockets_left: dict[int, int]  # attempt id -> processes with a socket of it, after this beat's changes


async def abeat(process_id: str, changes: dict[int, bool]) -> Beat:
    """Heartbeat of a server process, with its attempts whose first socket opened (True) or last closed (False)."""
    args: list[str | int] = [process_id, _prefix() + "attempt:"]
    for attempt_id, is_open in changes.items():
        args += [attempt_id, "1" if is_open else "0"]
    reply = await _aeval(_BEAT, 2, procs_key(), proc_key(process_id), *args)
    return Beat(
        fresh=bool(reply[0]),
        now_ms=int(reply[1]),
        attempts_held=int(reply[2]),
        sockets_left=dict(zip(changes, map(int, reply[3:]), strict=True)),
    )


async def areplace(process_id: str, attempt_ids: set[int]) -> tuple[int, set[int]]:
    """Make the registry list exactly `attempt_ids` for this process (and beat): (Redis ms, the attempts changed).

    The repair for a registry that no longer matches the process's sockets: reaped while alive,
    a heartbeat whose answer was lost, a Redis restarted from an old snapshot.
    """
    reply = await _aeval(
        _REPLACE, 2, procs_key(), proc_key(process_id), process_id, _prefix() + "attempt:", *attempt_ids
    )
    return int(reply[0]), {int(attempt_id) for attempt_id in reply[1:]}


async def _aeval(script: str, *args):
    try:
        return await timer.async_client().eval(script, *args)
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise PresenceUnavailable(str(exc)) from exc


def keep_alive(process_id: str) -> bool:
    """Refresh a listed process's beat, from outside its event loop; False when the registry does not list it."""
    try:
        return bool(timer.client().eval(_KEEP_ALIVE, 1, procs_key(), process_id))
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise PresenceUnavailable(str(exc)) from exc


def _reap_args() -> tuple:
    return _REAP, 1, procs_key(), round(DEAD_AFTER_SECONDS * 1000), _prefix() + "proc:", _prefix() + "attempt:"


def _reaped(reply: list) -> dict[int, int]:
    return {int(reply[i]): int(reply[i + 1]) for i in range(0, len(reply), 2)}


def reap_dead() -> dict[int, int]:
    """Remove the processes that stopped beating; the attempts they leave with no socket -> last beat (Unix ms)."""
    try:
        return _reaped(timer.client().eval(*_reap_args()))
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise PresenceUnavailable(str(exc)) from exc


async def areap_dead() -> dict[int, int]:
    """`reap_dead` from an event loop: every live server process reaps too, so no worker is needed for it."""
    return _reaped(await _aeval(*_reap_args()))


def connected_many(attempt_ids: Iterable[int]) -> dict[int, bool]:
    """Whether each attempt has a socket open on some live process now, in one round trip."""
    ids = list(attempt_ids)
    if not ids:
        return {}
    try:
        with timer.client().pipeline(transaction=False) as pipe:
            for attempt_id in ids:
                pipe.hlen(attempt_key(attempt_id))
            replies = pipe.execute()
    except (*timer.REDIS_ERRORS, OSError) as exc:
        raise PresenceUnavailable(str(exc)) from exc
    return {attempt_id: count > 0 for attempt_id, count in zip(ids, replies, strict=True)}
