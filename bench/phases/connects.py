"""Connects: N sockets opened on one fresh daphne process, `concurrency` at once, each kept open (issue 12).

Side by side in one run: the product (JWT checked without the database, the user read with the
attempt in one trip, a persistent connection on the sockets' one database thread) and a bare ASGI
WebSocket app on the same daphne (`bench/bare_ws_asgi.py`: accept, one frame, nothing else),
the floor of what daphne and the load generator can do on this machine. A connect counts when
its first frame arrives (the product's `tick`, after every check). The rate over the second half
is the sustained one: those connects happen beside thousands of open, ticking sockets.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil
from django.db import IntegrityError

from bench.phases.harness import Bench, with_tokens
from bench.stats import summary

MYSQL_PORT = 3306
DB_SAMPLE_SECONDS = 0.05
APPLICATIONS = {"bare ASGI app": "bench.bare_ws_asgi:application", "ours": None}


class DatabaseConnections:
    """The daphne process's TCP connections to MariaDB, sampled in a thread: most at once, and distinct ones."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.most = 0
        self.distinct: set[tuple[int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-db-connections", daemon=True)

    def __enter__(self) -> DatabaseConnections:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                now = {
                    (c.laddr.port, c.raddr.port)
                    for c in self._process.net_connections(kind="tcp")
                    if c.raddr and c.raddr.port == MYSQL_PORT
                }
            except psutil.Error:
                return
            self.most = max(self.most, len(now))
            self.distinct |= now
            self._stop.wait(DB_SAMPLE_SECONDS)


def connects(bench: Bench, sockets: int, *, concurrency: int = 100, before: Path | None = None) -> dict:
    """`sockets` connects on a fresh daphne per design: rate overall and over the second half, latency, CPU.

    `before`: another checkout of the product (an earlier commit), measured too as "before", from its own code.
    """
    exam_id, attempt_ids, user_ids = bench.seeded("connects", sockets)
    rows = with_tokens(attempt_ids, user_ids)
    designs = {}
    runs = [(label, application, None) for label, application in APPLICATIONS.items()]
    if before is not None:
        runs.append((f"before ({revision_of(before)})", None, before))
    try:
        for label, application, cwd in runs:
            bench.log(f"connects[{label}]: {sockets} sockets, {concurrency} connecting at once")
            web = bench.fresh_web(f"web-connects-{label.split()[0]}", application, cwd=cwd)
            spec = {
                "mode": "connects",
                "ws_base": f"ws://127.0.0.1:{web.port}",
                "origin": web.origin,
                "sockets": rows,
                "concurrency": concurrency,
            }
            try:
                with DatabaseConnections(web.process.pid) as database:
                    result = bench.run_loadgen(f"connects-{label.split()[0]}", spec, timeout=sockets / 10 + 120)
            finally:
                bench.drop_web(web)
            window = bench.monitor.window(result["wall_started"], result["wall_ended"])
            designs[label] = _figures(result, window, database, sockets)
    finally:
        _drop_exam(bench, exam_id)
    return {"sockets": sockets, "concurrency": concurrency, "designs": designs}


def revision_of(checkout: Path) -> str:
    """The short commit of a checkout, for the table."""
    try:
        return subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return checkout.name


def _drop_exam(bench: Bench, exam_id: int, tries: int = 10) -> None:
    """Delete the phase's exam; the last presence rows of its closed sockets may still be written meanwhile
    (the expiry worker's presence reaper), and a row inserted during the cascade fails it: then again."""
    for attempt in range(tries):
        try:
            bench.drop_exam(exam_id)
            return
        except IntegrityError:
            if attempt == tries - 1:
                raise
            time.sleep(1.0)


def _figures(result: dict, window: dict, database: DatabaseConnections, sockets: int) -> dict:
    firsts = sorted(result["firsts"])  # (seconds from the start, latency, first frame type)
    done = [at for at, _, _ in firsts]
    half = len(done) // 2
    second_half = done[-1] - done[half] if len(done) > half + 1 else 0.0
    return {
        "connected": len(firsts),
        "first_frames": {kind: sum(1 for *_, k in firsts if k == kind) for kind in {k for *_, k in firsts}},
        "errors": result["error_count"],
        "error_samples": result["errors"][:5],
        "seconds": done[-1] if done else None,
        "rate": len(done) / done[-1] if done and done[-1] > 0 else None,
        "rate_second_half": (len(done) - 1 - half) / second_half if second_half > 0 else None,
        "latency": summary([latency for _, latency, _ in firsts]),
        "cpu": window["cpu"],
        # Per connect, the figure least bent by a machine shared with other work: a starved process connects
        # slower, but each connect costs it about the same (ticks of the sockets already open included).
        "cpu_ms_per_connect": window["cpu_seconds"].get("daphne", 0.0) * 1000 / len(firsts) if firsts else None,
        "db_connections_most": database.most,
        "db_connections_distinct": len(database.distinct),
    }
