"""The load generator's "recover" mode: sockets that reconnect by themselves, as the exam page does.

Each attempt socket (and an optional proctor dashboard socket) is opened, kept, and opened again
whenever it closes, until "STOP" arrives on stdin (or `max_seconds`). Waits before a reconnect
follow the page (`attempts/static/attempts/live.js` with `pace.js`): after `failures` failed tries
in a row, a random wait between 0.5 s and min(30 s, 1 s * 2^failures), the count reset by any frame
("page"); or a few milliseconds at random ("immediate": the worst case for the server). The initial
connects go `connect_concurrency` at once; reconnects are not gated (pages are not). Prints
"CONNECTED <sockets> <errors>" once every attempt socket has had a tick (and the dashboard its
snapshot), and "ALLTICKING" once every one has ticked after the moment given by a "MARK <t>" line on
stdin. Everything is recorded with its wall-clock arrival, so the orchestrator can measure from
moments it chose (Redis answering again, a new daphne accepting).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

CONNECT_TIMEOUT = 10.0  # a handshake that hangs longer counts as a failed try, as a browser's would
BACKOFF_FIRST = 1.0  # live.js BACKOFF_FIRST_MS
BACKOFF_MAX = 30.0  # live.js BACKOFF_MAX_MS
IMMEDIATE_JITTER = 0.05  # "immediate": up to 50 ms, so 2,000 sockets are not one syscall burst
# Closes after which the page does not come back (end of the attempt, refusals): not expected in
# the bench (far deadlines, valid tokens), but a socket that gets one stops instead of hammering.
FINAL_CLOSE_CODES = {1000, 4403, 4404, 4408}
MAX_FAILURE_RECORDS = 50_000  # bounds the result file when a server stays down


def say(*parts) -> None:
    print(*parts, flush=True)


def backoff(failures: int) -> float:
    """pace.js's backoff(failures, 1000, 30000) in seconds: full jitter above a floor of half the first wait."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2**failures)
    floor = min(ceiling, BACKOFF_FIRST / 2)
    return floor + random.random() * (ceiling - floor)


class Socket:
    """One socket's history: every open, close (code), frame of interest, and failed try, with their times."""

    def __init__(self, url: str, origin: str, policy: str) -> None:
        self.url = url
        self.origin = origin
        self.policy = policy
        self.opens: list[float] = []
        self.closes: list[tuple[float, int | None]] = []
        self.ticks: list[float] = []
        self.frames: list[tuple[float, str, object]] = []  # (arrival, type, id) of the frames but ticks
        self.failures = 0

    def wait(self) -> float:
        if self.policy == "immediate":
            return random.random() * IMMEDIATE_JITTER
        return backoff(self.failures)

    def record(self, now: float, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "tick":
            self.ticks.append(now)
        elif kind == "announcement":  # by its id
            self.frames.append((now, kind, frame.get("id")))
        elif kind == "presence":  # by attempt, with what it says: a flood of them is told apart from flapping
            self.frames.append((now, kind, [frame.get("attempt_id"), frame.get("connected")]))
        else:  # the dashboard's other attempt events by their attempt
            self.frames.append((now, kind, frame.get("attempt_id")))

    def result(self) -> dict:
        return {"opens": self.opens, "closes": self.closes, "ticks": self.ticks, "frames": self.frames}


class Recovering:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        policy = spec.get("reconnect", "page")
        self.sockets = {
            attempt_id: Socket(f"{base}/ws/attempts/{attempt_id}/?token={token}", origin, policy)
            for attempt_id, token, base, origin in spec["sockets"]
        }
        proctor = spec.get("proctor")
        self.proctor = (
            Socket(
                f"{proctor['ws_base']}/ws/proctor/exams/{proctor['exam_id']}/?token={proctor['token']}",
                proctor["origin"],
                policy,
            )
            if proctor
            else None
        )
        self.failed: list[tuple[float, str]] = []  # (when, what) of every failed try
        self.failure_count = 0
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.open: set = set()  # connections open now: closed by us on STOP
        self.waiting_for_first = set(self.sockets) | ({"proctor"} if self.proctor else set())

    def _first(self, key) -> None:
        if key in self.waiting_for_first:
            self.waiting_for_first.discard(key)
            if not self.waiting_for_first:
                self.ready.set()

    def _failed(self, what: str) -> None:
        self.failure_count += 1
        if len(self.failed) < MAX_FAILURE_RECORDS:
            self.failed.append((time.time(), what[:120]))

    async def keep(self, key, socket: Socket, gate: asyncio.Semaphore | None) -> None:
        """Open, read, reopen after each close with the policy's wait, until stopped or a final close."""
        while not self.stopping.is_set():
            try:
                if gate is not None:  # the initial connect only
                    async with gate:
                        connection = await connect(
                            socket.url, origin=socket.origin, open_timeout=CONNECT_TIMEOUT, ping_interval=None
                        )
                    gate = None
                else:
                    connection = await connect(
                        socket.url, origin=socket.origin, open_timeout=CONNECT_TIMEOUT, ping_interval=None
                    )
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                self._failed(f"{type(exc).__name__}: {exc}")
            else:
                socket.opens.append(time.time())
                self.open.add(connection)
                try:
                    async for text in connection:
                        now = time.time()
                        socket.failures = 0  # a frame arrived: the connection works (live.js)
                        socket.record(now, json.loads(text))
                        self._first(key)
                except ConnectionClosed:
                    pass
                finally:
                    self.open.discard(connection)
                if self.stopping.is_set():
                    return
                code = connection.close_code
                socket.closes.append((time.time(), code))
                if code in FINAL_CLOSE_CODES:
                    return
            delay = socket.wait()
            socket.failures += 1
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except TimeoutError:
                pass

    async def commands(self, until: float) -> None:
        """Lines on stdin until "STOP" (or its end, or `until`): "MARK <t>" starts watching for every attempt
        socket to tick after t, printed as "ALLTICKING" once they all have."""
        loop = asyncio.get_running_loop()
        watching = None
        while (left := until - time.monotonic()) > 0:
            reading = loop.run_in_executor(None, sys.stdin.readline)
            done, _ = await asyncio.wait([reading], timeout=left)
            line = reading.result().strip() if done else "STOP"
            if line.startswith("MARK "):
                watching = asyncio.create_task(self.all_ticking_after(float(line.split()[1])))
            elif line in ("STOP", ""):
                break
        if watching is not None:
            watching.cancel()

    async def all_ticking_after(self, moment: float) -> None:
        pending = set(self.sockets)
        while pending:
            pending = {k for k in pending if not (self.sockets[k].ticks and self.sockets[k].ticks[-1] > moment)}
            await asyncio.sleep(0.05)
        say("ALLTICKING")

    async def main(self) -> dict:
        gate = asyncio.Semaphore(self.spec.get("connect_concurrency", 50))
        tasks = [asyncio.create_task(self.keep(key, s, gate)) for key, s in self.sockets.items()]
        if self.proctor:
            tasks.append(asyncio.create_task(self.keep("proctor", self.proctor, gate)))
        started = time.monotonic()
        try:
            await asyncio.wait_for(self.ready.wait(), self.spec.get("connect_max_seconds", 600))
        except TimeoutError:
            say(f"progress not ready: {len(self.waiting_for_first)} sockets without a first frame")
        say(f"CONNECTED {len(self.sockets) - len(self.waiting_for_first)} {self.failure_count}")
        connect_seconds = time.monotonic() - started
        await self.commands(time.monotonic() + self.spec.get("max_seconds", 600))
        self.stopping.set()
        closing = [asyncio.create_task(c.close()) for c in list(self.open)]
        await asyncio.wait(tasks + closing, timeout=30)
        for task in tasks:
            task.cancel()
        return {
            "connect_seconds": connect_seconds,
            "sockets": {str(k): s.result() for k, s in self.sockets.items()},
            "proctor": self.proctor.result() if self.proctor else None,
            "failed": self.failed,
            "failure_count": self.failure_count,
        }


def run(spec: dict) -> dict:
    return asyncio.run(Recovering(spec).main())
