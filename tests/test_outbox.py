"""The outbox (realtime/outbox.py): events go out after commit, in order, off the committing thread, and
survive a channel-layer outage of a few seconds; a rolled-back transaction sends nothing."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.db import transaction

from attempts import events
from bench.network import free_port
from examsite.redis_pools import layer_host_options
from realtime.groups import attempt_group
from realtime.outbox import Outbox, outbox
from tests.helpers import wait_until
from tests.redis_server import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)  # real commits: on_commit runs

ATTEMPT_ID = 7
LAYER_DB = 2
RECEIVE_SECONDS = 15.0  # a message reaches the layer in milliseconds; this only bounds a failure
OUTAGE_SECONDS = 30.0  # bound on waiting for the sender to notice the outage (pool retries, ~2 s)
ROOT = Path(__file__).resolve().parent.parent


def saved(question_id: int) -> events.AnswerSaved:
    return events.AnswerSaved(
        attempt_id=ATTEMPT_ID,
        exam_id=3,
        status="ongoing",
        answered=question_id,
        question_id=question_id,
        selected_option="A",
    )


def commit(*batches: list[events.Event]) -> None:
    """One transaction per batch, each announcing its events on commit, as the services do."""
    for batch in batches:
        with transaction.atomic():
            events.announce_on_commit(batch)


def listen() -> str:
    """A channel in the attempt's group on the current layer."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(attempt_group(ATTEMPT_ID), channel)
    return channel


def received_question_ids(channel: str, count: int) -> list[int]:
    async def receive() -> list[int]:
        layer = get_channel_layer()
        return [
            (await asyncio.wait_for(layer.receive(channel), RECEIVE_SECONDS))["frame"]["question_id"]
            for _ in range(count)
        ]

    return async_to_sync(receive)()


def use_layer(settings, url: str, prefix: str) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, **layer_host_options()}], "prefix": prefix},
        }
    }
    channel_layers.backends.clear()


def test_events_go_out_after_commit_in_commit_order():
    channel = listen()
    # (Nothing reaches a subscriber, the outbox included, before the commit: tests/test_events.py.)
    commit([saved(1)], [saved(2)], [saved(3), saved(4)])

    assert received_question_ids(channel, 4) == [1, 2, 3, 4]


def test_a_rolled_back_transaction_sends_nothing():
    channel = listen()
    with pytest.raises(RuntimeError), transaction.atomic():
        events.announce_on_commit([saved(1)])
        raise RuntimeError("rolled back")
    commit([saved(2)])

    # In order: had the rolled-back event gone out, it would have come first.
    assert received_question_ids(channel, 1) == [2]


def test_events_committed_while_the_layers_redis_is_down_arrive_once_it_is_back(settings, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="realtime.outbox")
    # Kept on disk across the restart (append-only file), so the group membership survives it.
    durable = ("--appendonly", "yes", "--dir", str(tmp_path))
    server = PrivateRedis(extra_args=durable).start()
    try:
        use_layer(settings, server.url(LAYER_DB), prefix="outbox-outage")
        channel = listen()
        port = server.port
        server.process.terminate()
        server.process.wait(timeout=10)

        commit([saved(1)], [saved(2)], [saved(3)])  # each commit returns at once: only queued
        wait_until(
            lambda: "channel layer unreachable" in caplog.text, timeout=OUTAGE_SECONDS, what="the outbox's retries"
        )
        assert outbox().pending() == 3

        server.start(port=port)
        assert received_question_ids(channel, 3) == [1, 2, 3]
        wait_until(lambda: "reachable again" in caplog.text, timeout=RECEIVE_SECONDS, what="the outage's end logged")
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


def test_past_its_bound_the_outbox_drops_the_oldest_and_says_so(settings, caplog):
    caplog.set_level(logging.WARNING, logger="realtime.outbox")
    use_layer(settings, f"redis://127.0.0.1:{free_port()}/{LAYER_DB}", prefix="outbox-bound")  # nothing listens
    small = Outbox(limit=3)
    try:
        for question_id in range(1, 7):
            small.put([saved(question_id)])
        assert small.pending() <= 3 + 1  # the bound, plus the one batch the sender holds
        assert "outbox full" in caplog.text
    finally:
        small.discard()


def test_a_process_that_exits_right_after_its_commit_still_sends_its_events(settings):
    channel = listen()
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    script = (
        "import django; django.setup()\n"
        "from attempts import events\n"
        "from tests.test_outbox import saved\n"
        "events.announce([saved(1), saved(2)])\n"  # queued; the interpreter exits at once
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "examsite.settings", "CHANNEL_LAYER_PREFIX": prefix}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)

    assert received_question_ids(channel, 2) == [1, 2]


def test_a_discarded_outbox_gives_up_the_send_in_flight_too(settings):
    """A batch stuck on a layer that will not come back is given up at once, not after its ~10 s bound."""
    local = Outbox()
    working = get_channel_layer()
    channel = listen()
    # A "Redis" that takes the connection and never answers: the send hangs until its 10 s bound.
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        use_layer(settings, f"redis://127.0.0.1:{silent.getsockname()[1]}/{LAYER_DB}", prefix="outbox-dead")
        local.put([saved(1)])
        wait_until(lambda: local._sending is not None, timeout=5, what="the send in flight")
        local.discard()
        assert local.drain(timeout=2.0), "the discarded send was still in flight 2 s later"
    finally:
        silent.close()

    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"]}}
    channel_layers.backends.clear()
    channel_layers.backends["default"] = working  # the test's own layer again
    local.put([saved(2)])
    assert received_question_ids(channel, 1) == [2]


class _RefusingLayer:
    """A channel layer that refuses one message (its Redis gone for that one call) and takes the rest."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.sent: list[tuple[str, str]] = []

    async def group_send(self, group: str, message: dict) -> None:
        if message["name"] == self.refused:
            raise ConnectionError("refused")
        self.sent.append((group, message["name"]))


def test_a_groups_messages_stop_at_its_first_failure_so_a_retry_keeps_their_order():
    from realtime.publisher import send_all

    layer = _RefusingLayer(refused="a2")
    messages = [("a", {"name": "a1"}), ("a", {"name": "a2"}), ("b", {"name": "b1"}), ("a", {"name": "a3"})]
    outcomes = asyncio.run(send_all(messages, layer=layer))

    assert layer.sent == [("a", "a1"), ("b", "b1")] or layer.sent == [("b", "b1"), ("a", "a1")]
    assert [outcome is None for outcome in outcomes] == [True, False, True, False]  # a3 waits for a2's retry
