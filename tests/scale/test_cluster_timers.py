"""Timers on a real Redis Cluster of three primaries (REDIS_CLUSTER_NODES): keys spread over every node,
timeouts from every node within the bounds of tests/e2e/test_timeouts.py, with a socket and without,
expired events heard from every primary, and the ticker's read once per node per second.

The nodes start with expired-key events off: the expiry worker must turn them on, on each one.
"""

from __future__ import annotations

import asyncio
import collections
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from attempts import redis_cluster, timer
from attempts.models import Attempt
from tests.e2e.clients import FRAME_TIMEOUT, attempt_path, open_socket
from tests.e2e.test_timeouts import CONNECTED_BOUND_SECONDS, UNCONNECTED_BOUND_SECONDS
from tests.factories import access_token_for, make_exam
from tests.faults.bulk import bulk_attempts, bulk_users
from tests.helpers import set_deadline, wait_until

pytestmark = [pytest.mark.scale, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ATTEMPTS = 1000  # the load: timers that must spread over every primary
# Of 1,000 keys over three primaries (~333 each, sd ~15), each holds far more than this.
FAIR_SHARE = 250
PER_NODE = 2  # attempts per primary due in the test, for each of: connected, not connected
DUE_IN_SECONDS = 4.0  # time for the sockets to connect and tick before the deadline


def _by_node(attempts: list[Attempt]) -> dict[str, list[Attempt]]:
    grouped: dict[str, list[Attempt]] = collections.defaultdict(list)
    for attempt in attempts:
        grouped[redis_cluster.node_of(timer.client(), timer.key_for(attempt.pk))].append(attempt)
    return grouped


def _keys_on(nodes, name: str, prefix: str) -> int:
    """Timer keys of this test that the node itself holds (not what the client's slot map says)."""
    keys = nodes.client(name).scan_iter(match=f"{prefix}*", count=1000)
    return sum(1 for key in keys if key[len(prefix) :].isdigit())


def _flags_on(nodes, name: str) -> str:
    return nodes.client(name).config_get("notify-keyspace-events")["notify-keyspace-events"]


def test_1000_timers_spread_and_time_out_from_every_node_connected_or_not(timers_on_cluster, cluster, settings):
    nodes = timers_on_cluster(primaries=3)
    exam = make_exam(questions=2, duration_minutes=60)
    users = bulk_users(ATTEMPTS, tag="cluster")
    attempts = bulk_attempts(exam, users, deadline_at=timezone.now() + timedelta(hours=1))

    primaries = nodes.primaries()
    counts = {name: _keys_on(nodes, name, settings.TIMER_KEY_PREFIX) for name in primaries}
    print(f"\n{ATTEMPTS} timer keys per primary: {counts}")
    assert len(primaries) == 3
    assert sum(counts.values()) == ATTEMPTS
    assert min(counts.values()) >= FAIR_SHARE

    assert all(_flags_on(nodes, name) == "" for name in nodes.names)
    cluster.start_workers(2)
    # The nodes started with the events off; the workers turned them on, on every one (and /healthz says ok).
    assert all("E" in _flags_on(nodes, name) and "x" in _flags_on(nodes, name) for name in nodes.names)
    web_a, web_b = cluster.start_webs(2)

    grouped = _by_node(attempts)
    connected = [a for name in primaries for a in grouped[name][:PER_NODE]]
    unconnected = [a for name in primaries for a in grouped[name][PER_NODE : 2 * PER_NODE]]
    for attempt in connected + unconnected:
        set_deadline(attempt, DUE_IN_SECONDS)
    deadlines = {a.pk: a.deadline_at.timestamp() for a in connected + unconnected}
    tokens = {a.pk: access_token_for(a.user) for a in connected}

    async def sockets_until_timeout():
        sockets = {}
        for index, attempt in enumerate(connected):
            web = (web_a, web_b)[index % 2]
            sockets[attempt.pk] = await open_socket(web, attempt_path(attempt.pk), token=tokens[attempt.pk])
        for socket in sockets.values():
            await socket.until("tick")
        ends = await asyncio.gather(
            *(socket.until("timeout", timeout=DUE_IN_SECONDS + FRAME_TIMEOUT) for socket in sockets.values())
        )
        return {pk: end.at for pk, end in zip(sockets, ends, strict=True)}

    timeout_frames = asyncio.run(sockets_until_timeout())

    # No socket: only the database is polled (reading a key would make its node expire it on time).
    ids = [a.pk for a in unconnected]
    seen_at: dict[int, float] = {}

    def all_timed_out():
        for pk in Attempt.objects.filter(pk__in=ids, status=Attempt.Status.TIMEOUT).values_list("pk", flat=True):
            seen_at.setdefault(pk, time.time())
        return len(seen_at) == len(ids)

    wait_until(all_timed_out, timeout=DUE_IN_SECONDS + UNCONNECTED_BOUND_SECONDS + 3, interval=0.02, what="timeouts")

    late = {pk: at - deadlines[pk] for pk, at in {**timeout_frames, **seen_at}.items()}
    node_of = {a.pk: name for name, group in grouped.items() for a in group}
    for pk, seconds in sorted(late.items(), key=lambda item: node_of[item[0]]):
        kind = "socket" if pk in timeout_frames else "no socket"
        print(f"attempt {pk} on {node_of[pk]} ({kind}): deadline -> timeout {seconds * 1000:.0f} ms")
    assert all(0 <= late[pk] <= CONNECTED_BOUND_SECONDS for pk in timeout_frames)
    assert all(late[pk] <= UNCONNECTED_BOUND_SECONDS for pk in seen_at)
    assert {node_of[pk] for pk in late} == set(primaries)  # every node's attempts ended
    # Exactly once each, and the other 988 attempts keep their time.
    lines = cluster.expiry_lines()
    expired = collections.Counter(int(re.search(r"expired attempt=(\d+)", line).group(1)) for line in lines)
    assert all(expired[pk] <= 1 for pk in late)
    others = [a.pk for a in attempts if a.pk not in late]
    assert Attempt.objects.filter(pk__in=others, status=Attempt.Status.ONGOING).count() == len(others)
    left = timer.remaining_many(others)
    assert all(seconds is not None and seconds > 3500 for seconds in left.values())


def test_expired_events_heard_from_every_primary(timers_on_cluster, workers, expiry_log):
    nodes = timers_on_cluster(primaries=3)
    exam = make_exam(questions=2, duration_minutes=60)
    attempts = bulk_attempts(exam, bulk_users(30, tag="events"), deadline_at=timezone.now() + timedelta(hours=1))
    # No sweep for a minute and none at the deadlines: only each node's own event can end its attempts in time.
    workers.start(sweep_interval=60, follow_deadlines=False)
    wait_until(lambda: any("expiry worker ready" in line for line in expiry_log()), timeout=10, what="the worker")
    grouped = _by_node(attempts)
    due = [group[0] for group in grouped.values()]
    assert len(due) == 3
    for attempt in due:
        set_deadline(attempt, 1.0)

    def all_expired():
        for attempt in due:
            timer.remaining(attempt.pk)  # a reader, like a socket's ticker: its node deletes the key now
        return Attempt.objects.filter(pk__in=[a.pk for a in due], status=Attempt.Status.TIMEOUT).count() == len(due)

    wait_until(all_expired, timeout=5, what="one attempt per node to time out")
    paths = {
        pk: line.rsplit("path=", 1)[1]
        for line in expiry_log()
        if (m := re.search(r"expired attempt=(\d+) ", line)) and (pk := int(m.group(1)))
    }
    assert {paths[a.pk] for a in due} == {"notification"}
    assert {name for name in nodes.primaries()} == set(grouped)


def test_ticker_reads_once_per_node_per_second(timers_on_cluster, cluster):
    nodes = timers_on_cluster(primaries=3)
    exam = make_exam(questions=2, duration_minutes=60)
    attempts = bulk_attempts(exam, bulk_users(30, tag="ticks"), deadline_at=timezone.now() + timedelta(hours=1))
    cluster.start_worker()  # turns the nodes' events on: /healthz answers 200 only then
    web = cluster.start_web()
    primaries = nodes.primaries()
    assert set(_by_node(attempts)) == set(primaries)  # every node holds some of the sockets' timers
    tokens = [access_token_for(a.user) for a in attempts]

    def reads() -> dict[str, int]:
        stats = {name: nodes.client(name).info("commandstats") for name in primaries}
        return {name: stat.get("cmdstat_evalsha", {}).get("calls", 0) for name, stat in stats.items()}

    async def scenario():
        sockets = [
            await open_socket(web, attempt_path(a.pk), token=token) for a, token in zip(attempts, tokens, strict=True)
        ]
        for socket in sockets:
            await socket.until("tick")
        await sockets[0].until("tick")  # a whole pass with every socket registered
        before, ticks_before = reads(), len(sockets[0].frames("tick"))
        for _ in range(5):
            await sockets[0].until("tick")
        after, passes = reads(), len(sockets[0].frames("tick")) - ticks_before
        for socket in sockets:
            await socket.close()
        return before, after, passes

    before, after, passes = asyncio.run(scenario())
    per_node = {name: after[name] - before[name] for name in primaries}
    print(f"\n{passes} ticks on one socket; the ticker's reads per primary meanwhile: {per_node}")
    # One read per node per pass; the window's edges may catch one more or one fewer.
    assert all(passes - 1 <= calls <= passes + 1 for calls in per_node.values()), per_node
