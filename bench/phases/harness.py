"""What every phase shares: fresh daphne processes, seeded attempts, load generators, the monitor's windows."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from attempts import timer
from attempts.models import Attempt
from bench import seed
from bench.monitor import Monitor
from bench.processes import Loadgen
from bench.stack import Stack
from tests.e2e.servers import ServerProcess

FAR_SECONDS = 2 * 3600
# Sockets per load-generator process: one asyncio process keeps up with ~5k ticks a second here.
SOCKETS_PER_LOADGEN = 5000
# Timer keys deleted per Redis round trip.
UNLINK_BATCH = 5000


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

    # --- daphne processes ----------------------------------------------------------------

    def fresh_web(
        self, name: str, application: str | None = None, *, watch_as: str = "daphne", cwd: Path | None = None
    ) -> ServerProcess:
        web = self.stack.start_web(name, application or self.product_app, cwd=cwd)
        web.watch_as = watch_as
        self.monitor.watch(watch_as, web.process.pid)
        time.sleep(1.0)
        return web

    def fresh_webs(
        self, prefix: str, count: int, application: str | None = None, *, cwd: Path | None = None
    ) -> list[ServerProcess]:
        """`count` fresh processes `prefix-1`, `prefix-2`, ..., watched as daphne, daphne-2, ..."""
        return [
            self.fresh_web(
                f"{prefix}-{n + 1}", application, watch_as="daphne" if n == 0 else f"daphne-{n + 1}", cwd=cwd
            )
            for n in range(count)
        ]

    def drop_web(self, web: ServerProcess) -> None:
        self.monitor.unwatch(getattr(web, "watch_as", "daphne"))
        self.stack.stop(web)

    # --- rows ----------------------------------------------------------------------------

    def seeded(self, title: str, count: int, deadlines: list[float] | None = None) -> tuple[int, list[int], list[int]]:
        """(exam id, attempt ids, user ids) of `count` ongoing attempts, far deadlines unless given."""
        user_ids = seed.users(count)
        exam_id = seed.exam(f"bench {title}")
        if deadlines is None:
            deadlines = [float(math.floor(time.time()) + FAR_SECONDS)] * count
        return exam_id, seed.attempts(exam_id, user_ids, deadlines), user_ids

    def drop_exam(self, exam_id: int) -> None:
        unlink_timers(list(Attempt.objects.filter(exam_id=exam_id).values_list("pk", flat=True)))
        seed.delete_exams([exam_id])

    # --- load generators -----------------------------------------------------------------

    def loadgen(self, name: str, spec: dict) -> Loadgen:
        return Loadgen(name, spec, self.work_dir, self.env, self.log)

    def run_loadgen(self, name: str, spec: dict, timeout: float) -> dict:
        """One load generator of the REST phases, watched as "loadgen", run to its end: its result."""
        loadgen = self.loadgen(name, spec)
        self.monitor.watch("loadgen", loadgen.pid)
        result = loadgen.result(timeout=timeout)
        self.monitor.unwatch("loadgen")
        return result

    def connect(self, web: ServerProcess, rows: list[tuple[int, str, float]], name: str) -> list[Loadgen]:
        """Load generators holding one socket per row (attempt id, token, deadline); returns once all are open."""
        chunks = [rows[i : i + SOCKETS_PER_LOADGEN] for i in range(0, len(rows), SOCKETS_PER_LOADGEN)]
        loadgens = [
            self.loadgen(
                f"{name}-{n}",
                {
                    "mode": "sockets",
                    "ws_base": f"ws://127.0.0.1:{web.port}",
                    "origin": web.origin,
                    "sockets": chunk,
                    "connect_concurrency": 50,
                    "max_seconds": 900,
                },
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
        merged = {
            "ticks_at": [],
            "ticks_late": [],
            "ends": {},
            "closes": {},
            "time_changes": {},
            "connect_errors": 0,
            "connect": [],
        }
        for loadgen in loadgens:
            result = loadgen.result()
            self.monitor.unwatch(loadgen.name)
            merged["ticks_at"] += result["ticks_at"]
            merged["ticks_late"] += result["ticks_late"]
            merged["ends"].update(result["ends"])
            merged["closes"].update(result["closes"])
            merged["time_changes"].update(result["time_changes"])
            merged["connect_errors"] += result["connect_error_count"]
            merged["connect"] += result["connect_latencies"]
            merged.setdefault("connect_error_samples", []).extend(result["connect_errors"])
        return merged

    def redis_baseline(self, seconds: float = 3.0) -> float:
        """Commands/s on the shared Redis with our stack idle: subtracted from every measurement."""
        start = time.time()
        time.sleep(seconds)
        return self.monitor.window(start, time.time())["redis_commands_per_second"] or 0.0


def unlink_timers(attempt_ids: list[int]) -> None:
    """Delete the Redis timers of these attempts, `UNLINK_BATCH` keys per round trip."""
    client = timer.client()
    for start in range(0, len(attempt_ids), UNLINK_BATCH):
        client.unlink(*[timer.key_for(i) for i in attempt_ids[start : start + UNLINK_BATCH]])


def tokens_for(user_ids: list[int]) -> list[str]:
    minted = seed.tokens(user_ids)
    return [minted[u] for u in user_ids]


def with_tokens(attempt_ids: list[int], user_ids: list[int]) -> list[list]:
    """[attempt id, token] of each attempt, as the REST load generators take them."""
    return [list(row) for row in zip(attempt_ids, tokens_for(user_ids), strict=True)]


def daphne_total(per_process: dict[str, float]) -> float:
    """The sum over every daphne process (`daphne`, `daphne-2`, ...) of a per-process measure."""
    return sum(v for k, v in per_process.items() if k == "daphne" or k.startswith("daphne-"))
