"""One loop per process that sends each socket of this process its `tick`, once a second.

A registry maps attempt id -> the live sockets of that attempt on this process. Shortly before
every whole second the loop reads the TTLs of all registered attempts in ONE Redis round trip
(`timer.aremaining_many`), as of that second; on the second it encodes one tick per attempt and
sends it straight down each socket (under daphne, to its WebSocket protocol: `realtime.fast_send`),
giving the event loop a turn every few hundred sockets so that the first ticks leave while the
last are framed. Nothing goes through the channel layer, a consumer handler or the
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
from datetime import UTC, datetime
from typing import Protocol

from channels.db import database_sync_to_async
from django.utils import timezone

from attempts import clock, timer
from attempts.models import Attempt
from realtime import frames
from realtime.fast_send import EncodedText
from realtime.time_warnings import SocketWarnings

logger = logging.getLogger(__name__)

# A missing timer is settled once; if it is still missing, it is looked at again only this
# often, so a broken attempt costs one database trip per this many seconds, not one a second.
SETTLE_RETRY_SECONDS = 10.0
# A pass slower than this leaves little of its second to the sockets' other work: worth a log line.
SLOW_PASS_SECONDS = 0.5
# The pass reads the TTLs ahead of its whole second, by the last read's duration times this plus a
# margin, within these bounds, so that its sends start on the second itself: at 10,000 sockets the
# read took ~90 ms, and every tick waited for it (bench/README.md, "Ticks").
READ_AHEAD_FACTOR = 1.5
READ_AHEAD_MARGIN_SECONDS = 0.01
READ_AHEAD_MIN_SECONDS = 0.02
READ_AHEAD_MAX_SECONDS = 0.3
# Sends between two turns of the event loop within a pass. A frame that Twisted buffers (its socket
# busy, or no direct path: realtime/fast_send.py) leaves only when the loop polls it: without a turn,
# none of those left before the last of 10,000 ticks was framed; the turns also keep other sockets'
# reads from waiting for the whole pass.
SENDS_PER_TURN = 200
# A TTL read this close to the cached deadline agrees with it (the read's own imprecision: its round
# trip); the tick then carries the cached, exact deadline, whose text is kept per attempt. A real
# difference (an extension not yet heard of here) is a whole second or more.
DEADLINE_AGREES_MS = 500


class TickTarget(Protocol):
    """What the ticker needs of a socket."""

    def push_now(self, encoded: EncodedText) -> bool:
        """Send an already encoded frame at once; False if this socket can only `push_text`."""

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
        self._moved_at: dict[int, float] = {}  # attempt id -> monotonic time its deadline last moved (`deadline_moved`)
        self._deadline_texts: dict[int, tuple[int, str]] = {}  # attempt id -> (deadline ms, its ISO text)
        self._read_ahead = READ_AHEAD_MIN_SECONDS
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
        # A pass that read the TTLs before this moment ticks the attempt from this deadline: a tick after the
        # socket's `time_changed` must count from the new time, and the read may predate the move.
        self._moved_at[attempt_id] = time.monotonic()
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
            self._moved_at.pop(attempt_id, None)
            self._deadline_texts.pop(attempt_id, None)

    async def tick_now(self, target: TickTarget, *, attempt_id: int) -> None:
        """Send one socket its tick at once (the client's `sync`)."""
        if target in self._targets.get(attempt_id, ()):
            await self._tick({attempt_id: {target}})

    async def _run(self) -> None:
        try:
            while True:
                slot = self._next_slot()
                await _sleep_until(slot - self._read_ahead)  # the read goes first, ahead of the second
                if not self._targets:
                    return  # restarted by the next register(); nothing to do until then
                started = time.monotonic()
                try:
                    await self._tick(
                        {attempt_id: set(targets) for attempt_id, targets in self._targets.items()}, as_of=slot
                    )
                    self.passes += 1
                    took = time.monotonic() - started
                    if took > SLOW_PASS_SECONDS + self._read_ahead:
                        logger.warning("ticker pass took %.2f s for %d sockets", took, self.socket_count)
                except Exception:
                    logger.exception("ticker pass failed; trying again next second")
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _next_slot(self) -> int:
        # Absolute whole-second slots: a pass that takes long delays nothing after it, and a
        # pass that overruns a slot skips it instead of bursting to catch up.
        self._last_slot = max(math.floor(time.time()) + 1, self._last_slot + 1)
        return self._last_slot

    async def _tick(self, targets: dict[int, set[TickTarget]], *, as_of: int | None = None) -> None:
        """One tick to each of `targets`: the second `as_of` (read ahead of it, sent on it), or now."""
        read_started = time.monotonic()
        remaining = await self._remaining(list(targets), as_of=as_of)
        if as_of is not None:
            took = time.monotonic() - read_started
            ahead = took * READ_AHEAD_FACTOR + READ_AHEAD_MARGIN_SECONDS
            self._read_ahead = min(READ_AHEAD_MAX_SECONDS, max(READ_AHEAD_MIN_SECONDS, ahead))
            await _sleep_until(as_of)
        self._settle_soon([attempt_id for attempt_id, left in remaining.items() if left is None])
        sent, next_turn = 0, SENDS_PER_TURN
        for attempt_id, left in remaining.items():
            if left is None:
                continue
            if self._moved_at.get(attempt_id, -math.inf) >= read_started:
                # Moved since the read (its `time_changed` may have gone out already): from the new deadline.
                left = self._left_to_deadline(attempt_id, as_of)
                if left is None:
                    continue
            if left.seconds <= 0:
                continue  # ran out between a read ahead and its second: the `timeout` frame follows
            text = self._tick_text(attempt_id, left)
            encoded = EncodedText(text)  # encoded and framed once per attempt
            warning_texts: dict[int, str] = {}  # minutes -> the encoded warning, once per attempt too
            for target in targets[attempt_id]:
                try:
                    if not target.push_now(encoded):
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
                sent += 1
            # Let the loop write the ticks framed so far, between attempts only: a `time_changed` let in
            # between two sockets of one attempt would be followed, on the rest, by a tick of the old time.
            if sent >= next_turn:
                next_turn = sent + SENDS_PER_TURN
                await asyncio.sleep(0)

    def _tick_text(self, attempt_id: int, left: timer.TimeLeft) -> str:
        cached = self._deadline_texts.get(attempt_id)
        if cached is None or abs(cached[0] - left.deadline_ms) > DEADLINE_AGREES_MS:
            deadline_at = self._deadlines.get(attempt_id)
            deadline_ms = left.deadline_ms
            if deadline_at is not None and abs(frames.unix_ms(deadline_at) - deadline_ms) <= DEADLINE_AGREES_MS:
                deadline_ms = frames.unix_ms(deadline_at)  # the permanent record, to the millisecond
            cached = self._deadline_texts[attempt_id] = (deadline_ms, frames.iso_ms(deadline_ms))
        return frames.tick_text(attempt_id, left.seconds, remaining_ms=left.milliseconds, deadline_at=cached[1])

    async def _remaining(self, attempt_ids: list[int], *, as_of: int | None) -> dict[int, timer.TimeLeft | None]:
        """Time left per attempt from Redis, or from the cached deadlines while Redis is down."""
        try:
            # As of the whole second this pass belongs to: a pass that a busy loop started late
            # must not make the countdown stutter (the same value twice, then a skip).
            remaining = await timer.aremaining_many(attempt_ids, as_of=as_of)
        except timer.TimerUnavailable as exc:
            if not self._redis_down:
                logger.warning("timer Redis unreachable (%s); ticking from deadline_at until it answers", exc)
                self._redis_down = True
            return {attempt_id: self._left_to_deadline(attempt_id, as_of) for attempt_id in attempt_ids}
        self.redis_round_trips += 1
        if self._redis_down:
            logger.info("timer Redis answers again")
            self._redis_down = False
        for attempt_id, left in remaining.items():
            if left is not None:
                self._settled_at.pop(attempt_id, None)  # present again: a later loss is settled at once
        return remaining

    def _left_to_deadline(self, attempt_id: int, as_of: int | None) -> timer.TimeLeft | None:
        """Time left from the cached deadline, as of the second `as_of` (or now); None once it passed (settled
        like a missing timer)."""
        deadline_at = self._deadlines.get(attempt_id)
        now = timezone.now()
        moment = now if as_of is None else datetime.fromtimestamp(as_of, UTC)
        if deadline_at is None or not (seconds := clock.seconds_to(deadline_at, now=moment)):
            return None
        ms = max(0, clock.ms_until(deadline_at, now=max(now, moment)))
        return timer.TimeLeft(seconds, ms, frames.unix_ms(deadline_at))

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


async def _sleep_until(moment: float) -> None:
    """Sleep until the wall clock reads `moment` (Unix seconds); at once if it is past."""
    while (delay := moment - time.time()) > 0:
        await asyncio.sleep(delay)


# One ticker per event loop. A server process has one loop; tests start a loop per test.
_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker] = weakref.WeakKeyDictionary()


def get_ticker() -> Ticker:
    """The ticker of the running event loop (this process's, under daphne)."""
    loop = asyncio.get_running_loop()
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = Ticker()
    return ticker
