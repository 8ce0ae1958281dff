"""Extensions: a proctor gives a whole exam more time; how soon every socket hears `time_changed`.

Three ways, same sockets, same run, spread over several daphne processes:
(a) one `POST …/exams/<id>/extend/` for the whole exam (ours);
(b) one attempt at a time, `POST …/attempts/<id>/extend/`, a few of them (the floor: one socket told);
(c) the naive client of an API without the exam-wide route: one request per attempt, several in flight.
Latency: the `time_changed` frame's arrival minus the moment the request (the first one in (c)) was sent.
"""

from __future__ import annotations

import asyncio
import json
import time

from django.contrib.auth import get_user_model

from bench import seed
from bench.httpclient import HttpConnection
from bench.phases.harness import Bench, tokens_for
from bench.stats import summary

# Each way moves the deadlines by its own amount, so every frame says which way sent it.
EXAM_WIDE_SECONDS, ONE_SECONDS, NAIVE_SECONDS = 600, 61, 62
ONE_BY_ONE = 20  # single extensions in (b), one after the other
NAIVE_IN_FLIGHT = 16  # requests in flight in (c): the server's HTTP_CONCURRENCY
SETTLE_SECONDS = 3.0  # after the sockets connect, and between the ways: frames still on their way arrive


def _staff_token() -> str:
    user, _ = get_user_model().objects.get_or_create(
        username=f"{seed.USERNAME_PREFIX}proctor", defaults={"password": "!"}
    )
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return seed.tokens([user.pk])[user.pk]


async def _post(port: int, path: str, token: str, seconds: int) -> tuple[float, int, float]:
    """(sent at, status, response time) of one extension request on a new connection."""
    connection = HttpConnection(port)
    body = json.dumps({"seconds": seconds, "reason": "bench"}).encode()
    sent = time.time()
    try:
        status, _ = await connection.request("POST", path, token=token, json_body=body, keep_alive=False)
    finally:
        await connection.close()
    return sent, status, time.time() - sent


async def _naive(port: int, attempt_ids: list[int], token: str) -> tuple[float, list[int]]:
    gate = asyncio.Semaphore(NAIVE_IN_FLIGHT)
    started = time.time()

    async def one(attempt_id: int) -> int:
        async with gate:
            _, status, _ = await _post(port, f"/api/exam/proctor/attempts/{attempt_id}/extend/", token, NAIVE_SECONDS)
            return status

    return started, await asyncio.gather(*(one(a) for a in attempt_ids))


def extensions(bench: Bench, count: int, webs: int = 2) -> dict:
    bench.log(f"extend: {count} ongoing attempts, sockets on {webs} daphne processes")
    servers = bench.fresh_webs("web-extend", webs)
    exam_id, attempt_ids, user_ids = bench.seeded("extend", count)
    rows = list(zip(attempt_ids, tokens_for(user_ids), [0.0] * count, strict=True))
    loadgens = []
    token = _staff_token()
    port = servers[0].port
    try:
        for n, server in enumerate(servers):
            loadgens += bench.connect(server, rows[n::webs], f"extend-{n}")
        time.sleep(SETTLE_SECONDS)
        wide_sent, wide_status, wide_response = asyncio.run(
            _post(port, f"/api/exam/proctor/exams/{exam_id}/extend/", token, EXAM_WIDE_SECONDS)
        )
        time.sleep(SETTLE_SECONDS)
        singles = {}
        for attempt_id in attempt_ids[:ONE_BY_ONE]:
            singles[attempt_id] = asyncio.run(
                _post(port, f"/api/exam/proctor/attempts/{attempt_id}/extend/", token, ONE_SECONDS)
            )
        time.sleep(SETTLE_SECONDS)
        naive_sent, naive_statuses = asyncio.run(_naive(port, attempt_ids, token))
        time.sleep(SETTLE_SECONDS)
        got = bench.collect(loadgens)
    finally:
        for loadgen in loadgens:
            loadgen.stop()
        bench.drop_exam(exam_id)
        for server in servers:
            bench.drop_web(server)

    def arrivals(seconds: int) -> dict[int, float]:
        found = {}
        for attempt_id, frames in got["time_changes"].items():
            for arrival, change in frames:
                if change == seconds:
                    found[int(attempt_id)] = arrival
        return found

    wide = arrivals(EXAM_WIDE_SECONDS)
    one = arrivals(ONE_SECONDS)
    naive = arrivals(NAIVE_SECONDS)
    return {
        "count": count,
        "webs": webs,
        "connect_errors": got["connect_errors"],
        "exam_wide": {
            "status": wide_status,
            "response_ms": wide_response * 1000,
            "latency": summary([arrival - wide_sent for arrival in wide.values()]),
            "missing": count - len(wide),
        },
        "one": {
            "statuses": sorted({status for _, status, _ in singles.values()}),
            "latency": summary([one[a] - sent for a, (sent, _, _) in singles.items() if a in one]),
            "missing": len(singles) - len([a for a in singles if a in one]),
        },
        "naive": {
            "statuses": sorted(set(naive_statuses)),
            "latency": summary([arrival - naive_sent for arrival in naive.values()]),
            "missing": count - len(naive),
        },
    }
