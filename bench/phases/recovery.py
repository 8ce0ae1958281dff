"""Exam-day recovery (issue 12): Redis restarted empty under 2 daphne processes, and a daphne SIGKILLed.

Both cases run on a private redis-server started here (timers, channel layer and cache on it, no
persistence): the shared one on 6379 serves other engineers and is never stopped. The sockets live in
separate load-generator processes (`bench/reconnecting.py`) that reconnect by themselves as the exam
page does, and record every frame, open and close with its time; the figures are measured from the
moment chosen here (Redis answering a PING again, the new daphne accepting TCP connections).

1. redis-restart: N sockets split over 2 daphne processes, 1 expiry worker, a proctor dashboard on the
   exam; SIGTERM Redis, start it again on its port at once; an announcement is posted (to the other
   daphne than the dashboard's) as soon as Redis answers, and a second one `LATE_ANNOUNCEMENT_SECONDS`
   later. Then: each socket's first tick after Redis answered, closes and reopens, the dashboard's first
   frame and the announcement's arrival, ERROR/Traceback lines after the first second.
2. daphne-kill: N sockets on one daphne; SIGKILL; a new daphne on the same port at once; each socket's
   first tick after the new one accepts, failed tries, the new daphne's errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time

from django.test import override_settings

from bench.httpclient import HttpConnection
from bench.phases import recovery_figures as fig
from bench.phases.connects import _drop_exam
from bench.phases.extend import _staff_token
from bench.phases.harness import Bench, tokens_for
from bench.stats import summary
from tests.e2e.servers import ServerProcess
from tests.redis_server import PrivateRedis

SETTLE_SECONDS = 3.0  # every socket ticking before the fault: steady state, nothing left of the connects
# The targets: every socket ticking within 3 s of Redis answering, 10 s of the new daphne.
REDIS_TARGET_SECONDS = 3.0
DAPHNE_TARGET_SECONDS = 10.0
LATE_ANNOUNCEMENT_SECONDS = 3.5  # a second announcement, once the recovery is said to be over (3 s)
# Dashboard events while Redis comes back: one attempt extended by 1 s every PROBE_STEP, from the moment it answers
# until past the 3 s target: which events reach the proctor, and from when on.
PROBE_STEP = 0.25
PROBES = 14
ERROR_GRACE_SECONDS = 1.0  # "nothing logs a traceback after the first second"
# How long to watch after the fault at most: well beyond the targets, bounded.
OBSERVE_SECONDS = 45.0
AFTER_ALL_TICKING_SECONDS = 5.0  # watched on after every socket ticks again: closes that come late count too
PING_STEP = 0.005  # Redis polled every 5 ms while it comes back: the moment it answers, to that precision
ACCEPT_STEP = 0.01  # the new daphne's port tried every 10 ms
OUTAGE_LINE = r"socket ended \(closed \d+ if open\), channel layer Redis unreachable"
SOCKETS_PER_LOADGEN = 2500  # one asyncio process keeps 2,500 reconnecting sockets (a tick each a second)


class TimedRedis(PrivateRedis):
    """The private redis-server, remembering when it first answered a PING after a (re)start."""

    answered_at: float | None = None

    def _answers(self) -> bool:
        # wait_until polls every 50 ms; inside one poll, try every PING_STEP so the moment is sharp.
        until = time.monotonic() + 0.045
        while True:
            if super()._answers():
                self.answered_at = time.time()
                return True
            if time.monotonic() >= until:
                return False
            time.sleep(PING_STEP)

    def env(self) -> dict[str, str]:
        """What the stack's processes need to use this server for timers (1), channel layer (2) and cache (3)."""
        return {"REDIS_URL": self.url(1), "CHANNEL_LAYER_URL": self.url(2), "CACHE_URL": self.url(3)}


def recovery(bench: Bench, sockets: int, *, cases: set[str], reconnect: str = "page") -> dict:
    """The cases asked for (`redis-restart`, `daphne-kill`), each on its own private Redis.

    The run's own expiry worker (on the shared Redis) is stopped meanwhile: it shares the database, finds the
    phase's attempts "connected" with no process of its Redis holding them, and its presence recheck (every 5 s)
    would turn them offline, our worker back online: a presence frame per attempt every 5 s, and timers
    restored on the wrong Redis. Started again afterwards for the phases that follow.
    """
    out = {"sockets": sockets, "reconnect": reconnect}
    if bench.worker is not None:
        bench.monitor.unwatch("worker")
        bench.stack.stop(bench.worker)
    try:
        if "redis-restart" in cases:
            out["redis_restart"] = _with_private_redis(bench, lambda r: _redis_restart(bench, r, sockets, reconnect))
        if "daphne-kill" in cases:
            out["daphne_kill"] = _with_private_redis(bench, lambda r: _daphne_kill(bench, r, sockets, reconnect))
    finally:
        if bench.worker is not None:
            bench.worker = bench.stack.start_worker()
            bench.monitor.watch("worker", bench.worker.process.pid)
    return out


def _with_private_redis(bench: Bench, case):
    server = TimedRedis().start()
    try:
        # The orchestrator's own timer writes (seeding, cleanup) go to the private server too.
        with override_settings(REDIS_URL=server.url(1)):
            return case(server)
    finally:
        server.stop()


# --- the stack on the private Redis --------------------------------------------------------------------------


def _web(bench: Bench, name: str, redis_env: dict, watch_as: str, port: int | None = None) -> ServerProcess:
    web = bench.stack.start_web(name, bench.product_app, env=redis_env, port=port)
    web.watch_as = watch_as
    bench.monitor.watch(watch_as, web.process.pid)
    return web


def _loadgens(bench: Bench, name: str, rows: list, proctor: dict | None, reconnect: str) -> list:
    chunks = [rows[i : i + SOCKETS_PER_LOADGEN] for i in range(0, len(rows), SOCKETS_PER_LOADGEN)]
    loadgens = []
    for n, chunk in enumerate(chunks):
        spec = {
            "mode": "recover",
            "sockets": chunk,
            "proctor": proctor if n == 0 else None,
            "reconnect": reconnect,
            "connect_concurrency": 50,
            "max_seconds": 900,
        }
        loadgen = bench.loadgen(f"{name}-{n}", spec)
        bench.monitor.watch(loadgen.name, loadgen.pid)
        loadgens.append(loadgen)
    for loadgen in loadgens:
        loadgen.wait_connected(timeout=600)
    return loadgens


def _results(bench: Bench, loadgens: list) -> dict:
    for loadgen in loadgens:
        loadgen.stop()
    results = []
    for loadgen in loadgens:
        results.append(loadgen.result(timeout=120))
        bench.monitor.unwatch(loadgen.name)
    return fig.merged(results)


def _rows(web_for, attempt_ids: list[int], user_ids: list[int]) -> list[list]:
    """[attempt id, token, ws base, origin] per socket; `web_for(n)` is the n-th socket's daphne."""
    rows = []
    for n, (attempt_id, token) in enumerate(zip(attempt_ids, tokens_for(user_ids), strict=True)):
        web = web_for(n)
        rows.append([attempt_id, token, f"ws://127.0.0.1:{web.port}", web.origin])
    return rows


def _post(port: int, path: str, token: str, body: dict) -> dict:
    """POST a staff request on a new connection: sent at, status, the answer's `id`, response seconds."""

    async def post():
        connection = HttpConnection(port)
        sent = time.time()
        try:
            status, answer = await connection.request(
                "POST", path, token=token, json_body=json.dumps(body).encode(), keep_alive=False
            )
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            return {"sent": sent, "status": type(exc).__name__, "id": None, "response": time.time() - sent}
        finally:
            await connection.close()
        parsed = json.loads(answer or b"{}")
        return {"sent": sent, "status": status, "id": parsed.get("id"), "response": time.time() - sent}

    return asyncio.run(post())


def _announce(port: int, exam_id: int, token: str, message: str) -> dict:
    return _post(port, f"/api/exam/proctor/exams/{exam_id}/announcements/", token, {"message": message})


def _probe_events(port: int, token: str, attempt_ids: list[int], back_at: float) -> list[dict]:
    """One extension of one attempt every PROBE_STEP seconds from `back_at` on (a dashboard event each)."""
    sent = []
    for n, attempt_id in enumerate(attempt_ids):
        time.sleep(max(0.0, back_at + n * PROBE_STEP - time.time()))
        answer = _post(port, f"/api/exam/proctor/attempts/{attempt_id}/extend/", token, {"seconds": 1})
        sent.append({**answer, "attempt_id": attempt_id, "sent_after": answer["sent"] - back_at})
    return sent


def _watch(loadgens: list, moment: float, at_least_until: float = 0.0) -> float | None:
    """After a fault: wait until every socket ticked after `moment` (bounded by OBSERVE_SECONDS), then watch on
    for AFTER_ALL_TICKING_SECONDS (late closes count too), and at least until `at_least_until`. Returns when the
    last load generator said ALLTICKING (None: not within the bound)."""
    done_at = None
    for loadgen in loadgens:
        if not loadgen.all_ticking.wait(timeout=max(0.0, moment + OBSERVE_SECONDS - time.time())):
            break
    else:
        done_at = time.time()
    end = max(at_least_until, (done_at or time.time()) + AFTER_ALL_TICKING_SECONDS)
    time.sleep(max(0.0, end - time.time()))
    return done_at


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- 1. Redis restart ----------------------------------------------------------------------------------------


def _redis_restart(bench: Bench, server: TimedRedis, sockets: int, reconnect: str) -> dict:
    bench.log(f"recovery[redis-restart]: {sockets} sockets on 2 daphne processes, private Redis :{server.port}")
    redis_env = server.env()
    webs = [_web(bench, f"web-recover-redis-{n + 1}", redis_env, "daphne" if n == 0 else "daphne-2") for n in (0, 1)]
    worker = bench.stack.start_worker("worker-recover-redis", env=redis_env)
    bench.monitor.watch("worker-recover", worker.process.pid)
    exam_id, attempt_ids, user_ids = bench.seeded("recovery redis", sockets)
    staff = _staff_token()
    rows = _rows(lambda n: webs[n % 2], attempt_ids, user_ids)
    proctor = {"exam_id": exam_id, "token": staff, "ws_base": rows[0][2], "origin": rows[0][3]}  # on webs[0]
    loadgens = []
    try:
        loadgens = _loadgens(bench, "recover-redis", rows, proctor, reconnect)
        time.sleep(SETTLE_SECONDS)
        load_before = _load()
        stopped_at = time.time()
        server.restart()  # SIGTERM, wait for the exit, start on the same port; returns once it answers
        back_at = server.answered_at
        for loadgen in loadgens:
            loadgen.mark(back_at)
        # At once: the dashboard is on the first daphne, the requests go to the second (through the layer).
        first = _announce(webs[1].port, exam_id, staff, "bench: right after Redis answered")
        probed = _probe_events(webs[1].port, staff, attempt_ids[-PROBES:], back_at)
        time.sleep(max(0.0, back_at + LATE_ANNOUNCEMENT_SECONDS - time.time()))
        late = _announce(webs[1].port, exam_id, staff, "bench: 3.5 s after Redis answered")
        all_ticking_at = _watch(loadgens, back_at, at_least_until=late["sent"] + AFTER_ALL_TICKING_SECONDS)
        window = bench.monitor.window(stopped_at, time.time())
        got = _results(bench, loadgens)
        loadgens = []
    finally:
        for loadgen in loadgens:
            loadgen.stop()
        _drop_exam(bench, exam_id)
        for web in webs:
            bench.monitor.unwatch(web.watch_as)
            bench.stack.stop(web)
        bench.monitor.unwatch("worker-recover")
        bench.stack.stop(worker)
    since = back_at + ERROR_GRACE_SECONDS
    return {
        "sockets": sockets,
        "webs": 2,
        "load_average": load_before,
        "redis_down_seconds": back_at - stopped_at,
        "all_ticking_after": None if all_ticking_at is None else all_ticking_at - back_at,
        "ticking": fig.ticking_again(got, back_at),
        "closes": fig.closes(got, stopped_at),
        "failures": fig.failures(got, stopped_at),
        "proctor": fig.proctor_figures(got["proctor"], back_at, first),
        "probes": fig.probes(got["proctor"], probed),
        "announcements": [
            _delivery(got, a, label, back_at) for label, a in (("at once", first), ("3.5 s later", late))
        ],
        "errors": {s.name: fig.error_lines(s.log_path, since) for s in (*webs, worker)},
        # The consumers the restart ended (base_consumer's outage line; one line a second, see its count).
        "layer_outage_lines": {w.name: fig.matching_lines(w.log_path, OUTAGE_LINE, stopped_at - 1) for w in webs},
        "cpu": window["cpu"],
    }


def _delivery(got: dict, announcement: dict, label: str, back_at: float) -> dict:
    """How an announcement posted after the restart reached the attempt sockets."""
    arrivals = fig.frame_arrivals(got, "announcement", announcement["id"])
    return {
        "label": label,
        "status": announcement["status"],
        "sent_after": announcement["sent"] - back_at,
        "response_ms": announcement["response"] * 1000,
        "received": len(arrivals),
        "after_sent": summary([t - announcement["sent"] for t in arrivals]),
    }


# --- 2. daphne SIGKILL ---------------------------------------------------------------------------------------


def _accepting(port: int, found: dict, stop: threading.Event) -> None:
    """Record in `found["at"]` the first moment a TCP connect to `port` succeeds."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                found["at"] = time.time()
                return
        except OSError:
            time.sleep(ACCEPT_STEP)


def _daphne_kill(bench: Bench, server: TimedRedis, sockets: int, reconnect: str) -> dict:
    bench.log(f"recovery[daphne-kill]: {sockets} sockets on 1 daphne, SIGKILL, a new one on its port")
    redis_env = server.env()
    web = _web(bench, "web-recover-kill", redis_env, "daphne")
    worker = bench.stack.start_worker("worker-recover-kill", env=redis_env)
    bench.monitor.watch("worker-recover", worker.process.pid)
    exam_id, attempt_ids, user_ids = bench.seeded("recovery kill", sockets)
    rows = _rows(lambda n: web, attempt_ids, user_ids)
    loadgens, restarted = [], None
    try:
        loadgens = _loadgens(bench, "recover-kill", rows, None, reconnect)
        time.sleep(SETTLE_SECONDS)
        load_before = _load()
        exit_code = web.kill()
        killed_at = time.time()
        bench.monitor.unwatch("daphne")
        bench.stack.stop(web)
        accepted, stop = {}, threading.Event()
        prober = threading.Thread(target=_accepting, args=(web.port, accepted, stop), daemon=True)
        prober.start()
        restarted = _web(bench, "web-recover-kill-restarted", redis_env, "daphne", port=web.port)
        healthy_at = time.time()
        prober.join(timeout=5)
        stop.set()
        accepts_at = accepted.get("at", healthy_at)
        for loadgen in loadgens:
            loadgen.mark(accepts_at)
        all_ticking_at = _watch(loadgens, accepts_at)
        window = bench.monitor.window(killed_at, time.time())
        got = _results(bench, loadgens)
        loadgens = []
    finally:
        for loadgen in loadgens:
            loadgen.stop()
        _drop_exam(bench, exam_id)
        for process in (web, restarted):
            if process is not None:
                bench.monitor.unwatch("daphne")
                bench.stack.stop(process)
        bench.monitor.unwatch("worker-recover")
        bench.stack.stop(worker)
    return {
        "sockets": sockets,
        "load_average": load_before,
        "exit_code": exit_code,
        "down_seconds": accepts_at - killed_at,
        "healthz_after_accept": healthy_at - accepts_at,
        "all_ticking_after": None if all_ticking_at is None else all_ticking_at - accepts_at,
        "ticking": fig.ticking_again(got, accepts_at),
        "closes": fig.closes(got, killed_at - 1),
        "failures_down": fig.failures({"failed": [f for f in got["failed"] if f[0] <= accepts_at]}, killed_at),
        "failures_after": fig.failures(got, accepts_at),
        "errors": fig.error_lines(restarted.log_path, accepts_at),
        "cpu": window["cpu"],
    }
