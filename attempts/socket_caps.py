"""At most a few sockets per attempt and per user, counted in Redis across every server process.

Each cap is a hash, server process id -> that process's sockets under the cap, kept beside the
presence registry (`attempts.presence`, same hash tag) whose heartbeats say which processes are
alive. Admitting a socket counts only the entries of live processes (a beat within
DEAD_AFTER_SECONDS, or the caller itself) and drops the others: the sockets of a daphne that
was SIGKILLed stop counting 2 s after its last beat, and nobody is locked out by them.

Each process also rewrites its own entries from the sockets it holds every few seconds (`arewrite`,
`realtime.held_caps`): a release that failed, an admit whose answer was lost, a Sentinel failover or a Redis
restored from an old snapshot leave a live process's entry off by some sockets, and only the rewrite puts it
right (the 24 h TTL alone would lock a student out until then).

A defence, not a dependency: while Redis cannot be reached every socket is admitted (and counted by the next
rewrite that gets through).
"""

from __future__ import annotations

import redis
from django.conf import settings

from attempts import presence, timer

# A cap key lives this long after its last admission: long after any exam, so that a process that
# never released (killed) leaves nothing behind for good.
KEY_TTL_MS = 24 * 3600 * 1000

# KEYS[1] the presence registry's procs, KEYS[2..n-1] the caps, KEYS[n] this process's set of its caps.
# ARGV: this process's id, dead-after ms, key TTL ms, then each cap's limit. Answers 0 and counts the
# socket under every cap (and lists each cap in the set, so that a count this process never learnt of,
# its admit cancelled after Redis ran it, is found and cleared by a rewrite), or the position (1, 2…)
# of the first cap that is full and counts nothing.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, dead_after = ARGV[1], tonumber(ARGV[2])
for i = 2, #KEYS - 1 do
  local entries = redis.call('HGETALL', KEYS[i])
  local total = 0
  for j = 1, #entries, 2 do
    local proc = entries[j]
    local seen = redis.call('HGET', KEYS[1], proc)
    if proc == me or (seen and now - tonumber(seen) <= dead_after) then
      total = total + tonumber(entries[j + 1])
    else
      redis.call('HDEL', KEYS[i], proc)
    end
  end
  if total >= tonumber(ARGV[i + 2]) then return i - 1 end
end
for i = 2, #KEYS - 1 do
  redis.call('HINCRBY', KEYS[i], me, 1)
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
  redis.call('SADD', KEYS[#KEYS], KEYS[i])
end
redis.call('PEXPIRE', KEYS[#KEYS], ARGV[3])
return 0
"""

# KEYS: the caps. ARGV[1]: this process's id. Takes one socket of this process off each.
_RELEASE = """
for i = 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[i], ARGV[1]) end
end
return 0
"""


# KEYS[1] this process's set of the caps it has entries under. ARGV: this process's id, key TTL ms, then
# pairs (cap key, this process's sockets under it): a slice of its caps. Makes those entries say exactly
# that (0: dropped) and keeps the set in step; the caps it holds nowhere any more are found from the set
# (`acaps_listed`) and written as 0. Answers how many entries it changed.
_REWRITE = """
local me, ttl = ARGV[1], ARGV[2]
local changed = 0
for i = 3, #ARGV, 2 do
  local key, count = ARGV[i], tonumber(ARGV[i + 1])
  local had = tonumber(redis.call('HGET', key, me) or '0')
  if count > 0 then
    redis.call('HSET', key, me, count)
    redis.call('PEXPIRE', key, ttl)
    redis.call('SADD', KEYS[1], key)
  else
    redis.call('HDEL', key, me)
    redis.call('SREM', KEYS[1], key)
  end
  if had ~= count then changed = changed + 1 end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return changed
"""


def _key(kind: str, pk: int | str) -> str:
    return f"{settings.TIMER_KEY_PREFIX}{{presence}}:sockets:{kind}:{pk}"


def student_caps(*, attempt_id: int, user_id: int) -> list[tuple[str, int]]:
    """The caps an attempt socket counts under: (key, limit) for its attempt, then for its user."""
    return [
        (_key("attempt", attempt_id), settings.SOCKETS_PER_ATTEMPT),
        (_key("user", user_id), settings.SOCKETS_PER_STUDENT),
    ]


def proctor_caps(*, user_id: int) -> list[tuple[str, int]]:
    """The cap a proctor socket counts under: its user's."""
    return [(_key("proctor", user_id), settings.SOCKETS_PER_PROCTOR)]


async def aadmit(process_id: str, caps: list[tuple[str, int]]) -> bool:
    """Count one more socket of this process under every cap, or none and False when one of them is full."""
    try:
        refused = await timer.async_client().eval(
            _ADMIT,
            2 + len(caps),
            presence.procs_key(),
            *(key for key, _ in caps),
            _key("proc", process_id),
            process_id,
            round(presence.DEAD_AFTER_SECONDS * 1000),
            KEY_TTL_MS,
            *(limit for _, limit in caps),
        )
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise presence.PresenceUnavailable(str(exc)) from exc
    return int(refused) == 0


async def arelease(process_id: str, caps: list[tuple[str, int]]) -> None:
    """Take one socket of this process off every cap it was admitted under."""
    try:
        await timer.async_client().eval(_RELEASE, len(caps), *(key for key, _ in caps), process_id)
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise presence.PresenceUnavailable(str(exc)) from exc


async def acaps_listed(process_id: str) -> set[str]:
    """The caps this process's entries are listed under in Redis (what a rewrite may have to clear)."""
    try:
        return set(await timer.async_client().smembers(_key("proc", process_id)))
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise presence.PresenceUnavailable(str(exc)) from exc


async def arewrite(process_id: str, counts: dict[str, int]) -> int:
    """Make this process's entries of the caps in `counts` say them (cap key -> its sockets under it; 0: none);
    answers how many entries were off."""
    args: list[str | int] = [process_id, KEY_TTL_MS]
    for key, count in counts.items():
        args += [key, count]
    try:
        return int(await timer.async_client().eval(_REWRITE, 1, _key("proc", process_id), *args))
    except (*timer.REDIS_ERRORS, redis.ResponseError, OSError) as exc:
        raise presence.PresenceUnavailable(str(exc)) from exc
