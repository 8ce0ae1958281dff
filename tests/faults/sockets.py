"""A socket client that behaves like the exam page: it reconnects until its attempt ends, recording every frame."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.e2e.clients import attempt_path
from tests.e2e.servers import ServerProcess

FINAL_CLOSE_CODES = {1000, 4408}  # submitted, timed out: the page stops reconnecting
RECONNECT_DELAY = 0.2  # the exam page waits longer and backs off; short here to keep tests quick


@dataclass
class Tick:
    at: float  # Unix seconds when it arrived
    remaining_seconds: int


@dataclass
class AttemptWatcher:
    """One attempt's socket on `server`, kept open (reconnecting) until its end frame or `stop`."""

    server: ServerProcess
    attempt_id: int
    token: str
    ticks: list[Tick] = field(default_factory=list)
    frames: list[tuple[float, dict]] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    connects: int = 0
    failed_connects: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, read, reconnect after any close that does not end the attempt."""
        url = self.server.ws_url(f"{attempt_path(self.attempt_id)}?token={self.token}")
        while not stop.is_set() and not self.ended.is_set():
            try:
                async with connect(url, origin=self.server.origin, open_timeout=5) as socket:
                    self.connects += 1
                    await self._read(socket, stop)
            except (OSError, InvalidHandshake, TimeoutError):
                self.failed_connects += 1
            if not self.ended.is_set() and not stop.is_set():
                await asyncio.sleep(RECONNECT_DELAY)

    async def _read(self, socket, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(socket.recv())
                done, _ = await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if receiving not in done:
                    receiving.cancel()
                    return
                try:
                    text = receiving.result()
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    self.close_codes.append(code)
                    if code in FINAL_CLOSE_CODES:
                        self.ended.set()
                    return
                now = time.time()
                frame = json.loads(text)
                self.frames.append((now, frame))
                if frame["type"] == "tick":
                    self.ticks.append(Tick(at=now, remaining_seconds=frame["remaining_seconds"]))
        finally:
            stopping.cancel()

    def ticks_after(self, moment: float) -> list[Tick]:
        return [tick for tick in self.ticks if tick.at >= moment]

    def longest_gap(self, start: float, end: float) -> float:
        """The longest time without a tick between `start` and `end` (Unix seconds)."""
        moments = [start, *(tick.at for tick in self.ticks if start < tick.at < end), end]
        return max(b - a for a, b in itertools.pairwise(moments))

    def frame_of_type(self, kind: str) -> tuple[float, dict] | None:
        return next(((at, frame) for at, frame in self.frames if frame["type"] == kind), None)


def tick_error(tick: Tick, deadline: float) -> float:
    """How far a tick's `remaining_seconds` is from the true time left when it arrived (seconds).

    The ticker reads the TTL just before sending and rounds it up, so a correct tick is 0-1 s
    above the true value (plus the time the frame took to arrive).
    """
    return tick.remaining_seconds - (deadline - tick.at)


async def until(predicate, timeout: float, what: str) -> None:
    """The asyncio wait for a plain (not awaitable) condition, with a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        await asyncio.sleep(0.05)
