"""The process's outbox: events committed here reach the channel layer from one background publisher.

Publishing on the caller's thread made every start wait for a few Redis round trips after
its commit (issue 12), and a layer outage made the request wait for the pool's retries and
then lose the event. Now the commit only appends the transaction's events here (no I/O: a
lock, a deque, at most one wake-up of the publisher), and one coroutine on the process's
publishing loop (`realtime.publisher`) sends them:

- in order: one transaction's messages go out together, as `publisher` sends a batch; the
  next transaction's only after every message of this one went out;
- not lost to an outage: a message the layer refused (its Redis unreachable past the
  pool's retries) is sent again, with backoff, until the layer takes it; the others wait
  behind it. A message that raised may have arrived anyway: a retry can repeat a frame,
  which every frame tolerates (each carries the state it reports, not a change to apply);
- bounded: past `MAX_PENDING_EVENTS` the oldest transactions are dropped, with one warning
  per outage saying how many. The newest say how things stand now; what is dropped, the
  sockets' own safety nets cover (the ticker's timeout frames, a dashboard's snapshot when
  it reconnects);
- drained when the process stops, for at most a few seconds: the expiry worker's command and
  daphne's "before shutdown" trigger (`realtime.shutdown`) call `attempts.events.flush`, so a
  worker that stops right after a mass timeout still tells the sockets; `atexit` is the last
  resort for other processes (by then the interpreter may refuse a new connection).

Each entry keeps the channel layer that was current when it was committed: a test that
switches layers (prefixes) between tests never gets another test's late events.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

import redis
from channels.layers import get_channel_layer

from attempts import events
from realtime import publisher
from realtime.cancelling import cancel_requested
from realtime.layer_groups import LAYER_ERRORS

logger = logging.getLogger(__name__)

# Events waiting at most (not messages: an announcement to 1,000 sockets is one event). A start's
# event is ~2 KB in memory, so the bound is ~100 MB at worst: a Redis outage of minutes in a start
# storm, not a leak. 50,000 covers a whole exam day's transitions of a large hall.
MAX_PENDING_EVENTS = 50_000
# Backoff between tries while the layer refuses: short at first (a Redis restart answers again
# within a second or two), then no more than every 2 s (each try already waits the pool's retries).
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0
# What the layer raises while its Redis cannot take a message for now: unreachable, or answering but
# refusing writes (a replica not promoted yet after a failover, maxmemory, a failed snapshot).
RETRIED_ERRORS = (
    *LAYER_ERRORS,
    TimeoutError,
    OSError,
    redis.ReadOnlyError,
    redis.OutOfMemoryError,
    redis.BusyLoadingError,
)
# How long a stopping process waits for its outbox to empty before it gives up (and says so).
DRAIN_AT_EXIT_SECONDS = 5.0


class Outbox:
    """Pending (layer, events) entries, oldest first, and the coroutine that sends them."""

    def __init__(self, *, limit: int = MAX_PENDING_EVENTS) -> None:
        self.limit = limit
        self._pending: deque[tuple[object, Sequence[events.Event]]] = deque()
        self._pending_events = 0
        self._in_flight = 0  # events taken by the sender, not yet sent (or given up)
        self._dropped = 0  # events dropped since the last warning about it
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified whenever nothing is pending nor in flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._sender_waiting = False
        self._generation = 0  # moved by `discard`: a batch being retried from before it is abandoned
        self._sending: asyncio.Future | None = None  # the send of the batch in flight

    # --- the committing side: any thread ------------------------------------------------

    def put(self, batch: Sequence[events.Event]) -> None:
        """Queue one transaction's events to be sent after the ones before them; never blocks on I/O."""
        if not batch:
            return
        layer = get_channel_layer()
        if layer is None:
            return  # no channel layer configured: nobody to tell
        wake = False
        with self._lock:
            self._pending.append((layer, batch))
            self._pending_events += len(batch)
            while self._pending_events > self.limit and len(self._pending) > 1:
                _, oldest = self._pending.popleft()
                self._pending_events -= len(oldest)
                if self._dropped == 0:
                    logger.warning(
                        "outbox full (%d events pending, channel layer unreachable?): dropping the oldest",
                        self._pending_events + len(oldest),
                    )
                self._dropped += len(oldest)
            if self._sender_waiting:
                self._sender_waiting = False
                wake = True
            loop = self._start_locked()
        if wake:
            loop.call_soon_threadsafe(self._wake.set)

    def pending(self) -> int:
        """Events not sent yet (queued or being sent)."""
        with self._lock:
            return self._pending_events + self._in_flight

    def drain(self, timeout: float) -> bool:
        """Wait until every event queued so far was sent (or given up); False when `timeout` ran out first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending_events or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def discard(self) -> int:
        """Forget every event not sent yet, the one being retried too; how many. For tests only.

        A test that stops its own Redis leaves its layer unreachable for good: its events would
        otherwise be retried ahead of every later test's.
        """
        with self._lock:
            forgotten = self._pending_events + self._in_flight
            self._pending.clear()
            self._pending_events = 0
            self._generation += 1
            sending, loop = self._sending, self._loop
        if sending is not None and loop is not None:
            # Also the send in flight: a batch of 1,000 messages to a dead layer waits up to ~70 s.
            loop.call_soon_threadsafe(sending.cancel)
        return forgotten

    def _start_locked(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = publisher.publishing_loop()
            self._wake = asyncio.Event()
            asyncio.run_coroutine_threadsafe(self._send_forever(), self._loop)
        return self._loop

    # --- the sending side: the publishing loop ------------------------------------------

    def _take(self) -> tuple[object, Sequence[events.Event], int] | None:
        with self._lock:
            if not self._pending:
                self._sender_waiting = True
                self._wake.clear()
                self._idle.notify_all()
                return None
            layer, batch = self._pending.popleft()
            self._pending_events -= len(batch)
            self._in_flight = len(batch)
            return layer, batch, self._generation

    def _done(self) -> None:
        with self._lock:
            self._in_flight = 0
            if self._dropped:
                logger.warning("outbox: %d events were dropped while the channel layer was unreachable", self._dropped)
                self._dropped = 0
            if not self._pending:
                self._idle.notify_all()

    async def _send_forever(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                await self._wake.wait()
                continue
            layer, batch, generation = taken
            self._sending = asyncio.ensure_future(self._send(layer, batch, generation))
            try:
                await self._sending
            except asyncio.CancelledError:
                if cancel_requested():
                    raise
                # `discard` cancelled this batch's send (its layer unreachable for good): the next one.
            except Exception:
                # A bug, not an outage (a message the layer cannot encode): retrying cannot help.
                logger.exception("outbox: %d events not published", len(batch))
            finally:
                self._done()

    async def _send(self, layer, batch: Sequence[events.Event], generation: int) -> None:
        # Imported here: the subscriber module subscribes this outbox, and builds the messages.
        from realtime.subscriber import messages_for

        messages = messages_for(batch)
        delay = RETRY_FIRST_SECONDS
        outage_since = None
        while messages and generation == self._generation:
            outcomes = await publisher.send_all(messages, layer=layer)
            failed = [(message, outcome) for message, outcome in zip(messages, outcomes, strict=True) if outcome]
            for _, outcome in failed:
                if not isinstance(outcome, RETRIED_ERRORS):
                    raise outcome
            if not failed:
                break
            if outage_since is None:
                outage_since = time.monotonic()
                # One line per outage, not a traceback per message.
                logger.warning(
                    "outbox: channel layer unreachable (%s): %d messages wait, retrying", failed[0][1], len(failed)
                )
            messages = [message for message, _ in failed]
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_SECONDS, delay * 2)
        if outage_since is not None:
            logger.warning("outbox: channel layer reachable again after %.1f s", time.monotonic() - outage_since)


_outbox = Outbox()


def outbox() -> Outbox:
    """This process's outbox."""
    return _outbox


def _drain_at_exit() -> None:
    if _outbox.pending() and not _outbox.drain(DRAIN_AT_EXIT_SECONDS):
        logger.warning("outbox: %d events not published before exit", _outbox.pending())


atexit.register(_drain_at_exit)
