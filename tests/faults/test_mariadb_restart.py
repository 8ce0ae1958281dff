"""MariaDB restarted under a running stack: the next requests, sockets and expiries work, with no "gone away".

The stack (daphne and the expiry worker) runs on a private mariadbd that the test starts on
a free port and restarts; the shared MariaDB on 3306 is never touched. Data is seeded by a
subprocess (the test process may only write to its own test database) and checked with
plain MySQLdb connections.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from attempts import timer
from tests.e2e.clients import RestClient, rest
from tests.e2e.servers import ROOT, subprocess_env
from tests.faults.logs import lines_with_times
from tests.faults.sockets import AttemptWatcher, until
from tests.helpers import answer, start, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DATABASE = "examtimer_private"
STUDENTS = 16
DUE_AT_ONCE = 5  # due together, so that the worker expires them on several threads
DUE_IN_SECONDS = 1.5
EXPIRY_BOUND_SECONDS = 2.0  # the worker sweeps every 0.5 s; the issue asks 2 s without a socket
# What a stale MySQL connection says; none of it may appear once the server is back.
STALE_CONNECTION_SIGNS = ("gone away", "(2006", "(2013", "Lost connection", "sweep failed", "Exception inside")


def test_mariadb_restarted_under_the_stack(private_mariadb, cluster):
    url = private_mariadb.url(DATABASE)
    with private_mariadb.connect() as connection:
        connection.cursor().execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    env = subprocess_env(DATABASE_URL=url)
    _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    seed = json.loads(_run([sys.executable, "-m", "tests.faults.seed_private_db", str(STUDENTS)], env).splitlines()[-1])
    exam_id, questions = seed["exam_id"], seed["questions"]
    tokens = [token for _, token in seed["students"]]
    web = cluster.start_web(env={"DATABASE_URL": url})
    worker = cluster.start_worker(env={"DATABASE_URL": url})

    clients = [RestClient(web, token) for token in tokens]

    def start_of(student: int) -> int:
        response = start(clients[student], exam_id)
        assert response.status_code == 201, response.json()
        return response.json()["attempt_id"]

    def answer_of(student: int, attempt_id: int) -> int:
        return answer(clients[student], attempt_id, *questions[0]).status_code

    # Before: five attempts expire together (the worker's threads all hold connections now).
    before = {student: start_of(student) for student in range(DUE_AT_ONCE + 4)}
    assert all(answer_of(student, attempt_id) == 200 for student, attempt_id in before.items())
    first_batch = [before[student] for student in range(DUE_AT_ONCE)]
    _make_due(private_mariadb, first_batch)
    wait_until(lambda: _statuses(private_mariadb, first_batch) == {"timeout"}, timeout=10, what="the first batch")
    watched = before[DUE_AT_ONCE]
    web_log, worker_log = len(web.log()), len(worker.log())

    # The restart, with a socket open through it.
    async def across_the_restart():
        stop = asyncio.Event()
        watcher = AttemptWatcher(web, watched, tokens[DUE_AT_ONCE])
        task = asyncio.create_task(watcher.run(stop))
        await until(lambda: watcher.ticks, 10, "the first tick")
        began = time.time()
        await asyncio.to_thread(private_mariadb.restart)
        back = time.time()
        await until(lambda: watcher.ticks_after(back + 1.5), 10, "ticks after the restart")
        stop.set()
        await task
        return watcher, began, back

    watcher, began, back = asyncio.run(across_the_restart())

    # After: the very first requests succeed, a new socket opens, a new batch expires on time.
    results = {}
    results["remaining"] = [
        rest(web, "GET", f"/api/exam/timer/remaining/{before[s]}/", token=tokens[s])[0] for s in range(6, 9)
    ]
    results["answer"] = [answer_of(s, before[s]) for s in range(6, 9)]
    results["submit"] = rest(web, "POST", f"/api/exam/timer/submit/{before[8]}/", token=tokens[8])
    after = {student: start_of(student) for student in range(DUE_AT_ONCE + 4, 2 * DUE_AT_ONCE + 4)}
    new_socket_tick = asyncio.run(_first_tick(web, before[7], tokens[7]))
    second_batch = list(after.values())
    due_at = _make_due(private_mariadb, second_batch)
    wait_until(
        lambda: _statuses(private_mariadb, second_batch) == {"timeout"},
        timeout=DUE_IN_SECONDS + EXPIRY_BOUND_SECONDS + 5,
        interval=0.02,
        what="the second batch to time out after the restart",
    )
    expired_after = time.time() - due_at
    # Once MariaDB answers again, no process may trip over a connection from before the restart; while
    # it was down, a sweep that could not connect is expected (logged, tried again 0.5 s later).
    logged = lines_with_times(web.log()[web_log:]) + lines_with_times(worker.log()[worker_log:])
    signs = [(at, line) for at, line in logged if any(sign in line for sign in STALE_CONNECTION_SIGNS)]
    stale = [line for at, line in signs if at is None or at >= back]

    print(
        f"\nmariadb restarted: down {back - began:.2f} s; then remaining {results['remaining']}, "
        f"answers {results['answer']}, submit {results['submit'][0]} {results['submit'][1].get('status')}, "
        f"{len(after)} starts 201, a new socket's tick {new_socket_tick}, "
        f"{len(second_batch)} due at once expired {expired_after:.2f} s after their deadline; "
        f"longest tick gap of the open socket {watcher.longest_gap(began, back + 1.5):.2f} s; "
        f"stale-connection lines after the restart: {len(stale)}"
    )
    assert stale == [], "\n".join(stale[:20])
    assert results["remaining"] == [200, 200, 200] and results["answer"] == [200, 200, 200]
    assert results["submit"][0] == 200 and results["submit"][1]["status"] == "submitted"
    assert results["submit"][1]["score"] == 1
    assert new_socket_tick is not None
    assert expired_after <= EXPIRY_BOUND_SECONDS
    assert _scores(private_mariadb, first_batch + second_batch) == {1: DUE_AT_ONCE, 0: DUE_AT_ONCE}


def _run(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _make_due(server, attempt_ids: list[int]) -> float:
    """Move the deadlines of `attempt_ids` DUE_IN_SECONDS ahead, in the database and in Redis; returns it."""
    deadline = datetime.now(UTC) + timedelta(seconds=DUE_IN_SECONDS)
    with server.connect(DATABASE) as connection:
        cursor = connection.cursor()
        for attempt_id in attempt_ids:
            cursor.execute(
                "UPDATE attempts_attempt SET deadline_at = %s WHERE id = %s",
                (deadline.replace(tzinfo=None), attempt_id),
            )
        connection.commit()
    for attempt_id in attempt_ids:
        timer.start(attempt_id, int(DUE_IN_SECONDS * 1000))
    return deadline.timestamp()


def _statuses(server, attempt_ids: list[int]) -> set[str]:
    with server.connect(DATABASE) as connection:
        cursor = connection.cursor()
        cursor.execute(f"SELECT status FROM attempts_attempt WHERE id IN ({','.join(map(str, attempt_ids))})")
        return {row[0] for row in cursor.fetchall()}


def _scores(server, attempt_ids: list[int]) -> dict[int, int]:
    with server.connect(DATABASE) as connection:
        cursor = connection.cursor()
        ids = ",".join(map(str, attempt_ids))
        cursor.execute(f"SELECT score, COUNT(*) FROM attempts_attempt WHERE id IN ({ids}) GROUP BY score")
        return dict(cursor.fetchall())


async def _first_tick(web, attempt_id: int, token: str) -> int | None:
    stop = asyncio.Event()
    watcher = AttemptWatcher(web, attempt_id, token)
    task = asyncio.create_task(watcher.run(stop))
    try:
        await until(lambda: watcher.ticks, 5, "a new socket's first tick")
    finally:
        stop.set()
        await task
    return watcher.ticks[0].remaining_seconds


def test_while_mariadb_is_down_the_api_answers_503_with_retry_after_and_nothing_is_lost(private_mariadb, cluster):
    """Not a 500: a 503 naming the problem, with when to ask again; the answer sent again afterwards is stored."""
    url = private_mariadb.url(DATABASE)
    with private_mariadb.connect() as connection:
        connection.cursor().execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    env = subprocess_env(DATABASE_URL=url)
    _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    seed = json.loads(_run([sys.executable, "-m", "tests.faults.seed_private_db", "2"], env).splitlines()[-1])
    exam_id, (question_id, option) = seed["exam_id"], seed["questions"][0]
    (_, token), (_, other_token) = seed["students"]
    web = cluster.start_web(env={"DATABASE_URL": url})
    attempt_id = rest(web, "POST", f"/api/exam/timer/start/{exam_id}/", token=token)[1]["attempt_id"]
    body = {"attempt_id": attempt_id, "question_id": question_id, "selected_option": option}

    private_mariadb.stop()
    try:
        down = {
            "answer": _call(web, "POST", "/api/exam/timer/submit-answer/", token, body),
            "remaining": _call(web, "GET", f"/api/exam/timer/remaining/{attempt_id}/", token),
            "start": _call(web, "POST", f"/api/exam/timer/start/{exam_id}/", other_token),
        }
    finally:
        private_mariadb.start()
    again = rest(web, "POST", "/api/exam/timer/submit-answer/", token=token, body=body)[0]
    with private_mariadb.connect(DATABASE) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT selected_option FROM attempts_answer WHERE attempt_id = %s", (attempt_id,))
        stored = [row[0] for row in cursor.fetchall()]

    print(f"\nmariadb down: {down}; the answer sent again: {again}, stored {stored}")
    for status, retry_after, answered in down.values():
        assert (status, answered.get("code"), retry_after) == (503, "database_unavailable", "3"), down
        assert "database" in answered["error"]
    assert again == 200 and stored == [option]
    assert "Traceback" not in "".join(web.log())


def _call(web, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, str | None, dict]:
    """(status, Retry-After, JSON body) of one REST call."""
    request = urllib.request.Request(
        f"{web.base_url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Retry-After"), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After"), json.loads(error.read() or b"{}")
