"""The REST phases: a burst of starts, closed-loop `remaining`, and every student polling `remaining`."""

from __future__ import annotations

from attempts.models import Attempt
from bench import seed
from bench.phases.harness import Bench, tokens_for, with_tokens
from bench.stats import summary
from tests.e2e.servers import ServerProcess


def start_burst(bench: Bench, webs: list[ServerProcess], count: int, seconds: float) -> dict:
    bench.log(f"starts: {count} starts over {seconds:.0f} s on {len(webs)} daphne process(es)")
    user_ids = seed.users(count)
    exam_id = seed.exam("bench starts")
    try:
        spec = {
            "mode": "starts",
            "ports": [web.port for web in webs],
            "starts": [[exam_id, t] for t in tokens_for(user_ids)],
            "seconds": seconds,
        }
        result = bench.run_loadgen("starts", spec, timeout=seconds + 120)
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


def remaining(bench: Bench, webs: list[ServerProcess], concurrency: int, seconds: float, attempts: int = 500) -> dict:
    bench.log(f"remaining: {concurrency} clients, {seconds:.0f} s on {len(webs)} daphne process(es)")
    exam_id, attempt_ids, user_ids = bench.seeded("remaining", attempts)
    try:
        spec = {
            "mode": "remaining",
            "ports": [web.port for web in webs],
            "attempts": with_tokens(attempt_ids, user_ids),
            "seconds": seconds,
            "concurrency": concurrency,
        }
        result = bench.run_loadgen("remaining", spec, timeout=seconds + 120)
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


def polling(bench: Bench, students: int, seconds: float, interval: float = 10.0) -> dict:
    """Every student polls REST `remaining` every `interval` s: daphne CPU per student-minute."""
    bench.log(f"polling: {students} students every {interval:.0f} s for {seconds:.0f} s")
    web = bench.fresh_web(f"web-poll-{students}")
    exam_id, attempt_ids, user_ids = bench.seeded(f"poll {students}", students)
    try:
        spec = {
            "mode": "poll",
            "ports": [web.port],
            "attempts": with_tokens(attempt_ids, user_ids),
            "seconds": seconds,
            "interval": interval,
            "pool": 100,
        }
        result = bench.run_loadgen("poll", spec, timeout=seconds + 300)
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
