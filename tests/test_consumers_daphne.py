"""Close codes that only a real daphne can break: 1009 and 1008 must reach the client as such.

autobahn, under daphne, refuses application close codes outside 1000 and 3000-4999; without
`realtime.daphne_close_codes` these closes became a crash and a 1011.
"""

from __future__ import annotations

import asyncio

import pytest

from attempts import services
from tests.e2e.clients import attempt_path, open_socket
from tests.e2e.servers import ARTIFACTS, Cluster
from tests.factories import access_token_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(transactional_db, timer_prefix, channel_layer_prefix):
    """One daphne process on this test's database, Redis prefixes and channel layer."""
    cluster = Cluster(artifacts_dir=ARTIFACTS / "test_consumers_daphne")
    try:
        (server,) = cluster.start_webs(1)
        yield server
    finally:
        cluster.stop_all()


def test_over_4_kib_closes_1009_and_a_flood_closes_1008_under_daphne(web, exam, student):
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)

    async def scenario():
        big = await open_socket(web, attempt_path(attempt.pk), token=token)
        assert (await big.next()).frame["type"] == "tick"
        await big.connection.send('{"type": "ping", "pad": "' + "x" * 4096 + '"}')
        oversize_code = await big.closed()

        flood = await open_socket(web, attempt_path(attempt.pk), token=token)
        assert (await flood.next()).frame["type"] == "tick"
        for _ in range(40):
            await flood.connection.send('{"type": "ping"}')
        flood_code = await flood.closed()
        return oversize_code, flood_code, flood.frames("pong")

    oversize_code, flood_code, pongs = asyncio.run(scenario())
    assert oversize_code == 1009
    assert flood_code == 1008
    assert len(pongs) == 20
    assert "Traceback" not in web.log()


def test_ticks_under_daphne_go_straight_to_its_protocol_and_arrive_as_json_text(web, exam, student):
    # realtime/fast_send.py: under daphne the ticker frames each tick itself and writes it to the socket; the
    # client must see the very frames the ASGI path sends, second after second.
    attempt = services.attempt_start(user=student, exam_id=exam.pk).attempt
    token = access_token_for(student)

    async def scenario():
        socket = await open_socket(web, attempt_path(attempt.pk), token=token)
        ticks = [(await socket.next()).frame for _ in range(4)]
        await socket.connection.send('{"type": "ping"}')  # a consumer's own frame, between two ticks
        while (received := await socket.next()).frame["type"] != "pong":
            ticks.append(received.frame)
        await socket.connection.close()
        return ticks

    ticks = asyncio.run(scenario())
    assert [tick["type"] for tick in ticks] == ["tick"] * len(ticks)
    assert all(
        set(tick) == {"type", "attempt_id", "status", "remaining_seconds", "remaining_ms", "deadline_at"}
        for tick in ticks
    )
    seconds = [tick["remaining_seconds"] for tick in ticks]
    assert seconds == sorted(seconds, reverse=True) and seconds[0] - seconds[-1] >= 2
    assert "ticks are written to daphne's WebSocket protocol directly" in web.log()
    assert "Traceback" not in web.log()
