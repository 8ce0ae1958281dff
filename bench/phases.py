"""The measurements of issue 6, one function each; every one leaves the database and Redis as it found them."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from attempts import timer
from attempts.models import Attempt
from bench import seed
from bench.dbwatch import TimeoutWatch
from bench.monitor import Monitor
from bench.processes import Loadgen
from bench.stack import Stack
from bench.stats import summary
from tests.e2e.servers import ServerProcess

FAR_SECONDS = 2 * 3600
# Sockets per load-generator process: one asyncio process keeps up with ~5k ticks a second here.
SOCKETS_PER_LOADGEN = 5000
SETTLE_SECONDS = 3.0
# Time given to the sockets of a timeout phase to connect before the first deadline
# (measured: 10,000 sockets connect in ~60 s here; 200 in ~1 s).
CONNECT_LEAD_SECONDS = 5.0
CONNECT_SECONDS_PER_SOCKET = 0.009


@dataclass
class Bench:
    env: dict[str, str]
    stack: Stack
    monitor: Monitor
    work_dir: Path
    log: callable
    worker: ServerProcess | None = None
    results: dict = field(default_factory=dict)
    # The product's app, or the same app with a log line per slow garbage collection (--gc-log).
    product_app: str = "examsite.asgi:application"

    # --- helpers -------------------------------------------------------------------------

    def fresh_web(self, name: str, application: str | None = None, *, watch_as: str = "daphne") -> ServerProcess:
        web = self.stack.start_web(name, application or self.product_app)
        web.watch_as = watch_as
        self.monitor.watch(watch_as, web.process.pid)
        time.sleep(1.0)
        return web

    def drop_web(self, web: ServerProcess) -> None:
        self.monitor.unwatch(getattr(web, "watch_as", "daphne"))
        self.stack.stop(web)

    def seeded(self, title: str, count: int, deadlines: list[float] | None = None) -> tuple[int, list[int], list[int]]:
        """(exam id, attempt ids, user ids) of `count` ongoing attempts, far deadlines unless given."""
        user_ids = seed.users(count)
        exam_id = seed.exam(f"bench {title}")
        if deadlines is None:
            deadlines = [float(math.floor(time.time()) + FAR_SECONDS)] * count
        return exam_id, seed.attempts(exam_id, user_ids, deadlines), user_ids

    def drop_exam(self, exam_id: int) -> None:
        ids = list(Attempt.objects.filter(exam_id=exam_id).values_list("pk", flat=True))
        client = timer.client()
        for start in range(0, len(ids), 5000):
            client.unlink(*[timer.key_for(i) for i in ids[start : start + 5000]]) if ids[start : start + 5000] else None
        seed.delete_exams([exam_id])

    def connect(self, web: ServerProcess, rows: list[tuple[int, str, float]], name: str) -> list[Loadgen]:
        """Load generators holding one socket per row (attempt id, token, deadline); returns once all are open."""
        chunks = [rows[i : i + SOCKETS_PER_LOADGEN] for i in range(0, len(rows), SOCKETS_PER_LOADGEN)]
        loadgens = [
            Loadgen(
                f"{name}-{n}",
                {
                    "mode": "sockets",
                    "ws_base": f"ws://127.0.0.1:{web.port}",
                    "origin": web.origin,
                    "sockets": chunk,
                    "connect_concurrency": 50,
                    "max_seconds": 900,
                },
                self.work_dir,
                self.env,
                self.log,
            )
            for n, chunk in enumerate(chunks)
        ]
        for loadgen in loadgens:
            self.monitor.watch(loadgen.name, loadgen.pid)
        for loadgen in loadgens:
            loadgen.wait_connected(timeout=900)
        return loadgens

    def collect(self, loadgens: list[Loadgen]) -> dict:
        for loadgen in loadgens:
            loadgen.stop()
        merged = {"ticks_at": [], "ticks_late": [], "ends": {}, "closes": {}, "connect_errors": 0, "connect": []}
        for loadgen in loadgens:
            result = loadgen.result()
            self.monitor.unwatch(loadgen.name)
            merged["ticks_at"] += result["ticks_at"]
            merged["ticks_late"] += result["ticks_late"]
            merged["ends"].update(result["ends"])
            merged["closes"].update(result["closes"])
            merged["connect_errors"] += result["connect_error_count"]
            merged["connect"] += result["connect_latencies"]
            merged.setdefault("connect_error_samples", []).extend(result["connect_errors"])
        return merged

    def redis_baseline(self, seconds: float = 3.0) -> float:
        """Commands/s on the shared Redis with our stack idle: subtracted from every measurement."""
        start = time.time()
        time.sleep(seconds)
        return self.monitor.window(start, time.time())["redis_commands_per_second"] or 0.0


def tokens_for(user_ids: list[int]) -> list[str]:
    minted = seed.tokens(user_ids)
    return [minted[u] for u in user_ids]


# --- 1. ticks ------------------------------------------------------------------------------


def _daphne_rss(sample_rss: dict[str, int]) -> int:
    return sum(v for k, v in sample_rss.items() if k == "daphne" or k.startswith("daphne-"))


def ticks(
    bench: Bench,
    sockets: int,
    seconds: float,
    *,
    application: str | None = None,
    label="ours",
    webs: int = 1,
):
    """`sockets` sockets on `webs` fresh daphne processes for `seconds`: lateness, CPU, RSS per socket, Redis."""
    bench.log(f"ticks[{label}]: {sockets} sockets on {webs} daphne process(es), {seconds:.0f} s")
    servers = [
        bench.fresh_web(
            f"web-ticks-{label}-{sockets}-{n + 1}", application, watch_as="daphne" if n == 0 else f"daphne-{n + 1}"
        )
        for n in range(webs)
    ]
    exam_id, attempt_ids, user_ids = bench.seeded(f"ticks {label} {sockets}", sockets)
    deadline = Attempt.objects.get(pk=attempt_ids[0]).deadline_at.timestamp()
    rows = list(zip(attempt_ids, tokens_for(user_ids), [deadline] * sockets, strict=True))
    try:
        baseline_redis = bench.redis_baseline()
        rss_before = _daphne_rss(bench.monitor.sample_now().rss)
        connect_started = time.time()
        loadgens = []
        for n, web in enumerate(servers):  # an equal share of the sockets on each process
            loadgens += bench.connect(web, rows[n::webs], f"ticks-{label}-w{n + 1}")
        connect_seconds = time.time() - connect_started
        time.sleep(SETTLE_SECONDS)
        start = time.time()
        while time.time() < start + seconds:
            time.sleep(min(5.0, start + seconds - time.time()))
            bench.log(f"  measuring {time.time() - start:.0f}/{seconds:.0f} s")
        end = time.time()
        window = bench.monitor.window(start, end)
        got = bench.collect(loadgens)
    finally:
        for web in servers:
            bench.drop_web(web)
        bench.drop_exam(exam_id)
    late = [lateness for at, lateness in zip(got["ticks_at"], got["ticks_late"], strict=True) if start <= at <= end]
    # Whole seconds inside the window, each owed one tick per socket.
    expected = sockets * (math.floor(end) - math.ceil(start) + 1)
    rss_after = _daphne_rss(window["rss"])
    cpu_seconds = dict(window["cpu_seconds"])
    cpu_seconds["daphne"] = sum(v for k, v in cpu_seconds.items() if k == "daphne" or k.startswith("daphne-"))
    return {
        "label": label,
        "sockets": sockets,
        "webs": webs,
        "seconds": end - start,
        "connect_seconds": connect_seconds,
        "connect_errors": got["connect_errors"],
        "connect_error_samples": got.get("connect_error_samples", [])[:5],
        "lateness": summary(late),
        "ticks_received": len(late),
        "ticks_expected": expected,
        "cpu": window["cpu"],
        "cpu_seconds": cpu_seconds,
        "rss_per_socket_kb": (rss_after - rss_before) / sockets / 1024 if sockets else None,
        "rss_daphne_mb": rss_after / 2**20,
        "redis_commands_per_second": (window["redis_commands_per_second"] or 0) - baseline_redis,
        "lateness_samples": random.sample(late, min(len(late), 20000)),
    }


# --- 2. timeouts ---------------------------------------------------------------------------


def timeouts(bench: Bench, web: ServerProcess | None, count: int, *, spread: float, label: str, filler: int = 0):
    """`count` attempts run out (over `spread` s, 0: all at one moment): deadline -> DB `timeout`, -> frame."""
    connected = web is not None
    bench.log(f"timeouts[{label}]: {count} attempts, spread {spread:.0f} s, connected={connected}, filler={filler}")
    filler_ids = seed.filler_timers(filler, FAR_SECONDS) if filler else []
    # Deadlines set before the sockets open, far enough ahead for all of them to connect: a
    # socket caches its attempt's deadline, as it would in an exam (moving deadlines afterwards
    # sent the ticker down its "deadline moved" path, one attempt at a time).
    first = time.time() + CONNECT_LEAD_SECONDS + (count * CONNECT_SECONDS_PER_SOCKET if connected else 0)
    if spread:
        deadlines = [first + random.uniform(0, spread) for _ in range(count)]
    else:
        deadlines = [math.floor(first) + 0.5] * count  # mid-second: neither helped nor hurt by the ticker's slot
    exam_id, attempt_ids, user_ids = bench.seeded(f"timeouts {label}", count, deadlines)
    loadgens = []
    try:
        if connected:
            far = [0.0] * count  # ticks are not measured here
            loadgens = bench.connect(web, list(zip(attempt_ids, tokens_for(user_ids), far, strict=True)), f"to-{label}")
            if time.time() > min(deadlines) - 1:
                bench.log("  WARNING: sockets connected less than 1 s before the first deadline")
        last = max(deadlines)
        watch = TimeoutWatch(attempt_ids, max_seconds=last - time.time() + 60).start()
        bench.log(f"  deadlines between +{min(deadlines) - time.time():.1f} s and +{last - time.time():.1f} s")
        watch.wait()
        window_start, window_end = min(deadlines), time.time()
        if connected:
            # Frames follow the commit: wait until the server closed every socket, bounded.
            bound = time.monotonic() + 60
            for loadgen in loadgens:
                loadgen.all_closed.wait(max(0.0, bound - time.monotonic()))
        got = bench.collect(loadgens) if loadgens else {"ends": {}, "closes": {}, "connect_errors": 0}
        window = bench.monitor.window(window_start - 1, window_end)
    finally:
        for loadgen in loadgens:
            loadgen.stop()
        bench.drop_exam(exam_id)
        if filler_ids:
            client = timer.client()
            for start in range(0, len(filler_ids), 5000):
                client.unlink(*[timer.key_for(i) for i in filler_ids[start : start + 5000]])
    deadline_of = dict(zip(attempt_ids, deadlines, strict=True))
    db_late = [watch.seen[a] - deadline_of[a] for a in attempt_ids if a in watch.seen]
    frame_late = [
        got["ends"][str(a)][1] - deadline_of[a]
        for a in attempt_ids
        if str(a) in got["ends"] and got["ends"][str(a)][0] == "timeout"
    ]
    return {
        "label": label,
        "count": count,
        "connected": connected,
        "filler": filler,
        "spread": spread,
        "db": summary(db_late),
        "db_missing": count - len(db_late),
        "frame": summary(frame_late) if connected else None,
        "frame_missing": count - len(frame_late) if connected else None,
        "connect_errors": got["connect_errors"],
        "cpu": window["cpu"],
        "db_samples": db_late,
        "frame_samples": frame_late,
    }


# --- 3. start burst ------------------------------------------------------------------------


def start_burst(bench: Bench, webs: list[ServerProcess], count: int, seconds: float) -> dict:
    bench.log(f"starts: {count} starts over {seconds:.0f} s on {len(webs)} daphne process(es)")
    user_ids = seed.users(count)
    exam_id = seed.exam("bench starts")
    try:
        loadgen = Loadgen(
            "starts",
            {
                "mode": "starts",
                "ports": [web.port for web in webs],
                "starts": [[exam_id, t] for t in tokens_for(user_ids)],
                "seconds": seconds,
            },
            bench.work_dir,
            bench.env,
            bench.log,
        )
        bench.monitor.watch("loadgen", loadgen.pid)
        result = loadgen.result(timeout=seconds + 120)
        bench.monitor.unwatch("loadgen")
        requests = result["requests"]
        window = bench.monitor.window(min(r[0] for r in requests), max(r[0] + r[1] for r in requests))
        created = Attempt.objects.filter(exam_id=exam_id).count()
    finally:
        bench.drop_exam(exam_id)
    errors = [r for r in requests if r[2] != 201]
    return {
        "count": count,
        "webs": len(webs),
        "seconds": seconds,
        "latency": summary([r[1] for r in requests]),
        "errors": len(errors),
        "error_samples": [str(r[2]) for r in errors[:10]],
        "attempts_created": created,
        "cpu": window["cpu"],
        "latency_samples": [[r[0] - requests[0][0], r[1]] for r in requests],
    }


# --- 4. REST remaining ---------------------------------------------------------------------


def remaining(bench: Bench, webs: list[ServerProcess], concurrency: int, seconds: float, attempts: int = 500) -> dict:
    bench.log(f"remaining: {concurrency} clients, {seconds:.0f} s on {len(webs)} daphne process(es)")
    exam_id, attempt_ids, user_ids = bench.seeded("remaining", attempts)
    try:
        loadgen = Loadgen(
            "remaining",
            {
                "mode": "remaining",
                "ports": [web.port for web in webs],
                "attempts": [list(row) for row in zip(attempt_ids, tokens_for(user_ids), strict=True)],
                "seconds": seconds,
                "concurrency": concurrency,
            },
            bench.work_dir,
            bench.env,
            bench.log,
        )
        bench.monitor.watch("loadgen", loadgen.pid)
        result = loadgen.result(timeout=seconds + 120)
        bench.monitor.unwatch("loadgen")
        window = bench.monitor.window(result["started"], result["ended"])
    finally:
        bench.drop_exam(exam_id)
    requests = result["requests"]
    ok = [r for r in requests if r[2] == 200]
    return {
        "concurrency": concurrency,
        "webs": len(webs),
        "seconds": result["ended"] - result["started"],
        "requests_per_second": len(ok) / (result["ended"] - result["started"]),
        "latency": summary([r[1] for r in ok]),
        "errors": len(requests) - len(ok),
        "cpu": window["cpu"],
    }


# --- 5. side by side -----------------------------------------------------------------------


def polling(bench: Bench, students: int, seconds: float, interval: float = 10.0) -> dict:
    """Every student polls REST `remaining` every `interval` s: daphne CPU per student-minute."""
    bench.log(f"polling: {students} students every {interval:.0f} s for {seconds:.0f} s")
    web = bench.fresh_web(f"web-poll-{students}")
    exam_id, attempt_ids, user_ids = bench.seeded(f"poll {students}", students)
    try:
        loadgen = Loadgen(
            "poll",
            {
                "mode": "poll",
                "ports": [web.port],
                "attempts": [list(row) for row in zip(attempt_ids, tokens_for(user_ids), strict=True)],
                "seconds": seconds,
                "interval": interval,
                "pool": 100,
            },
            bench.work_dir,
            bench.env,
            bench.log,
        )
        bench.monitor.watch("loadgen", loadgen.pid)
        result = loadgen.result(timeout=seconds + 300)
        bench.monitor.unwatch("loadgen")
        window = bench.monitor.window(result["started"], result["ended"])
    finally:
        bench.drop_web(web)
        bench.drop_exam(exam_id)
    requests = result["requests"]
    ok = [r for r in requests if r[2] == 200]
    return {
        "label": "REST polling",
        "sockets": students,
        "seconds": result["ended"] - result["started"],
        "requests": len(requests),
        "errors": len(requests) - len(ok),
        "latency": summary([r[1] for r in ok]),
        "cpu": window["cpu"],
        "cpu_seconds": window["cpu_seconds"],
        "redis_commands_per_second": window["redis_commands_per_second"],
    }
