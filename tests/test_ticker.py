"""The per-process ticker: one Redis read a second for all sockets, and its safety nets."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from attempts import presence, timer
from realtime import held_caps
from realtime.ticker import get_ticker
from tests.factories import start_attempt
from tests.helpers import async_wait_until, set_deadline
from tests.redis_server import private_redis, unreachable_redis
from tests.wsclient import async_test, attempt_path, close_code, frame_of_type, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 25
SOCKETS_PER_ATTEMPT = 2  # two tabs each: still one PTTL per attempt per second
PASSES_MEASURED = 3
# A client's new connection or health check (the presence thread's first settle may open one in the window).
CONNECTION_SET_UP = {"cmdstat_hello", "cmdstat_select", "cmdstat_ping", "cmdstat_client|setinfo"}
# What the presence scripts run inside Redis (attempts/presence.py): counted there as their own commands.
PRESENCE_SCRIPT_COMMANDS = {
    f"cmdstat_{name}"
    for name in (
        "eval",
        "time",
        "hset",
        "hgetall",
        "hexists",
        "hlen",
        "scard",
        "sadd",
        "srem",
        "hdel",
        "smembers",
        "del",
    )
}
# The socket caps' repair (realtime/held_caps.py): every REWRITE_SECONDS a slice of at most REWRITE_SLICE of the
# process's caps (two per student socket) is written again from what it holds, one HGET each among them.
CAPS_REWRITE_COMMANDS = {f"cmdstat_{name}" for name in ("hget", "hset", "hdel", "pexpire", "sadd", "srem", "smembers")}
# The ticker's read: one script (attempts/timer.py) running the PTTLs inside Redis; EVAL and SCRIPT when Redis has
# not cached it yet.
TICKER_SCRIPT_COMMANDS = {"cmdstat_evalsha", "cmdstat_eval", "cmdstat_script"}


def _start_attempts(exam, count: int) -> list:
    # Users without a password: hashing 25 passwords would take seconds, and sockets need only tokens.
    users = [get_user_model().objects.create(username=f"ticker-student-{n}") for n in range(count)]
    return [start_attempt(user, exam) for user in users]


@async_test
async def test_one_redis_round_trip_per_second_for_all_sockets(exam, settings):
    with private_redis(settings) as server:  # commandstats of a server that only this test uses
        attempts = await database_sync_to_async(_start_attempts)(exam, ATTEMPTS)
        sockets = []
        for attempt in attempts:
            for _ in range(SOCKETS_PER_ATTEMPT):
                comm = await open_socket(attempt_path(attempt.pk), attempt.user)
                assert (await next_frame(comm))["type"] == "tick"
                sockets.append(comm)
        ticker = get_ticker()
        assert ticker.socket_count == ATTEMPTS * SOCKETS_PER_ATTEMPT

        # Start counting right after a pass, so that no pass straddles either end of the window.
        passes_before = ticker.passes
        await async_wait_until(lambda: ticker.passes > passes_before, timeout=3, what="a ticker pass")
        redis = server.client()
        redis.config_resetstat()
        passes_at_start, trips_at_start = ticker.passes, ticker.redis_round_trips
        await async_wait_until(
            lambda: ticker.passes >= passes_at_start + PASSES_MEASURED,
            timeout=PASSES_MEASURED + 2,
            what=f"{PASSES_MEASURED} ticker passes",
        )
        stats = redis.info("commandstats")
        passes = ticker.passes - passes_at_start
        round_trips = ticker.redis_round_trips - trips_at_start

        assert passes == PASSES_MEASURED
        assert round_trips == passes  # one read per second, whatever the number of sockets
        assert stats["cmdstat_pttl"]["calls"] == ATTEMPTS * passes  # one PTTL per attempt, not per socket
        others = {name for name in stats if not name.startswith(("cmdstat_pttl", "cmdstat_config", "cmdstat_info"))}
        # Besides the ticker, only the process's presence heartbeat (a script, its reaping script and the keep-alive
        # thread's refresh every HEARTBEAT_SECONDS, whatever the number of sockets) and the socket caps' repair, a
        # bounded slice every REWRITE_SECONDS: no per-socket reads each second, no writes of the ticker.
        assert (
            others <= PRESENCE_SCRIPT_COMMANDS | TICKER_SCRIPT_COMMANDS | CAPS_REWRITE_COMMANDS | CONNECTION_SET_UP
        ), stats
        rewrites_at_most = PASSES_MEASURED / held_caps.REWRITE_SECONDS + 1
        assert stats.get("cmdstat_hget", {"calls": 0})["calls"] <= held_caps.REWRITE_SLICE * rewrites_at_most
        assert stats["cmdstat_evalsha"]["calls"] == passes  # the one script call of each pass
        heartbeats_at_most = 3 * (PASSES_MEASURED / presence.HEARTBEAT_SECONDS + 2)
        assert stats.get("cmdstat_eval", {"calls": 0})["calls"] <= heartbeats_at_most < ATTEMPTS * SOCKETS_PER_ATTEMPT

        for comm in sockets:  # and every socket got every tick
            for _ in range(passes):
                assert (await frame_of_type(comm, "tick", timeout=1.0))["type"] == "tick"
        await asyncio.gather(*(comm.disconnect() for comm in sockets))


@async_test
async def test_the_loop_runs_only_while_sockets_are_connected(attempt, student):
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    ticker = get_ticker()
    assert ticker.running and ticker.socket_count == 1
    await comm.disconnect()
    assert ticker.socket_count == 0
    await async_wait_until(lambda: not ticker.running, timeout=2, what="the ticker loop to stop")

    again = await open_socket(attempt_path(attempt.pk), student)  # and starts again with the next socket
    await next_frame(again)
    assert ticker.running
    assert (await frame_of_type(again, "tick", timeout=2.0))["attempt_id"] == attempt.pk
    await again.disconnect()


@async_test
async def test_a_lost_timer_is_restored_once_and_the_countdown_goes_on(attempt, student, caplog):
    caplog.set_level(logging.WARNING, logger="attempts.clock")
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)

    await database_sync_to_async(timer.clear)(attempt.pk)  # as if Redis had been flushed
    await async_wait_until(
        database_sync_to_async(lambda: timer.remaining(attempt.pk) is not None), timeout=3, what="the timer restored"
    )
    tick = await frame_of_type(comm, "tick", timeout=2.0)
    assert 3590 <= tick["remaining_seconds"] <= 3600  # the student lost nothing
    lost = [r for r in caplog.records if "was lost" in r.getMessage()]
    assert len(lost) == 1, [r.getMessage() for r in lost]
    await comm.disconnect()


@async_test
async def test_with_redis_unreachable_ticks_come_from_the_deadline_and_resume_after(attempt, student, settings, caplog):
    caplog.set_level(logging.WARNING, logger="realtime.ticker")
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    with unreachable_redis(settings):
        during = [await frame_of_type(comm, "tick", timeout=2.0) for _ in range(2)]
    assert all(3590 <= frame["remaining_seconds"] <= 3600 for frame in during)
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    after = await frame_of_type(comm, "tick", timeout=2.0)
    assert after["remaining_seconds"] <= during[-1]["remaining_seconds"]
    await comm.disconnect()


@async_test
async def test_with_redis_unreachable_a_due_attempt_still_times_out(attempt, student, settings):
    await database_sync_to_async(set_deadline)(attempt, 1.5)
    comm = await open_socket(attempt_path(attempt.pk), student)
    await next_frame(comm)
    with unreachable_redis(settings):
        assert (await frame_of_type(comm, "timeout", timeout=4.0))["status"] == "timeout"
        assert await close_code(comm) == 4408
    await comm.disconnect()
