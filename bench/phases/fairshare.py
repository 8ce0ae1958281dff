"""Fair share (issue 15): five students alone, then beside one token with 50 requests in flight, on one process.

The process runs as in production (DEBUG=0, as in the throughput phase). Five students poll
`remaining` twice a second and save an answer every 2 s (bench/fair_clients.py, "victims"),
first alone, then beside an abuser (one token, 50 keep-alive connections, each sending again as
soon as it is answered) flooding `remaining`, then beside one flooding `submit-answer`. The
target: the students' p99 beside the abuser within 2x of their p99 alone, in the same run, and
not one of their requests refused. The abuser and the students are separate processes, so the
flood's own loop does not delay the students' clocks.
"""

from __future__ import annotations

from pathlib import Path

import redis
from django.conf import settings

from attempts import rate_limits
from attempts.models import Question
from bench.phases.connects import revision_of
from bench.phases.harness import Bench, tokens_for
from bench.phases.throughput import production_env
from bench.stats import summary

VICTIMS = 5
POLL_INTERVAL = 0.5  # the students: twice a second
ANSWER_INTERVAL = 2.0
IN_FLIGHT = 50
TARGET_RATIO = 2.0


def _flood(attempt_id: int, question_id: int, route: str) -> dict:
    if route == "remaining":
        return {"method": "GET", "path": f"/api/exam/timer/remaining/{attempt_id}/"}
    body = {"attempt_id": attempt_id, "question_id": question_id, "selected_option": "B"}
    return {"method": "POST", "path": "/api/exam/timer/submit-answer/", "body": body}


def _victims(bench: Bench, web, name: str, students: list, seconds: float) -> dict:
    """The students' requests of one window: [sent, latency, status, kind] each, and the window's CPU."""
    spec = {
        "mode": "victims",
        "port": web.port,
        "students": students,
        "seconds": seconds,
        "poll_interval": POLL_INTERVAL,
        "answer_interval": ANSWER_INTERVAL,
    }
    result = bench.run_loadgen(name, spec, timeout=seconds + 120)
    return {"rows": result["requests"], "cpu": bench.monitor.window(result["started"], result["ended"])["cpu"]}


def _summed(windows: list[dict]) -> dict:
    """The students' figures over every round's window of one kind (their samples pooled)."""
    rows = [row for window in windows for row in window["rows"]]
    ok = [r for r in rows if r[2] == 200]
    cpus = [window["cpu"].get("daphne", 0) for window in windows]
    out = {
        "requests": len(rows),
        "latency": summary([r[1] for r in ok]),
        "by_kind": {kind: summary([r[1] for r in ok if r[3] == kind]) for kind in ("remaining", "answer")},
        "refused": sum(1 for r in rows if r[2] == 429),
        "errors": sum(1 for r in rows if r[2] not in (200, 429)),
        "error_samples": sorted({str(r[2]) for r in rows if r[2] != 200})[:5],
        "cpu": {"daphne": sum(cpus) / len(cpus)},
    }
    abusers = [window["abuser"] for window in windows if "abuser" in window]
    if abusers:
        statuses: dict[str, int] = {}
        for abuser in abusers:
            for status, n in abuser["statuses"].items():
                statuses[status] = statuses.get(status, 0) + n
        out["abuser"] = {"statuses": statuses, "seconds": sum(a["seconds"] for a in abusers)}
    return out


def _beside(bench: Bench, web, name: str, students: list, flood: dict, token: str, seconds: float, profile: bool):
    """The students' window while the abuser floods; the abuser's statuses over its whole run."""
    abuser = bench.loadgen(
        f"{name}-abuser",
        {
            "mode": "abuse",
            "port": web.port,
            "token": token,
            "in_flight": IN_FLIGHT,
            "max_seconds": seconds + 60,
            **flood,
        },
    )
    bench.monitor.watch("abuser", abuser.pid)
    try:
        abuser.wait_connected(timeout=60)  # its first answer is back: the flood is on
        profiler = bench.stack.profile_window(web, name, seconds) if profile else None
        victims = _victims(bench, web, f"{name}-victims", students, seconds)
        if profiler is not None:
            profiler.wait(timeout=60)
    finally:
        abuser.stop()
        flooded = abuser.result(timeout=90)
        bench.monitor.unwatch("abuser")
    return {**victims, "abuser": {"statuses": flooded["statuses"], "seconds": flooded["ended"] - flooded["started"]}}


def _forget_budgets(user_ids: list[int]) -> None:
    """Every budget of these users spent nowhere: each window starts from none (the keys are ours alone)."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        client.unlink(*[rate_limits.key_for(scope, user) for scope in settings.RATE_LIMITS for user in user_ids])
    finally:
        client.close()


def fairshare(
    bench: Bench,
    *,
    seconds: float,
    rounds: int = 2,
    designs: list[tuple[str, dict[str, str]]] = (),
    profile: bool = False,
    before: Path | None = None,
) -> dict:
    """Ours, each of `designs` (ours with other settings) and `before` (another checkout), each on a fresh production
    process, all started at once; each round runs every design's windows (alone, beside the flood on `remaining`,
    on `submit-answer`) one design after the other, so the machine's other load falls on all of them alike."""
    bench.log(f"fairshare: {VICTIMS} students alone, then beside {IN_FLIGHT} in flight, {rounds} x {seconds:.0f} s")
    env = production_env(bench)
    exam_id, attempt_ids, user_ids = bench.seeded("fairshare", VICTIMS + 1)
    questions = list(Question.objects.filter(exam_id=exam_id).order_by("pk").values_list("pk", flat=True))
    tokens = tokens_for(user_ids)
    abuser_attempt, abuser_token = attempt_ids[0], tokens[0]
    students = [[a, t, questions] for a, t in zip(attempt_ids[1:], tokens[1:], strict=True)]
    plan = [("ours", None, {}), *((label, None, extra) for label, extra in designs)]
    if before:
        plan.append((f"before ({revision_of(before)})", before, {}))
    webs = {}
    windows: dict[str, dict[str, list]] = {label: {"alone": [], "remaining": [], "answer": []} for label, _, _ in plan}
    try:
        for n, (label, cwd, extra) in enumerate(plan):
            webs[label] = web = bench.stack.start_web(
                f"web-fairshare-{n}", bench.product_app, env={**env, **extra}, cwd=cwd
            )
            _victims(bench, web, f"fairshare-{n}-warmup", students, 2.0)  # first connections, first queries
        for r in range(rounds):
            for n, (label, _, _) in enumerate(plan):
                web = webs[label]
                web.watch_as = "daphne"
                bench.monitor.watch("daphne", web.process.pid)
                _forget_budgets(user_ids)
                windows[label]["alone"].append(_victims(bench, web, f"fairshare-{n}-{r}-alone", students, seconds))
                for route in ("remaining", "answer"):
                    _forget_budgets(user_ids)
                    flood = _flood(abuser_attempt, questions[0], route)
                    name = f"fairshare-{n}-{r}-{route}"
                    beside = _beside(bench, web, name, students, flood, abuser_token, seconds, profile and r == 0)
                    windows[label][route].append(beside)
                bench.monitor.unwatch("daphne")
    finally:
        for web in webs.values():
            bench.stack.stop(web)
        _forget_budgets(user_ids)
        bench.drop_exam(exam_id)
    results = {}
    for label, by_kind in windows.items():
        results[label] = design = {kind: _summed(ws) for kind, ws in by_kind.items()}
        for route in ("remaining", "answer"):
            alone_p99, beside_p99 = design["alone"]["latency"]["p99"], design[route]["latency"]["p99"]
            design[route]["ratio"] = beside_p99 / alone_p99 if alone_p99 and beside_p99 else None
        design["env"] = dict(next(extra for lbl, _, extra in plan if lbl == label))
    return {
        "seconds": seconds,
        "rounds": rounds,
        "victims": VICTIMS,
        "in_flight": IN_FLIGHT,
        "poll_interval": POLL_INTERVAL,
        "answer_interval": ANSWER_INTERVAL,
        "target_ratio": TARGET_RATIO,
        "designs": results,
    }
