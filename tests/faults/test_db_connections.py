"""Database connections of a daphne process: bounded, reused, and replaced when MariaDB drops them (issue 12).

A real daphne on the shared MariaDB (this test's own database): HTTP requests run on the
`HTTP_CONCURRENCY` slot threads and sockets read on the `SOCKET_DB_THREADS`, each
keeping its connection (`CONN_MAX_AGE`), so hundreds of requests and socket connects use a
handful of connections. Then MariaDB kills them (`KILL`, the shared server is never restarted)
and the next requests answer 200 and the next socket gets its first frame: what users see.

Connections are counted from `information_schema.PROCESSLIST` (this test database's rows, not
the test process's own), sampled every few milliseconds while the load runs: a connection per
request or socket would show up as hundreds of distinct connection ids.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import MySQLdb
import psutil
import pytest
from django.db import connection

from tests.e2e.clients import attempt_path, open_socket, rest
from tests.factories import access_token_for, make_exam, make_user
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HTTP_CONCURRENCY = 4
SOCKET_DB_THREADS = 2
# Threads of a daphne process that query: the HTTP slots, the sockets' database threads
# (realtime/db.py), the presence settler (realtime/presence.py), the ticker's settling of missing
# timers (channels' database thread, realtime/ticker.py).
CONNECTION_BOUND = HTTP_CONCURRENCY + SOCKET_DB_THREADS + 2
STUDENTS = 20
REQUESTS = 200
SOCKET_CONNECTS = 200
IN_FLIGHT = 16  # more than the slots, so that requests queue for them
SAMPLE_SECONDS = 0.005
# What a dropped connection that was used anyway says in a log.
STALE_CONNECTION_SIGNS = ("gone away", "(2006", "(2013", "Lost connection", "Exception inside")


@pytest.fixture
def mysql_only():
    if connection.vendor != "mysql":
        pytest.skip("counts MariaDB connections (DATABASE_URL=mysql://...)")


class ConnectionWatch:
    """Samples the connections to this test's database that are not the test process's own."""

    def __init__(self) -> None:
        settings = connection.settings_dict
        self.database = settings["NAME"]
        self._conn = MySQLdb.connect(
            host=settings["HOST"] or "127.0.0.1",
            port=int(settings["PORT"] or 3306),
            user=settings["USER"],
            passwd=settings["PASSWORD"] or "",
            autocommit=True,
        )
        self.seen: set[int] = set()
        self.most = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> set[int]:
        own_ports = {c.laddr.port for c in psutil.Process().net_connections(kind="tcp") if c.laddr}
        cursor = self._conn.cursor()
        cursor.execute("SELECT ID, HOST FROM information_schema.PROCESSLIST WHERE DB = %s", [self.database])
        return {row_id for row_id, host in cursor.fetchall() if _port_of(host) not in own_ports}

    def kill(self, ids: set[int]) -> None:
        cursor = self._conn.cursor()
        for row_id in ids:
            cursor.execute(f"KILL CONNECTION {int(row_id)}")

    def __enter__(self) -> ConnectionWatch:
        self._thread = threading.Thread(target=self._run, name="connection-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.current()
            self.seen |= now
            self.most = max(self.most, len(now))
            self._stop.wait(SAMPLE_SECONDS)

    def close(self) -> None:
        self._conn.close()


def _port_of(host: str) -> int | None:
    _, _, port = (host or "").rpartition(":")
    return int(port) if port.isdigit() else None


def _concurrently(calls) -> list:
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        return list(pool.map(lambda call: call(), calls))


async def _first_frames(web, attempts: list[tuple[int, str]]) -> list[str | int | None]:
    """Connect to each (attempt, token), IN_FLIGHT at once; the first frame's type (or the close code) of each."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(attempt_id: int, token: str):
        async with gate:
            socket = await open_socket(web, attempt_path(attempt_id), token=token)
            try:
                received = await socket.next()
            finally:
                await socket.close()
            return received.frame["type"] if received.frame else received.close_code

    return await asyncio.gather(*(one(attempt_id, token) for attempt_id, token in attempts))


def test_connections_are_bounded_reused_and_replaced_after_a_kill(mysql_only, cluster):
    exam = make_exam()
    tokens = [access_token_for(make_user()) for _ in range(STUDENTS)]
    web = cluster.start_web(
        env={
            "HTTP_CONCURRENCY": str(HTTP_CONCURRENCY),
            "SOCKET_DB_THREADS": str(SOCKET_DB_THREADS),
            # 10 connects per attempt, some at once: the socket caps are not what this test measures.
            "SOCKETS_PER_ATTEMPT": "1000",
        }
    )
    watch = ConnectionWatch()
    try:
        with watch:
            starts = _concurrently(
                [lambda t=t: rest(web, "POST", f"/api/exam/timer/start/{exam.pk}/", token=t) for t in tokens]
            )
            assert {status for status, _ in starts} == {201}, starts
            attempts = [(body["attempt_id"], token) for (_, body), token in zip(starts, tokens, strict=True)]
            paths = [(f"/api/exam/timer/remaining/{a}/", t) for a, t in attempts]
            remaining = _concurrently(
                [lambda p=paths[n % STUDENTS]: rest(web, "GET", p[0], token=p[1])[0] for n in range(REQUESTS)]
            )
            after_requests = set(watch.seen)
            began = time.monotonic()
            firsts = asyncio.run(_first_frames(web, [attempts[n % STUDENTS] for n in range(SOCKET_CONNECTS)]))
            connect_seconds = time.monotonic() - began
        print(
            f"\n{STUDENTS} starts and {REQUESTS} requests: {len(after_requests)} connections; "
            f"then {SOCKET_CONNECTS} socket connects in {connect_seconds:.2f} s: {len(watch.seen)} connections "
            f"in all, at most {watch.most} at once (bound {CONNECTION_BOUND})"
        )
        assert set(remaining) == {200}
        assert set(firsts) == {"tick"}, firsts
        assert len(watch.seen) <= CONNECTION_BOUND and watch.most <= CONNECTION_BOUND, watch.seen

        # MariaDB drops every connection of the process (as a restart or wait_timeout would).
        log_before_kill = len(web.log())
        held = watch.current()
        assert held
        watch.kill(held)
        wait_until(lambda: not (watch.current() & held), timeout=10, what="the killed connections to go")
        after_kill = _concurrently([lambda p=p: rest(web, "GET", p[0], token=p[1])[0] for p in paths[:IN_FLIGHT]])
        firsts_after_kill = asyncio.run(_first_frames(web, attempts[:IN_FLIGHT]))
        new_log = web.log()[log_before_kill:]
        stale = [line for line in new_log.splitlines() if any(sign in line for sign in STALE_CONNECTION_SIGNS)]
        print(f"killed {len(held)} connections; then {after_kill.count(200)} of {len(after_kill)} requests 200")
        assert after_kill == [200] * IN_FLIGHT
        assert firsts_after_kill == ["tick"] * IN_FLIGHT
        assert stale == [], "\n".join(stale[:20])
    finally:
        watch.close()
