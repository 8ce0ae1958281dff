"""One loop per process that sends each socket of this process its `tick`, once a second.

A registry maps attempt id -> the live sockets of that attempt on this process. Every
whole second the loop reads the TTLs of all registered attempts in ONE pipelined Redis
round trip (`timer.aremaining_many`), encodes one tick per attempt and sends it straight
down each socket. Nothing goes through the channel layer, a consumer handler or the
database thread, and no socket runs a Redis loop of its own.

A timer key that is missing is settled once, in the background: past its deadline the
attempt is expired (a safety net beside the expiry worker), before it the key was lost and
is restored. While Redis is unreachable the loop keeps ticking from the deadlines it cached;
a socket's `time_changed` moves its attempt's cached deadline (`deadline_moved`).

The same pass sends each socket its `warning` frames (`realtime.time_warnings`): no Redis read
of their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import weakref
from datetime import datetime
from typing import Protocol

from channels.db import database_sync_to_async
from django.utils import timezone

from attempts import clock, timer
from attempts.models import Attempt
from realtime import frames
from realtime.time_warnings import SocketWarnings

logger = logging.getLogger(__name__)

# A missing timer is settled once; if it is still missing, it is looked at again only this
# often, so a broken attempt costs one database trip per this many seconds, not one a second.
SETTLE_RETRY_SECONDS = 10.0
# A pass slower than this leaves little of its second to the sockets' other work: worth a log line.
SLOW_PASS_SECONDS = 0.5


class TickTarget(Protocol):
    """What the ticker needs of a socket."""

    async def push_text(self, text: str) -> None:
        """Send an already encoded frame."""

    async def attempt_over(self, status: str | None) -> None:
        """The attempt ended with `status` (None: it no longer exists): send the last frame and close."""


class Ticker:
    """The registry of this process's attempt sockets and the once-a-second loop that ticks them."""

    def __init__(self) -> None:
        self._targets: dict[int, set[TickTarget]] = {}
        self._deadlines: dict[int, datetime] = {}
        self._warnings: dict[TickTarget, SocketWarnings] = {}
        self._settled_at: dict[int, float] = {}  # attempt id -> monotonic time its missing timer was settled
        self._task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._last_slot = 0
        self._redis_down = False
        # Counters that tests read to prove one Redis read per pass.
        self.passes = 0  # once-a-second passes that had sockets to tick
        self.redis_round_trips = 0  # pipelined TTL reads sent to Redis (passes plus `sync` requests)

    @property
    def socket_count(self) -> int:
        return sum(len(targets) for targets in self._targets.values())

    @property
    def running(self) -> bool:
        return self._task is not None

    def register(
        self,
        target: TickTarget,
        *,
        attempt_id: int,
        deadline_at: datetime,
        warning_minutes: tuple[int, ...] = (),
        seconds_left: int = 0,
    ) -> None:
        """Tick `target` once a second from now on; starts the loop if it is not running.

        `warning_minutes` are the exam's thresholds (`time_warnings.thresholds_of`);
        `seconds_left` what the socket was shown on connect (no warning for a threshold already below).
        """
        self._targets.setdefault(attempt_id, set()).add(target)
        self._deadlines[attempt_id] = deadline_at
        if warning_minutes:
            self._warnings[target] = SocketWarnings(warning_minutes, seconds_left=seconds_left)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="attempt-ticker")

    def deadline_moved(self, target: TickTarget, *, attempt_id: int, deadline_at: datetime) -> None:
        """A proctor moved the attempt's deadline: the cached one follows, `target`'s warnings re-arm.

        The ticks need nothing: they read the moved Redis TTL. The cached deadline is what the
        loop ticks from while Redis is unreachable, and what decides whether a missing timer is due.
        """
        if target not in self._targets.get(attempt_id, ()):
            return  # not registered (yet, or any more): its next register() reads the new deadline
        self._deadlines[attempt_id] = deadline_at
        warnings = self._warnings.get(target)
        if warnings is not None:
            warnings.rearm(clock.seconds_to(deadline_at))

    def unregister(self, target: TickTarget, *, attempt_id: int) -> None:
        """Stop ticking `target` (closed or closing)."""
        self._warnings.pop(target, None)
        targets = self._targets.get(attempt_id)
        if targets is None:
            return
        targets.discard(target)
        if not targets:
            del self._targets[attempt_id]
            self._deadlines.pop(attempt_id, None)
            self._settled_at.pop(attempt_id, None)

    async def tick_now(self, target: TickTarget, *, attempt_id: int) -> None:
        """Send one socket its tick at once (the client's `sync`)."""
        if target in self._targets.get(attempt_id, ()):
            await self._tick({attempt_id: {target}})

    async def _run(self) -> None:
        try:
            while True:
                await self._sleep_to_next_second()
                if not self._targets:
                    return  # restarted by the next register(); nothing to do until then
                started = time.monotonic()
                try:
                    await self._tick(
                        {attempt_id: set(targets) for attempt_id, targets in self._targets.items()},
                        as_of=self._last_slot,
                    )
                    self.passes += 1
                    took = time.monotonic() - started
                    if took > SLOW_PASS_SECONDS:
                        logger.warning("ticker pass took %.2f s for %d sockets", took, self.socket_count)
                except Exception:
                    logger.exception("ticker pass failed; trying again next second")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _sleep_to_next_second(self) -> None:
        # Absolute whole-second slots: a pass that takes long delays nothing after it, and a
        # pass that overruns a slot skips it instead of bursting to catch up.
        slot = max(math.floor(time.time()) + 1, self._last_slot + 1)
        while (delay := slot - time.time()) > 0:
            await asyncio.sleep(delay)
        self._last_slot = slot

    async def _tick(self, targets: dict[int, set[TickTarget]], *, as_of: float | None = None) -> None:
        remaining = await self._remaining(list(targets), as_of=as_of)
        self._settle_soon([attempt_id for attempt_id, left in remaining.items() if left is None])
        for attempt_id, left in remaining.items():
            if left is None:
                continue
            frame = frames.tick_frame(
                attempt_id, left.seconds, remaining_ms=left.milliseconds, deadline_ms=left.deadline_ms
            )
            text = json.dumps(frame)  # encoded once per attempt
            warning_texts: dict[int, str] = {}  # minutes -> the encoded warning, once per attempt too
            for target in targets[attempt_id]:
                try:
                    await target.push_text(text)
                    warnings = self._warnings.get(target)
                    if warnings is not None and (minutes := warnings.crossed(left.seconds)) is not None:
                        if minutes not in warning_texts:
                            warning = frames.warning_frame(
                                attempt_id=attempt_id, remaining_seconds=left.seconds, minutes_left=minutes
                            )
                            warning_texts[minutes] = json.dumps(warning)
                        await target.push_text(warning_texts[minutes])
                except Exception:  # one broken socket must not cost the others their tick
                    logger.debug("tick to a socket of attempt %s failed", attempt_id, exc_info=True)

    async def _remaining(self, attempt_ids: list[int], *, as_of: float | None) -> dict[int, timer.TimeLeft | None]:
        """Time left per attempt from Redis, or from the cached deadlines while Redis is down."""
        try:
            # As of the whole second this pass belongs to: a pass that a busy loop started late
            # must not make the countdown stutter (the same value twice, then a skip).
            remaining = await timer.aremaining_many(attempt_ids, as_of=as_of)
        except timer.TimerUnavailable as exc:
            if not self._redis_down:
                logger.warning("timer Redis unreachable (%s); ticking from deadline_at until it answers", exc)
                self._redis_down = True
            now = timezone.now()
            return {attempt_id: self._left_to_deadline(attempt_id, now) for attempt_id in attempt_ids}
        self.redis_round_trips += 1
        if self._redis_down:
            logger.info("timer Redis answers again")
            self._redis_down = False
        for attempt_id, left in remaining.items():
            if left is not None:
                self._settled_at.pop(attempt_id, None)  # present again: a later loss is settled at once
        return remaining

    def _left_to_deadline(self, attempt_id: int, now: datetime) -> timer.TimeLeft | None:
        """Time left from the cached deadline; None once it passed (settled like a missing timer)."""
        deadline_at = self._deadlines.get(attempt_id)
        if deadline_at is None or not (seconds := clock.seconds_to(deadline_at, now=now)):
            return None
        return timer.TimeLeft(seconds, clock.ms_until(deadline_at, now=now), math.floor(deadline_at.timestamp() * 1000))

    def _settle_soon(self, attempt_ids: list[int]) -> None:
        now, clock = timezone.now(), time.monotonic()
        due_ids, other_ids = [], []
        for attempt_id in attempt_ids:
            deadline_at = self._deadlines.get(attempt_id)
            if deadline_at is None:
                continue  # its last socket left meanwhile
            last = self._settled_at.get(attempt_id)
            if last is not None and clock - last < SETTLE_RETRY_SECONDS:
                continue
            self._settled_at[attempt_id] = clock
            (due_ids if deadline_at <= now else other_ids).append(attempt_id)
        if not due_ids and not other_ids:
            return
        task = asyncio.get_running_loop().create_task(self._settle(due_ids, other_ids))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _settle(self, due_ids: list[int], other_ids: list[int]) -> None:
        # In the background: the database thread may be busy, and the next tick must not wait for it.
        if due_ids:
            await self._end_those_already_decided(due_ids)
        try:
            attempts = await database_sync_to_async(clock.attempts_reconcile_many)(due_ids=due_ids, other_ids=other_ids)
        except Exception:
            logger.exception("settling the missing timers of attempts %s failed", [*due_ids, *other_ids][:20])
            return
        for attempt_id, attempt in attempts.items():
            targets = self._targets.get(attempt_id)
            if not targets:
                continue
            if attempt is not None and attempt.status == Attempt.Status.ONGOING:
                self._deadlines[attempt_id] = attempt.deadline_at
                continue
            # Normally the attempt's end broadcast closes these sockets too; closing them here as
            # well keeps a socket from ticking forever if that message was lost.
            status = attempt.status if attempt is not None else None
            for target in list(targets):
                await target.attempt_over(status)

    async def _end_those_already_decided(self, due_ids: list[int]) -> None:
        """Send the last frame at once to the sockets of due attempts whose end is already decided.

        Their sockets need not wait for the transaction that records the end: with 10,000
        attempts sharing a deadline, that wait (and the 10,000 channel-layer messages) made the
        last frame 33 s late (bench/README.md).
        """
        try:
            ends = await database_sync_to_async(clock.ends_of_due)(due_ids)
        except Exception:
            logger.exception("reading %d attempts whose timers ran out failed", len(due_ids))
            return
        for attempt_id, end in ends.items():
            if end is None:
                continue  # not decided: its deadline moved (the settle restores its timer), or a request holds it
            for target in list(self._targets.get(attempt_id, ())):
                await target.attempt_over(end)


# One ticker per event loop. A server process has one loop; tests start a loop per test.
_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker] = weakref.WeakKeyDictionary()


def get_ticker() -> Ticker:
    """The ticker of the running event loop (this process's, under daphne)."""
    loop = asyncio.get_running_loop()
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = Ticker()
    return ticker
