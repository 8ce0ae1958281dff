"""The simulated students, in a process of their own: `python -m bench.loadgen SPEC.json RESULT.json`.

Modes (the spec's "mode"):
- sockets: open one WebSocket per (attempt, token), print "CONNECTED <n> <errors>" once each
  has its first frame (or failed), record
  every frame until "STOP" arrives on stdin (or `max_seconds`), then close them all.
  Ticks are kept as (arrival, lateness): lateness is measured against the whole second the
  ticker meant, `deadline - remaining_seconds` (deadlines are whole seconds).
- starts: POST start for each (exam, token), open loop, evenly over `seconds`, a fresh
  connection each (as many browsers would).
- remaining: `concurrency` clients, closed loop on keep-alive connections, for `seconds`.
- closed: `concurrency` clients on keep-alive connections, each sending the next of the spec's
  requests (method, path, token) as soon as its last one is answered, for `seconds` or until
  the requests run out (throughput: the same loop for starts and for a bare page).
- poll: each student GETs remaining every `interval` seconds (phases spread evenly), open
  loop, over a pool of keep-alive connections, for `seconds`.
- connects: open one WebSocket per (attempt, token), `concurrency` at once (closed loop), each
  counted when its first frame arrives, and keep every one open (frames read and dropped) until
  all are, so that the last connects happen beside thousands of open sockets; then close all.
- recover: sockets (and a proctor dashboard) that reconnect by themselves like the exam page,
  every open, close and frame recorded with its time (bench/reconnecting.py).
- victims, abuse: the fair-share phase's students and its one flooding token (bench/fair_clients.py).
Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bench import fair_clients, reconnecting
from bench.httpclient import HttpConnection

CONNECT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0


def say(*parts) -> None:
    print(*parts, flush=True)


# --- sockets -------------------------------------------------------------------------------


class SocketRecorder:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.ticks_at: list[float] = []
        self.ticks_late: list[float] = []
        self.ends: dict[int, tuple[str, float]] = {}  # attempt id -> (frame type, arrival)
        # attempt id -> [(arrival, change_seconds)] of every `time_changed` frame
        self.time_changes: dict[int, list[tuple[float, int]]] = {}
        self.closes: dict[int, int | None] = {}
        self.connect_errors: list[str] = []
        self.connect_latencies: list[float] = []
        self.stopping = False

    async def run_socket(self, attempt_id: int, token: str, deadline: float, gate: asyncio.Semaphore, ready):
        url = f"{self.spec['ws_base']}{self.spec.get('path', '/ws/attempts/')}{attempt_id}/?token={token}"
        async with gate:
            started = time.monotonic()
            try:
                connection = await connect(
                    url, origin=self.spec["origin"], open_timeout=CONNECT_TIMEOUT, ping_interval=None, max_queue=64
                )
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.connect_errors.append(f"{type(exc).__name__}: {exc}"[:200])
                ready()
                return
            self.connect_latencies.append(time.monotonic() - started)
        # Counted as connected at its first frame, not at the handshake: the server has then read the attempt
        # and registered the socket with its ticker. At 10,000 sockets the reads ran ~15 s behind the
        # handshakes, and a window started at the last handshake measured passes still growing (bench/README.md).
        first = True
        try:
            async for text in connection:
                if first:
                    first = False
                    ready()
                now = time.time()
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "tick":
                    self.ticks_at.append(now)
                    self.ticks_late.append(now - (deadline - frame["remaining_seconds"]))
                elif kind in ("timeout", "completed"):
                    self.ends[attempt_id] = (kind, now)
                elif kind == "time_changed":
                    self.time_changes.setdefault(attempt_id, []).append((now, frame["change_seconds"]))
        except ConnectionClosed:
            pass
        finally:
            if first:
                ready()  # closed before its first frame: counted all the same, or the phase would wait forever
            if not self.stopping:
                self.closes[attempt_id] = connection.close_code
                if len(self.closes) == len(self.spec["sockets"]):
                    say("ALLCLOSED")
            await connection.close()

    async def main(self) -> dict:
        sockets = self.spec["sockets"]
        gate = asyncio.Semaphore(self.spec.get("connect_concurrency", 100))
        connected = 0
        all_ready = asyncio.Event()

        def ready():
            nonlocal connected
            connected += 1
            if connected % 1000 == 0:
                say(f"progress connected {connected}/{len(sockets)}")
            if connected == len(sockets):
                all_ready.set()

        async def tracked(attempt_id, token, deadline):
            await self.run_socket(attempt_id, token, deadline, gate, ready)

        tasks = [asyncio.create_task(tracked(*row)) for row in sockets]
        started = time.monotonic()
        await asyncio.wait_for(all_ready.wait(), self.spec.get("connect_max_seconds", 600))
        connect_seconds = time.monotonic() - started
        say(f"CONNECTED {len(sockets) - len(self.connect_errors)} {len(self.connect_errors)}")
        loop = asyncio.get_running_loop()
        stop_line = loop.run_in_executor(None, sys.stdin.readline)
        await asyncio.wait([stop_line], timeout=self.spec.get("max_seconds", 600))
        self.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=60)
        return {
            "connect_seconds": connect_seconds,
            "connect_errors": self.connect_errors[:20],
            "connect_error_count": len(self.connect_errors),
            "connect_latencies": self.connect_latencies,
            "ticks_at": self.ticks_at,
            "ticks_late": self.ticks_late,
            "ends": {str(k): v for k, v in self.ends.items()},
            "closes": {str(k): v for k, v in self.closes.items()},
            "time_changes": {str(k): v for k, v in self.time_changes.items()},
        }


# --- HTTP ----------------------------------------------------------------------------------


async def timed(coro_factory) -> tuple[float, int | str]:
    started = time.monotonic()
    try:
        status, _ = await asyncio.wait_for(coro_factory(), REQUEST_TIMEOUT)
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
        return time.monotonic() - started, type(exc).__name__
    return time.monotonic() - started, status


async def run_starts(spec: dict) -> dict:
    """Open loop: request i leaves at t0 + i * seconds / n, whatever the earlier ones are doing."""
    ports, rows, seconds = spec["ports"], spec["starts"], spec["seconds"]
    results: list[tuple[float, float, int | str]] = []

    async def one(i: int, exam_id: int, token: str):
        await asyncio.sleep(max(0.0, t0 + i * seconds / len(rows) - time.monotonic()))
        sent = time.time()
        connection = HttpConnection(ports[i % len(ports)])  # round robin, as a proxy would
        try:
            latency, status = await timed(
                lambda: connection.request("POST", f"/api/exam/timer/start/{exam_id}/", token=token, keep_alive=False)
            )
        finally:
            await connection.close()
        results.append((sent, latency, status))
        if len(results) % 500 == 0:
            say(f"progress starts {len(results)}/{len(rows)}")

    t0 = time.monotonic() + 0.5
    await asyncio.gather(*(one(i, exam_id, token) for i, (exam_id, token) in enumerate(rows)))
    return {"requests": results}


async def run_remaining(spec: dict) -> dict:
    """`concurrency` clients, each sending its next request as soon as the last one is answered."""
    ports, rows, seconds = spec["ports"], spec["attempts"], spec["seconds"]
    results: list[tuple[float, float, int | str]] = []
    end = time.monotonic() + seconds

    async def client(index: int):
        connection = HttpConnection(ports[index % len(ports)])
        n = index
        try:
            while time.monotonic() < end and len(results) < spec.get("max_requests", 1_000_000):
                attempt_id, token = rows[n % len(rows)]
                n += spec["concurrency"]
                sent = time.time()
                latency, status = await timed(
                    lambda a=attempt_id, t=token: connection.request("GET", f"/api/exam/timer/remaining/{a}/", token=t)
                )
                results.append((sent, latency, status))
                if not isinstance(status, int):
                    await connection.close()
        finally:
            await connection.close()

    started = time.time()
    await asyncio.gather(*(client(i) for i in range(spec["concurrency"])))
    return {"requests": results, "started": started, "ended": time.time()}


async def run_poll(spec: dict) -> dict:
    """Every student polls every `interval` s; requests share a pool of keep-alive connections."""
    ports, rows, seconds, interval = spec["ports"], spec["attempts"], spec["seconds"], spec["interval"]
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for n in range(spec.get("pool", 100)):
        pool.put_nowait(HttpConnection(ports[n % len(ports)]))
    results: list[tuple[float, float, int | str]] = []
    t0 = time.monotonic() + 0.5
    rounds = max(1, int(seconds // interval))

    async def student(i: int, attempt_id: int, token: str):
        for r in range(rounds):
            await asyncio.sleep(max(0.0, t0 + r * interval + i * interval / len(rows) - time.monotonic()))
            connection = await pool.get()
            try:
                sent = time.time()
                latency, status = await timed(
                    lambda c=connection: c.request("GET", f"/api/exam/timer/remaining/{attempt_id}/", token=token)
                )
                if not isinstance(status, int):
                    await connection.close()
                results.append((sent, latency, status))
            finally:
                pool.put_nowait(connection)

    started = time.time()
    await asyncio.gather(*(student(i, a, t) for i, (a, t) in enumerate(rows)))
    while not pool.empty():
        await pool.get_nowait().close()
    return {"requests": results, "started": started, "ended": time.time()}


async def run_connects(spec: dict) -> dict:
    """Closed loop of connects: (done, latency to the first frame, its type) of each, and the errors."""
    rows, gate = spec["sockets"], asyncio.Semaphore(spec["concurrency"])
    path = spec.get("path", "/ws/attempts/")
    firsts: list[tuple[float, float, str | None]] = []
    errors: list[str] = []
    opened = []

    async def drain(connection) -> None:
        try:
            async for _ in connection:
                pass
        except ConnectionClosed:
            pass

    async def one(attempt_id: int, token: str) -> None:
        async with gate:
            started = time.monotonic()
            try:
                connection = await connect(
                    f"{spec['ws_base']}{path}{attempt_id}/?token={token}",
                    origin=spec["origin"],
                    open_timeout=CONNECT_TIMEOUT,
                    ping_interval=None,
                    max_queue=16,
                )
                text = await asyncio.wait_for(connection.recv(), CONNECT_TIMEOUT)
            except (OSError, InvalidHandshake, TimeoutError, ConnectionClosed) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            done = time.monotonic()
            firsts.append((done, done - started, json.loads(text).get("type")))
        opened.append((connection, asyncio.create_task(drain(connection))))
        if len(firsts) % 1000 == 0:
            say(f"progress connects {len(firsts)}/{len(rows)}")

    started, wall_started = time.monotonic(), time.time()
    await asyncio.gather(*(one(attempt_id, token) for attempt_id, token in rows))
    ended, wall_ended = time.monotonic(), time.time()
    await asyncio.wait([asyncio.create_task(c.close()) for c, _ in opened] or [asyncio.sleep(0)], timeout=60)
    for _, task in opened:
        task.cancel()
    return {
        "seconds": ended - started,
        "wall_started": wall_started,
        "wall_ended": wall_ended,
        "firsts": [(done - started, latency, kind) for done, latency, kind in firsts],
        "errors": errors[:20],
        "error_count": len(errors),
    }


async def run_closed(spec: dict) -> dict:
    """Closed loop over a list of requests: `concurrency` in flight, each client its own keep-alive connection."""
    port, rows, seconds = spec["port"], spec["requests"], spec["seconds"]
    results: list[tuple[float, float, int | str]] = []
    end = time.monotonic() + seconds
    next_row = iter(range(len(rows)))

    async def client() -> None:
        connection = HttpConnection(port)
        try:
            for n in next_row:
                if time.monotonic() >= end:
                    break
                method, path, token = rows[n]
                sent = time.time()
                latency, status = await timed(lambda m=method, p=path, t=token: connection.request(m, p, token=t))
                results.append((sent, latency, status))
                if not isinstance(status, int):
                    await connection.close()
        finally:
            await connection.close()

    started = time.time()
    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    return {"requests": results, "started": started, "ended": time.time()}


def main() -> int:
    spec_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    mode = spec["mode"]
    if mode == "sockets":
        result = asyncio.run(SocketRecorder(spec).main())
    elif mode == "starts":
        result = asyncio.run(run_starts(spec))
    elif mode == "remaining":
        result = asyncio.run(run_remaining(spec))
    elif mode == "poll":
        result = asyncio.run(run_poll(spec))
    elif mode == "connects":
        result = asyncio.run(run_connects(spec))
    elif mode == "closed":
        result = asyncio.run(run_closed(spec))
    elif mode == "recover":
        result = reconnecting.run(spec)
    elif mode == "victims":
        result = asyncio.run(fair_clients.run_victims(spec))
    elif mode == "abuse":
        result = asyncio.run(fair_clients.run_abuse(spec))
    else:
        raise SystemExit(f"unknown mode {mode}")
    result_path.write_text(json.dumps(result))
    say("DONE")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
