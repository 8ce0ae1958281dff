"""Ticks: N sockets held open on fresh daphne processes for a window (also each socket design side by side)."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

from attempts.models import Attempt
from bench.phases.connects import revision_of
from bench.phases.harness import Bench, daphne_total, tokens_for
from bench.stats import summary

SETTLE_SECONDS = 3.0


def ticks(
    bench: Bench,
    sockets: int,
    seconds: float,
    *,
    application: str | None = None,
    label="ours",
    webs: int = 1,
    cwd: Path | None = None,
):
    """`sockets` sockets on `webs` fresh daphne processes for `seconds`: lateness, CPU, RSS per socket, Redis.

    `cwd`: another checkout of the product whose daphne serves them (`ticks_before`)."""
    bench.log(f"ticks[{label}]: {sockets} sockets on {webs} daphne process(es), {seconds:.0f} s")
    servers = bench.fresh_webs(f"web-ticks-{label.split()[0]}-{sockets}", webs, application, cwd=cwd)
    exam_id, attempt_ids, user_ids = bench.seeded(f"ticks {label} {sockets}", sockets)
    deadline = Attempt.objects.get(pk=attempt_ids[0]).deadline_at.timestamp()
    rows = list(zip(attempt_ids, tokens_for(user_ids), [deadline] * sockets, strict=True))
    try:
        baseline_redis = bench.redis_baseline()
        rss_before = daphne_total(bench.monitor.sample_now().rss)
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
    rss_after = daphne_total(window["rss"])
    cpu_seconds = dict(window["cpu_seconds"])
    cpu_seconds["daphne"] = daphne_total(cpu_seconds)
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


def ticks_before(bench: Bench, sockets: int, seconds: float, checkout: Path) -> dict:
    """The same measure on another checkout's daphne (an earlier commit), labelled with its revision."""
    return ticks(bench, sockets, seconds, label=f"before ({revision_of(checkout)})", cwd=checkout)
