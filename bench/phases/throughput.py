"""Start throughput: closed-loop starts against a bare page of the same daphne process, then the open-loop burst.

Issue 12's target: one process's closed-loop start throughput at least half its throughput on
a page without database (`/login/`: a template), measured in the same run on the same process;
and 2,000 starts over 10 s on it with p99 <= 500 ms. The process runs as in production
(DEBUG=0: no query log, collected static files), not as the other phases' DEBUG=1 processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

from attempts.models import Attempt
from bench import seed
from bench.phases.connects import revision_of
from bench.phases.harness import Bench, tokens_for
from bench.phases.rest import start_burst
from bench.stack import ROOT
from bench.stats import summary

BARE_PATH = "/login/"  # a template, no database: what the process serves with no start's work


def production_env(bench: Bench) -> dict[str, str]:
    static_root = bench.work_dir / "static"
    env = {
        "DEBUG": "0",
        # The orchestrator mints the tokens with its own (development) key: the process must verify them.
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "SECRET_KEY": "bench-production-secret-key-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
        "STATIC_ROOT": str(static_root),
        "LOG_LEVEL": "WARNING",  # no access line per request
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**bench.env, **env},
        check=True,
        timeout=300,
    )
    return env


def _closed(
    bench: Bench, web, name: str, requests: list[list], concurrency: int, seconds: float, *, profile: bool
) -> dict:
    spec = {"mode": "closed", "port": web.port, "requests": requests, "concurrency": concurrency, "seconds": seconds}
    # The window alone (--profile-windows): the bare page's and the starts' samples are not mixed.
    profiler = bench.stack.profile_window(web, f"throughput-{name}", seconds) if profile else None
    result = bench.run_loadgen(name, spec, timeout=seconds + 120)
    if profiler is not None:
        profiler.wait(timeout=60)
    window = bench.monitor.window(result["started"], result["ended"])
    rows = result["requests"]
    ok = [r for r in rows if r[2] in (200, 201)]
    took = result["ended"] - result["started"]
    return {
        "requests": len(rows),
        "requests_per_second": len(ok) / took,
        "latency": summary([r[1] for r in ok]),
        "errors": len(rows) - len(ok),
        "error_samples": sorted({str(r[2]) for r in rows if r[2] not in (200, 201)})[:5],
        "cpu": window["cpu"],
    }


def _closed_pair(bench: Bench, web, users: list[int], concurrency: int, seconds: float, *, name: str, profile: bool):
    """The bare page, then starts by fresh students (a new exam), closed loop on one process: their rates."""
    tokens = tokens_for(users)
    exam_id = seed.exam(f"bench throughput {name}")
    try:
        bare_requests = [["GET", BARE_PATH, tokens[0]]] * len(users)
        bare = _closed(bench, web, f"{name}-bare", bare_requests, concurrency, seconds, profile=profile)
        starts_requests = [["POST", f"/api/exam/timer/start/{exam_id}/", token] for token in tokens]
        starts = _closed(bench, web, f"{name}-starts", starts_requests, concurrency, seconds, profile=profile)
        starts["attempts_created"] = Attempt.objects.filter(exam_id=exam_id).count()
    finally:
        bench.drop_exam(exam_id)
    return {"bare": bare, "starts": starts, "ratio": starts["requests_per_second"] / bare["requests_per_second"]}


def throughput(
    bench: Bench,
    *,
    concurrency: int,
    seconds: float,
    burst: int,
    burst_seconds: float,
    max_rate: int = 600,
    profile: bool = False,
    before: Path | None = None,
) -> dict:
    """Ours (and `before`, another checkout, in the same run), each on a fresh process; then the burst on ours,
    on one process and on two."""
    bench.log(f"throughput: {concurrency} closed-loop clients, {seconds:.0f} s bare then starts; then {burst} starts")
    env = production_env(bench)
    users = seed.users(int(max_rate * seconds))  # one new student per start: each is a new attempt
    designs = {}
    for label, cwd in [("ours", None)] + ([(f"before ({revision_of(before)})", before)] if before else []):
        web = bench.stack.start_web("web-throughput", bench.product_app, env=env, cwd=cwd)
        web.watch_as = "daphne"
        bench.monitor.watch("daphne", web.process.pid)
        try:
            name = "ours" if cwd is None else "before"
            designs[label] = _closed_pair(bench, web, users, concurrency, seconds, name=name, profile=profile)
            if cwd is None:
                designs[label]["burst"] = _burst(bench, [web], burst, burst_seconds)
                # "If one process cannot, show the limit and meet it on two" (issue 12): the same burst on two.
                second = bench.stack.start_web("web-throughput-2", bench.product_app, env=env)
                second.watch_as = "daphne-2"
                bench.monitor.watch("daphne-2", second.process.pid)
                try:
                    designs[label]["burst_two"] = _burst(bench, [web, second], burst, burst_seconds)
                finally:
                    bench.drop_web(second)
        finally:
            bench.drop_web(web)
    ours = designs["ours"]
    return {"concurrency": concurrency, "seconds": seconds, **ours, "designs": designs}


def _burst(bench: Bench, webs: list, burst: int, burst_seconds: float) -> dict:
    open_loop = start_burst(bench, webs, burst, burst_seconds)
    return {k: v for k, v in open_loop.items() if k != "latency_samples"}
