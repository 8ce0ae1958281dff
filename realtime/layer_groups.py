"""The channel-layer groups this process's sockets are in, joined again when the layer's Redis loses them.

channels-redis keeps each group as a sorted set in Redis. A Redis that comes back empty (restarted
without persistence, failed over to a replica that lagged, restarted from an old snapshot, flushed)
has forgotten every group, while the sockets stay open (the pools retry: examsite/redis_pools.py):
they would tick on and never hear an event again. So each server process reads, every
CHECK_SECONDS while it has sockets in groups, an epoch of each layer shard: a marker key it writes
if missing (SET NX), and the server's `run_id` (new on every restart). When one changed, the process
joins every group of that shard again, then tells each socket (`on_rejoined`) since when it may have
missed events: a proctor's dashboard reads a fresh snapshot, a student's socket is sent again what
was announced to its attempt since then (announcements, saved choices; `realtime.consumers`).

What is published between the loss and the re-join (< CHECK_SECONDS plus the re-join) reaches no
socket through the layer: hence the catch-up, from the last check that found the groups intact.
Ends come back through the ticker's safety net (a missing timer is settled), time changes through
the next tick. The expiry worker joins no group (it only publishes), so it has nothing to re-join.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from typing import Protocol

import redis
from channels_redis.core import RedisChannelLayer

from examsite.gates import LoopGate
from realtime.cancelling import cancel_requested

logger = logging.getLogger(__name__)

# Group joins and leaves in flight at once per process. channels-redis's connection pool holds
# 100 connections and raises, not waits, when all are out: 10,000 sockets closing together (a
# shared deadline) failed their group_discard, and connects during it their group_add (bench).
# The re-join after a loss queues behind the same gate.
LAYER_CONCURRENCY = 50
_gate = LoopGate(LAYER_CONCURRENCY)
# How often a process with sockets in groups reads the epochs: a loss is found within this (plus one
# retry wait, examsite/redis_pools.py) of Redis answering, well inside the 1 s promise. One round
# trip per shard per process per check.
CHECK_SECONDS = 0.25
# What a layer call raises when its Redis is unreachable (after the pool's retries).
LAYER_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class Member(Protocol):
    """A socket in groups: its channel, and what it does once its groups were joined again."""

    channel_name: str

    async def on_rejoined(self, since: float) -> None:
        """Its groups were lost and joined again: events published from `since` (Unix time) on may never have come."""


class LayerGroups:
    """This process's group memberships in one channel layer, and the watch that restores them."""

    def __init__(self, layer) -> None:
        self.layer = layer
        # Only channels-redis's layer keeps groups in Redis keys that a restart loses; any other is joined plainly.
        self._watched = isinstance(layer, RedisChannelLayer)
        self._groups: dict[Member, set[str]] = {}
        self._epochs: dict[int, str] = {}  # shard index -> the epoch last read there
        self._lost: set[int] = set()  # shards whose re-join has not fully succeeded yet
        # Unix time of each shard's last check that found its groups intact: what was published after it
        # may have been lost with them, and is caught up after the re-join (`Member.on_rejoined`).
        self._intact_at: dict[int, float] = {}
        self._lost_since: dict[int, float] = {}
        self._checking: asyncio.Lock | None = None  # one check at a time (made on the loop that uses it)
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._unreachable = False
        self.rejoins = 0  # re-joins after a loss (tests read it)

    @property
    def membership_count(self) -> int:
        return sum(len(groups) for groups in self._groups.values())

    async def join(self, member: Member, group: str) -> None:
        """group_add, queued behind the process's other joins and leaves beyond LAYER_CONCURRENCY."""
        if self._watched:
            if not self._epochs:
                # Before the process's first group exists: a loss after it must be seen as one.
                await self._read_first_epochs()
            self._groups.setdefault(member, set()).add(group)
            self._keep_watching()
        try:
            async with _gate.semaphore():
                await self.layer.group_add(group, member.channel_name)
        except BaseException:
            self._drop(member, group)
            raise

    async def part(self, member: Member, group: str) -> None:
        """group_discard, queued like `join`."""
        self._drop(member, group)
        async with _gate.semaphore():
            await self.layer.group_discard(group, member.channel_name)

    def forget(self, member: Member) -> None:
        """The socket is gone (however it ended): never join its groups again."""
        self._groups.pop(member, None)

    async def stop(self) -> None:
        """Stop the watch and the catch-ups it started, and wait for them: for a loop about to close."""
        tasks = [task for task in (self._task, *self._background) if task is not None and not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _drop(self, member: Member, group: str) -> None:
        groups = self._groups.get(member)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._groups[member]

    # --- the watch --------------------------------------------------------------------

    def _keep_watching(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="layer-groups-watch")

    async def _watch(self) -> None:
        try:
            while self._groups and not cancel_requested():
                await asyncio.sleep(CHECK_SECONDS)
                try:
                    await self.check()
                except Exception:  # the watch must outlive any one check: a dead watch leaves sockets deaf
                    if cancel_requested():
                        return
                    logger.exception("channel layer groups check failed; checking again in %.2f s", CHECK_SECONDS)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _read_first_epochs(self) -> None:
        async with self._lock():  # one read for the many sockets that connect at once
            if not self._epochs:
                await self._check()

    def _lock(self) -> asyncio.Lock:
        if self._checking is None:
            self._checking = asyncio.Lock()
        return self._checking

    async def check(self) -> None:
        """Read every shard's epoch; join the groups of the shards whose epoch changed again."""
        async with self._lock():
            await self._check()

    async def _check(self) -> None:
        began = time.time()
        try:
            epochs = {index: await self._epoch(index) for index in range(self.layer.ring_size)}
        except LAYER_ERRORS as exc:
            if not self._unreachable:
                logger.warning("channel layer Redis unreachable (%s); its groups are checked when it answers", exc)
                self._unreachable = True
            return
        if self._unreachable:
            logger.info("channel layer Redis answers again")
            self._unreachable = False
        changed = {index for index, epoch in epochs.items() if self._epochs.setdefault(index, epoch) != epoch}
        for index in epochs:
            if index in changed:
                self._lost_since.setdefault(index, self._intact_at.get(index, began - CHECK_SECONDS))
            elif index not in self._lost:
                self._intact_at[index] = began
        self._lost |= changed
        self._epochs.update(epochs)
        if self._lost:
            await self._rejoin()

    async def _epoch(self, index: int) -> str:
        """The shard's marker (written if missing) and the `run_id` of the Redis that holds it, in one round trip."""
        key = f"{self.layer.prefix}:layer-epoch"
        # It lives as long as a group does, renewed on every read: a process's groups outlive it never.
        ttl = self.layer.group_expiry
        async with self.layer.connection(index).pipeline(transaction=False) as pipe:
            pipe.set(key, uuid.uuid4().hex, nx=True, ex=ttl)
            pipe.expire(key, ttl)
            pipe.get(key)
            pipe.info("server")
            _, _, marker, info = await pipe.execute(raise_on_error=False)
        if isinstance(marker, Exception):
            raise marker
        # INFO may be forbidden (a managed Redis): the marker alone still finds an empty restart.
        run_id = "" if isinstance(info, Exception) else str(info.get("run_id", ""))
        return f"{marker.decode() if isinstance(marker, bytes) else marker}:{run_id}"

    async def _rejoin(self) -> None:
        lost, started, started_wall = set(self._lost), time.monotonic(), time.time()
        pairs = [
            (member, group)
            for member, groups in list(self._groups.items())
            for group in list(groups)
            if self.layer.consistent_hash(group) in lost
        ]
        try:
            failures = await self._add_all_again(pairs)
        except AttributeError:  # a channels-redis without the internals used there: one group_add each
            outcomes = await asyncio.gather(
                *(self._add_again(member, group) for member, group in pairs), return_exceptions=True
            )
            failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            # Tried again on the next check, all of them (a group_add twice is harmless).
            logger.warning(
                "channel layer Redis lost its groups: %d of %d joins failed again (%s); trying again",
                len(failures),
                len(pairs),
                failures[0],
            )
            return
        since = min(self._lost_since.pop(index, started_wall) for index in lost)
        self._lost -= lost
        self.rejoins += 1
        members = {member for member, _ in pairs}
        logger.info(
            "channel layer Redis lost its groups: %d sockets joined %d groups again in %.2f s",
            len(members),
            len(pairs),
            time.monotonic() - started,
        )
        task = asyncio.get_running_loop().create_task(self._tell_all(members, since))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _add_all_again(self, pairs: list[tuple[Member, str]]) -> list[BaseException]:
        """The pairs' group_adds as one pipeline per shard (what group_add sends: ZADD, then EXPIRE), not a round
        trip each: 2,000 sockets re-joined one group_add at a time took 1.8-2.25 s after a Redis restart, and
        every event published meanwhile had to be caught up. Failures are returned, per shard."""
        by_shard: dict[int, list[tuple[Member, str]]] = {}
        for member, group in pairs:
            by_shard.setdefault(self.layer.consistent_hash(group), []).append((member, group))
        failures: list[BaseException] = []
        for index, shard_pairs in by_shard.items():
            try:
                async with self.layer.connection(index).pipeline(transaction=False) as pipe:
                    for member, group in shard_pairs:
                        key = self.layer._group_key(group)
                        pipe.zadd(key, {member.channel_name: time.time()})
                        pipe.expire(key, self.layer.group_expiry)
                    await pipe.execute()
            except redis.RedisError as exc:  # an outage, or a replica not promoted yet (READONLY): tried again
                failures.append(exc)
                continue
            # Left while the pipeline was in flight, maybe before it: take them out again.
            for member, group in shard_pairs:
                if group not in self._groups.get(member, ()):
                    try:
                        async with _gate.semaphore():
                            await self.layer.group_discard(group, member.channel_name)
                    except redis.RedisError as exc:  # a stray member of a group ages out with it
                        failures.append(exc)
        return failures

    async def _tell_all(self, members: set[Member], since: float) -> None:
        """Each member's catch-up; a kind of member that catches up many at once (`on_rejoined_many`, e.g. one
        database read for every attempt socket of the process) is told once, after the others (a dashboard's
        snapshot is not queued behind thousands of students' reads)."""
        by_kind: dict[type, list[Member]] = {}
        for member in members:
            by_kind.setdefault(type(member), []).append(member)
        one_by_one = [m for kind, group in by_kind.items() if not hasattr(kind, "on_rejoined_many") for m in group]
        await asyncio.gather(*(self._tell(member, since) for member in one_by_one))
        for kind, group in by_kind.items():
            if hasattr(kind, "on_rejoined_many"):
                try:
                    await kind.on_rejoined_many(group, since)
                except Exception as exc:
                    logger.warning("the sockets' catch-up after their groups were joined again failed: %s", exc)

    async def _add_again(self, member: Member, group: str) -> None:
        async with _gate.semaphore():
            if group not in self._groups.get(member, ()):
                return  # left meanwhile
            await self.layer.group_add(group, member.channel_name)
        if group not in self._groups.get(member, ()):
            # It left while the add was in flight, maybe before it: take it out again.
            async with _gate.semaphore():
                await self.layer.group_discard(group, member.channel_name)

    async def _tell(self, member: Member, since: float) -> None:
        try:
            await member.on_rejoined(since)
        except Exception as exc:
            logger.warning("a socket's catch-up after its groups were joined again failed: %s", exc)


# One per event loop: a server process has one loop; tests start a loop per test.
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerGroups] = weakref.WeakKeyDictionary()


def layer_groups(layer) -> LayerGroups:
    """The memberships in `layer` of the running event loop (this process's, under daphne)."""
    loop = asyncio.get_running_loop()
    groups = _per_loop.get(loop)
    if groups is None or groups.layer is not layer:
        groups = _per_loop[loop] = LayerGroups(layer)
    return groups


def forget(layer, member: Member) -> None:
    """`member` is gone: drop its memberships in `layer`, if this loop holds any (never starts a registry)."""
    groups = _per_loop.get(asyncio.get_running_loop())
    if groups is not None and groups.layer is layer:
        groups.forget(member)
