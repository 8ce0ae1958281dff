"""This process's side of presence: its open attempt sockets, its heartbeat, and the settling.

Consumers call `opened`/`closed` (synchronous, never suspending). Only the first socket of an
attempt on this process and its last one are news to the registry; they are batched into the
next heartbeat (`attempts.presence.abeat`), sent at once when there is news and at least every
HEARTBEAT_SECONDS otherwise. Each attempt whose last socket anywhere closed, or whose first
opened, is then settled in the database (`services.presence.settle`) by a second task, so a
slow or unreachable database never delays a heartbeat (a late heartbeat would make the
expiry worker take this process for dead). What fails is tried again on the next round.

A thread of its own also refreshes the process's beat every HEARTBEAT_SECONDS (`KeepAlive`):
the loop's beat is late whenever the loop is (10,000 ticks, a garbage collection, a connect
storm on a busy machine), and at load 5-8 a daphne holding 10,000 sockets missed
DEAD_AFTER_SECONDS again and again: each false death marked every one of its students offline.
A process that is gone (SIGKILL) has no thread left either.

The same presence keeps this process's socket caps (`realtime.held_caps`) and rewrites them every
REWRITE_SECONDS while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, InterfaceError, close_old_connections, connection

from attempts import presence
from attempts.services.presence import Settled, settle
from realtime import held_caps
from realtime.cancelling import cancel_requested

logger = logging.getLogger(__name__)

# Longest a process's first socket waits for its first heartbeat before it is counted under the caps.
FIRST_BEAT_WAIT_SECONDS = 1.0
# Longest wait between two tries of a database that failed to settle.
SETTLE_RETRY_SECONDS = 1.0
# An attempt whose row another transaction held (an answer being saved) is tried again after this.
BUSY_RETRY_SECONDS = 0.1


class LocalPresence:
    """The attempts with a socket open on this process, kept in the registry while the process lives."""

    def __init__(self) -> None:
        self.process_id = uuid.uuid4().hex
        self._sockets: dict[int, set[object]] = {}
        self._watchers: set[object] = set()  # proctor sockets open here
        self._news: set[int] = set()  # attempts whose first socket opened or last closed here, not yet sent
        self._unsettled: set[int] = set()  # attempts to settle in the database
        self._gone_at: dict[int, int] = {}  # of those, the ones a dead peer left -> its last beat (Unix ms)
        self._seen_at: dict[int, int] = {}  # of those, when Redis saw their change (Unix ms)
        self._out_of_step = True  # the first beat writes the whole truth, as after any doubt
        self._news_arrived = asyncio.Event()
        self._unsettled_arrived = asyncio.Event()
        self._beating: asyncio.Task | None = None
        self._settling: asyncio.Task | None = None
        self._keep_alive: KeepAlive | None = None
        self.caps = held_caps.HeldCaps(self.process_id)
        self._rewriting_caps: asyncio.Task | None = None
        self.beats = 0  # heartbeats that reached Redis (tests read it)
        self._beaten = asyncio.Event()  # set by the first heartbeat that reached Redis
        self.last_beat_ok = -math.inf  # time.monotonic() of the last heartbeat that reached Redis

    def opened(self, attempt_id: int, socket: object) -> None:
        sockets = self._sockets.setdefault(attempt_id, set())
        if not sockets:
            self._tell(attempt_id)
        sockets.add(socket)

    def closed(self, attempt_id: int, socket: object) -> None:
        sockets = self._sockets.get(attempt_id)
        if sockets is None or socket not in sockets:
            return  # closing runs more than once per socket
        sockets.discard(socket)
        if not sockets:
            del self._sockets[attempt_id]
            self._tell(attempt_id)

    def watch(self, socket: object) -> None:
        """A proctor socket: while one is open, this process beats and reaps dead peers, with no attempt socket."""
        self._watchers.add(socket)
        self._keep_running()

    def unwatch(self, socket: object) -> None:
        self._watchers.discard(socket)

    async def admit(self, caps: list[tuple[str, int]]) -> bool:
        """Count a socket of this process under `caps` (`realtime.held_caps`); False when one is full."""
        self._keep_running()  # whose rewrites repair the counts
        if not self._beaten.is_set():
            # Another process's admit counts this one's entries only while the registry lists it as alive:
            # admitted before this process's first heartbeat (a fresh daphne's reconnect storm), they were
            # taken for a dead process's and dropped, and one socket too many got in. Bounded: without Redis
            # the admit goes ahead (and is counted by the rewrite later).
            self._news_arrived.set()
            try:
                await asyncio.wait_for(self._beaten.wait(), FIRST_BEAT_WAIT_SECONDS)
            except TimeoutError:
                pass
        return await self.caps.admit(caps)

    def release(self, caps: list[tuple[str, int]]) -> None:
        """Take a socket admitted under `caps` off them."""
        self.caps.release(caps)
        self._keep_running()

    def _tell(self, attempt_id: int) -> None:
        self._news.add(attempt_id)
        self._news_arrived.set()
        self._keep_running()

    def _keep_running(self) -> None:
        """Start the heartbeat and the settling if they stopped (they stop when there is nothing to do)."""
        loop = asyncio.get_running_loop()
        if self._beating is None or self._beating.done():
            self._beating = loop.create_task(self._beat_forever(), name="presence-heartbeat")
        if self._settling is None or self._settling.done():
            self._settling = loop.create_task(self._settle_forever(), name="presence-settle")
        if self._rewriting_caps is None or self._rewriting_caps.done():
            self._rewriting_caps = loop.create_task(self._rewrite_caps_forever(), name="socket-caps-rewrite")
        if self._keep_alive is None or not self._keep_alive.is_alive():
            self._keep_alive = KeepAlive(self, loop)
            self._keep_alive.start()

    def _idle(self) -> bool:
        return not (self._sockets or self._watchers or self._news or self._unsettled) and self.caps.idle()

    async def _rewrite_caps_forever(self) -> None:
        while True:
            await asyncio.sleep(held_caps.REWRITE_SECONDS)
            if cancel_requested():
                return
            await self.caps.rewrite()
            if self._idle():
                return  # restarted by the next socket admitted

    async def _beat_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Woken by news, or by the timer: a plain Event wait, no wait_for (cancelled cleanly).
            timer = loop.call_later(presence.HEARTBEAT_SECONDS, self._news_arrived.set)
            await self._news_arrived.wait()
            timer.cancel()
            self._news_arrived.clear()
            await self._beat()
            if self._idle() or cancel_requested():
                return  # restarted by the next socket; the worker reaps this process's entry meanwhile

    async def _beat(self) -> None:
        news, self._news = self._news, set()
        changes = {attempt_id: attempt_id in self._sockets for attempt_id in news}
        held = len(self._sockets)  # what the registry must list for this process once `changes` apply
        try:
            if self._out_of_step:
                # The registry may not match the sockets: make it say exactly what they are.
                now_ms, touched = await presence.areplace(self.process_id, set(self._sockets))
                self._out_of_step = False
                flipped = touched | set(changes)
            else:
                beat = await presence.abeat(self.process_id, changes)
                now_ms = beat.now_ms
                if beat.fresh or beat.attempts_held != held:
                    # Reaped while alive, a lost answer, a Redis restarted empty or from an old snapshot.
                    logger.info("presence registry out of step for process %s: writing it again", self.process_id)
                    self._out_of_step = True
                    self._news_arrived.set()
                # Settled only where this change may have turned the attempt on or off as a whole;
                # a second tab, or a tab on another process, changes nothing to record.
                flipped = {pk for pk, left in beat.sockets_left.items() if left == (1 if changes[pk] else 0)}
        except Exception as exc:
            self._news |= news  # sent with the next beat that gets through, which writes everything again
            self._out_of_step = True
            if isinstance(exc, presence.PresenceUnavailable):
                logger.warning("presence heartbeat failed, Redis unreachable: %s", exc)
            else:
                logger.exception("presence heartbeat failed")
            return
        self.beats += 1
        self._beaten.set()
        self.last_beat_ok = time.monotonic()
        try:
            # A dead peer's attempts are offline from its last beat: found here as well as by the
            # expiry worker, so that presence does not depend on a worker running.
            reaped = await presence.areap_dead()
        except Exception as exc:
            logger.warning("reaping dead server processes failed: %s", exc)
            reaped = {}
        self._gone_at.update(reaped)
        self._seen_at.update(dict.fromkeys(flipped, now_ms))  # when Redis saw it, not when it is settled
        self._unsettled |= flipped | set(reaped)
        self._keep_running()  # the settler may have stopped while this beat was in flight
        # Also when there is nothing to settle: an idle settler wakes to stop.
        self._unsettled_arrived.set()

    async def _settle_forever(self) -> None:
        while True:
            await self._unsettled_arrived.wait()
            self._unsettled_arrived.clear()
            if cancel_requested():
                return
            if not self._unsettled:
                if self._idle():
                    return
                continue
            batch, self._unsettled = self._unsettled, set()
            gone_at = {pk: self._gone_at.pop(pk) for pk in batch if pk in self._gone_at}
            seen_at = {pk: self._seen_at.pop(pk) for pk in batch if pk in self._seen_at}
            try:
                settled = await asyncio.get_running_loop().run_in_executor(
                    _settle_thread, _settle, batch, gone_at, seen_at
                )
                self._keep_times(set(settled.busy), gone_at, seen_at)
                if settled.busy:
                    await self._retry_later(set(settled.busy), BUSY_RETRY_SECONDS)
            except (DatabaseError, InterfaceError, presence.PresenceUnavailable) as exc:
                logger.warning("presence of %d attempts not settled: %s", len(batch), exc)
                self._keep_times(batch, gone_at, seen_at)
                await self._retry_later(batch)
            except Exception:
                logger.exception("presence of %d attempts not settled", len(batch))
                self._keep_times(batch, gone_at, seen_at)
                await self._retry_later(batch)

    def _keep_times(self, batch: set[int], gone_at: dict[int, int], seen_at: dict[int, int]) -> None:
        """Keep the moments of what is tried again (a newer moment seen meanwhile wins)."""
        for pk in batch:
            if pk in gone_at:
                self._gone_at.setdefault(pk, gone_at[pk])
            if pk in seen_at:
                self._seen_at.setdefault(pk, seen_at[pk])

    async def _retry_later(self, batch: set[int], delay: float = SETTLE_RETRY_SECONDS) -> None:
        self._unsettled |= batch
        await asyncio.sleep(delay)
        self._unsettled_arrived.set()


# How long after the loop's last heartbeat this thread keeps the process alive: far beyond a busy
# second or a long collection, short enough that a hung loop's sockets count as gone.
KEEP_ALIVE_FOR_SECONDS = 30.0


class KeepAlive(threading.Thread):
    """Refreshes the process's beat while its loop is busy; ends with the loop, or when there is nothing to do."""

    def __init__(self, local: LocalPresence, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name="presence-keep-alive", daemon=True)
        # Weak: a test's loop and its presence go away when the test ends, and so does this thread.
        self._local = weakref.ref(local)
        self._loop = weakref.ref(loop)
        self.refreshed = 0  # beats this thread refreshed (tests read it)

    def run(self) -> None:
        while True:
            time.sleep(presence.HEARTBEAT_SECONDS)
            local, loop = self._local(), self._loop()
            if local is None or loop is None or loop.is_closed() or local._idle():
                return  # the loop's next news starts another one
            if time.monotonic() - local.last_beat_ok > KEEP_ALIVE_FOR_SECONDS:
                continue  # a loop hung (or failing) this long is taken for dead: its students go offline
            process_id = local.process_id
            del local, loop  # hold neither while sleeping
            try:
                self.refreshed += presence.keep_alive(process_id)
            except presence.PresenceUnavailable:
                pass  # the loop's own beat says so, once


# The settling's own thread and database connection, not the sockets' database threads
# (realtime/db.py): a settle neither queues behind the sockets' reads nor holds
# them up, and a loop shutting down never waits on a thread that is gone.
_settle_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="presence-settle")


def _settle(batch: set[int], gone_at: dict[int, int], seen_at: dict[int, int]) -> Settled:
    close_old_connections()
    try:
        try:
            return settle(batch, gone_at=gone_at, seen_at=seen_at)
        except DatabaseError:
            # The kept connection died under the settle (a MariaDB restart or KILL): once more on a new one.
            # Settling again is harmless: it records what the registry says, under the row lock.
            if connection.in_atomic_block or connection.connection is None or connection.is_usable():
                raise
            logger.info("presence settle's database connection lost; reconnecting once")
            connection.close()
            return settle(batch, gone_at=gone_at, seen_at=seen_at)
    finally:
        close_old_connections()


# One per event loop: a server process has one loop; tests start a loop per test.
_presences: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalPresence] = weakref.WeakKeyDictionary()


def get_presence() -> LocalPresence:
    """The presence of the running event loop (this process's, under daphne)."""
    loop = asyncio.get_running_loop()
    local = _presences.get(loop)
    if local is None:
        local = _presences[loop] = LocalPresence()
    return local
