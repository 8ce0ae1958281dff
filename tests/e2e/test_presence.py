"""Presence end to end: two real daphne processes, an expiry worker, a proctor socket watching.

The promise (docs/websocket.md, "presence"): a proctor learns within 3 s that a student's page
connected or went away, across processes, also when the process holding the page's socket
is SIGKILLed and says nothing. Latencies are printed (run with `-s`).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from attempts import presence, services, timer
from attempts.models import Attempt, AttemptEvent
from tests.e2e.clients import Socket, attempt_path, open_socket, proctor_path
from tests.factories import access_token_for, make_exam, make_user
from tests.faults.sockets import until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PRESENCE_BOUND_SECONDS = 3.0


async def presence_of(proctor: Socket, attempt_id: int, *, connected: bool, timeout: float) -> tuple[float, dict]:
    """The next `presence` frame of the attempt saying `connected`: (arrival, frame); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        item = await proctor.until("presence", timeout=max(0.01, deadline - time.monotonic()))
        if item.frame["attempt_id"] == attempt_id and item.frame["connected"] is connected:
            return item.at, item.frame


def trail(attempt_id: int) -> list[tuple[str, dict]]:
    rows = AttemptEvent.objects.filter(attempt_id=attempt_id, kind__in=["connected", "disconnected"]).order_by("pk")
    return [(row.kind, row.data) for row in rows]


def test_presence_follows_a_page_across_two_processes_and_a_sigkilled_one(cluster, student):
    exam = make_exam(questions=2, duration_minutes=60)
    proctor_user = make_user(is_staff=True)
    web_a, web_b = cluster.start_webs(2)
    cluster.start_workers(1)
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    proctor_token = access_token_for(proctor_user)

    async def scenario():
        proctor = await open_socket(web_a, proctor_path(exam.pk), token=proctor_token)
        snapshot = (await proctor.until("snapshot")).frame
        # 1. The page opens on web B: connected, told through the proctor socket on web A.
        opened = time.time()
        page = await open_socket(web_b, attempt_path(attempt.pk), token=token)
        await page.until("tick")
        connected_at, connected = await presence_of(proctor, attempt.pk, connected=True, timeout=5)
        # 2. A second tab on web A, then the first closes: still connected (no frame saying otherwise).
        tab = await open_socket(web_a, attempt_path(attempt.pk), token=token)
        await tab.until("tick")
        await page.close()
        # 3. The last tab closes: offline.
        closed = time.time()
        await tab.close()
        gone_at, gone = await presence_of(proctor, attempt.pk, connected=False, timeout=5)
        # 4. The page comes back on web B, and web B is SIGKILLed under it.
        back = await open_socket(web_b, attempt_path(attempt.pk), token=token)
        await back.until("tick")
        back_at, _ = await presence_of(proctor, attempt.pk, connected=True, timeout=5)
        await asyncio.to_thread(web_b.kill)
        killed = time.time()
        dead_at, dead = await presence_of(proctor, attempt.pk, connected=False, timeout=5)
        return snapshot, opened, connected_at, connected, closed, gone_at, gone, back_at, killed, dead_at, dead, proctor

    snapshot, opened, connected_at, connected, closed, gone_at, gone, back_at, killed, dead_at, dead, proctor = (
        asyncio.run(scenario())
    )

    print(
        f"\npresence latency: connect {connected_at - opened:.3f} s, close {gone_at - closed:.3f} s, "
        f"SIGKILL {dead_at - killed:.3f} s"
    )
    [row] = snapshot["attempts"]
    assert (row["connected"], row["offline_since"] is not None) == (False, True)  # offline since its start
    assert connected_at - opened < PRESENCE_BOUND_SECONDS
    assert connected["offline_since"] is None
    assert gone_at - closed < PRESENCE_BOUND_SECONDS
    assert gone["offline_since"] is not None
    assert dead_at - killed < PRESENCE_BOUND_SECONDS
    # Exactly one disconnect between the first connect and the reconnect: the closing first tab said nothing.
    frames = [f for f in proctor.frames("presence") if f["attempt_id"] == attempt.pk]
    assert [f["connected"] for f in frames] == [True, False, True, False]
    assert trail(attempt.pk) == [
        ("connected", {"offline_seconds": pytest.approx(connected_at - attempt.started_at.timestamp(), abs=1)}),
        ("disconnected", {"reason": "closed"}),
        ("connected", {"offline_seconds": pytest.approx(back_at - gone_at, abs=1)}),
        ("disconnected", {"reason": "server_gone"}),
    ]
    stored = Attempt.objects.get(pk=attempt.pk)
    # Offline since the dead process's last heartbeat, which came before the kill.
    assert killed - 1.0 <= stored.presence_changed_at.timestamp() <= killed
    assert stored.offline_ms // 1000 <= dead["offline_seconds"] <= stored.offline_ms // 1000 + PRESENCE_BOUND_SECONDS


def test_a_registry_that_lost_a_process_s_sockets_is_written_again_by_that_process(cluster, student):
    """Redis restored from an old snapshot, or a process reaped while alive: the process repairs it by itself."""
    exam = make_exam(questions=2, duration_minutes=60)
    web = cluster.start_web()
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)
    client = timer.client()

    async def scenario():
        page = await open_socket(web, attempt_path(attempt.pk), token=token)
        await page.until("tick")
        await until(lambda: presence.connected_many([attempt.pk])[attempt.pk], 5, "the page in the registry")
        # The attempt's entry and the process's set gone, the process still known (an old snapshot).
        lost_at = time.monotonic()
        client.delete(presence.attempt_key(attempt.pk), *client.keys(presence.proc_key("*")))
        await until(lambda: presence.connected_many([attempt.pk])[attempt.pk], 3, "the entry written again")
        snapshot_repair = time.monotonic() - lost_at
        # The process reaped while alive: it learns so on its next heartbeat.
        reaped_at = time.monotonic()
        client.delete(presence.procs_key(), presence.attempt_key(attempt.pk))
        await until(lambda: presence.connected_many([attempt.pk])[attempt.pk], 3, "the process written again")
        reaped_repair = time.monotonic() - reaped_at
        await page.close()
        return snapshot_repair, reaped_repair

    snapshot_repair, reaped_repair = asyncio.run(scenario())

    print(
        f"\nregistry repaired after {snapshot_repair:.3f} s (old snapshot), {reaped_repair:.3f} s (reaped while alive)"
    )
    assert snapshot_repair < 2 * presence.HEARTBEAT_SECONDS + 0.5
    assert reaped_repair < 2 * presence.HEARTBEAT_SECONDS + 0.5
