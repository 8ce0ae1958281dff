"""The fair-share phase's clients, run by `bench.loadgen` (modes "victims" and "abuse").

- victims: each student polls `remaining` every `poll_interval` s on one keep-alive connection
  (the issue's students: twice a second) and saves an answer every `answer_interval` s on another
  (a browser keeps several connections), for `seconds`. Each request is sent at its time or, if the
  last one of that loop is still out, as soon as it is answered (a page does not stack its polls).
- abuse: one token, `in_flight` keep-alive connections, each sending its next request as soon as
  the last one is answered (tests/e2e/abuser.py), until STOP on stdin or `max_seconds`; prints
  "CONNECTED 1 0" once the first answer is back, so the phase knows the flood is on.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from bench.httpclient import HttpConnection

REQUEST_TIMEOUT = 30.0


async def _timed(connection: HttpConnection, method: str, path: str, token: str, body: bytes) -> tuple[float, object]:
    started = time.monotonic()
    try:
        status, _ = await asyncio.wait_for(
            connection.request(method, path, token=token, json_body=body), REQUEST_TIMEOUT
        )
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
        await connection.close()
        return time.monotonic() - started, type(exc).__name__
    return time.monotonic() - started, status


async def run_victims(spec: dict) -> dict:
    """[sent, latency, status, kind] of every request of every student ("remaining" or "answer")."""
    port, seconds = spec["port"], spec["seconds"]
    results: list[list] = []
    t0 = time.monotonic() + 0.2
    ends = t0 + seconds

    async def loop(kind: str, period: float, offset: float, requests) -> None:
        connection = HttpConnection(port)
        next_at, n = t0 + offset, 0
        try:
            while next_at < ends:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                method, path, token, body = requests(n)
                sent = time.time()
                latency, status = await _timed(connection, method, path, token, body)
                results.append([sent, latency, status, kind])
                next_at += period
                n += 1
        finally:
            await connection.close()

    def remaining(attempt_id: int, token: str):
        return lambda n: ("GET", f"/api/exam/timer/remaining/{attempt_id}/", token, b"")

    def answer(attempt_id: int, token: str, questions: list[int]):
        def request(n: int):
            body = {
                "attempt_id": attempt_id,
                "question_id": questions[n % len(questions)],
                "selected_option": "ABCD"[n % 4],
            }
            return "POST", "/api/exam/timer/submit-answer/", token, json.dumps(body).encode()

        return request

    students = spec["students"]  # [attempt id, token, question ids]
    loops = []
    for i, (attempt_id, token, questions) in enumerate(students):
        spread = i / len(students)  # the students' phases spread evenly over each period
        loops.append(
            loop("remaining", spec["poll_interval"], spread * spec["poll_interval"], remaining(attempt_id, token))
        )
        loops.append(
            loop(
                "answer",
                spec["answer_interval"],
                spread * spec["answer_interval"],
                answer(attempt_id, token, questions),
            )
        )
    started = time.time()
    await asyncio.gather(*loops)
    return {"requests": results, "started": started, "ended": time.time()}


async def run_abuse(spec: dict) -> dict:
    """The count of each status the flood got, and over how long."""
    port, token, method, path = spec["port"], spec["token"], spec["method"], spec["path"]
    body = json.dumps(spec["body"]).encode() if spec.get("body") else b""
    statuses: Counter = Counter()
    stop = asyncio.Event()
    first = asyncio.Event()

    async def one_connection() -> None:
        connection = HttpConnection(port)
        try:
            while not stop.is_set():
                _, status = await _timed(connection, method, path, token, body)
                statuses[str(status)] += 1
                if not first.is_set():
                    first.set()
                    print("CONNECTED 1 0", flush=True)
        finally:
            await connection.close()

    loop = asyncio.get_running_loop()
    stop_line = loop.run_in_executor(None, sys.stdin.readline)
    started = time.time()
    flood = [asyncio.create_task(one_connection()) for _ in range(spec["in_flight"])]
    await asyncio.wait([stop_line], timeout=spec.get("max_seconds", 120))
    stop.set()
    await asyncio.wait(flood, timeout=REQUEST_TIMEOUT + 5)
    return {"statuses": dict(statuses), "started": started, "ended": time.time()}
