"""A process's socket caps written again in slices (`realtime.held_caps`): every cap repaired within a round.

Real Redis (the test's own key prefix); the slice is made small so that a handful of caps take several rewrites.
"""

from __future__ import annotations

import asyncio

import pytest

from attempts import socket_caps, timer
from realtime import held_caps
from realtime.presence import LocalPresence

PROCESS = "held-caps-test-process"


@pytest.fixture
def small_slices(monkeypatch):
    monkeypatch.setattr(held_caps, "REWRITE_SLICE", 2)


def test_every_cap_is_repaired_within_one_round_of_slices_and_a_stale_one_cleared(small_slices):
    caps = [[(socket_caps._key("attempt", n), 10)] for n in range(5)]
    stale = socket_caps._key("attempt", 99)

    async def scenario():
        held = held_caps.HeldCaps(PROCESS)
        for cap in caps:
            assert await held.admit(cap)
        # Each admit lists its caps in the process's set: a count whose admit was cancelled after Redis ran it
        # (never counted here) is found there by the next round and cleared.
        listed = await socket_caps.acaps_listed(PROCESS)
        await held.rewrite()
        await held.rewrite()
        await held.rewrite()
        client = timer.client()
        for cap in caps:  # what a failover or a lost reply leaves: every entry wrong
            client.hset(cap[0][0], PROCESS, 7)
        client.hset(stale, PROCESS, 3)  # a cap it holds nowhere, listed as if it did
        client.sadd(socket_caps._key("proc", PROCESS), stale)
        rounds = []
        for _ in range(3):  # 5 caps + the stale one, 2 per slice: one round
            await held.rewrite()
            rounds.append([client.hget(cap[0][0], PROCESS) for cap in caps] + [client.hget(stale, PROCESS)])
        return listed, rounds

    listed, rounds = asyncio.run(scenario())
    assert listed == {cap[0][0] for cap in caps}
    assert rounds[0] != ["1"] * 5 + [None]  # one slice does not repair all of them
    assert rounds[-1] == ["1"] * 5 + [None]


def test_a_fresh_process_first_socket_counts_for_the_others_before_its_heartbeat_would_have():
    """Admitted before its process's first heartbeat, a socket's count was taken by the next process's admit for
    a dead process's and dropped: one socket too many got in (a restarted daphne's reconnect storm)."""
    cap = [(socket_caps._key("attempt", 7), 1)]

    async def scenario():
        first, second = LocalPresence(), LocalPresence()  # two server processes, neither has beaten yet
        try:
            return await first.admit(cap), await second.admit(cap)
        finally:
            for local in (first, second):
                for task in (local._beating, local._settling, local._rewriting_caps):
                    if task is not None:
                        task.cancel()

    assert asyncio.run(scenario()) == (True, False)
